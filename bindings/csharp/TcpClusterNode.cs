// TcpClusterNode.cs — joins a TcpServer to servers in other processes and machines through
// Redis, on the cluster library (libtcpcluster.so, tcpcluster.h; raw layer TcpClusterNative.g.cs).
//
// A node gives its server a broadcast that reaches every link of every node, sends to a link on
// any node by (node id, link id), topics raised as the Topic event on every node, and presence
// keys (a name held by one link; send to the name wherever it is). Delivery to other nodes is at
// most once: what was lost is counted (GetCounter: QueueDropped, DownDropped, Gaps, ...) and
// reported (Gap, SendFailed); local delivery happens in the call and never waits for Redis.
// The link to Redis is not encrypted: run Redis on a private network.
//
// The node sits between the engine and the server's events (it removes a closed link's keys),
// so it is made while the server is stopped; the server's events work as before. The library
// exists on Linux only: elsewhere the constructor throws DllNotFoundException saying so.
// Threads: any method from any thread (event handlers included) but Start, Stop and Dispose
// from the node's own events; the node's events run on the library's threads.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using Native = TcpServerLib.TcpClusterNative;

namespace TcpServerLib
{
    /// <summary>A cluster node for one TcpServer, through Redis. Dispose it (it stops its server
    /// first, whose events go through the node).</summary>
    public sealed class TcpClusterNode : IDisposable
    {
        // One set of cluster callbacks for every node; the Context is the node's GCHandle.
        static readonly TOnClusterTopic s_topicProc = OnTopic;
        static readonly TOnClusterSendFailed s_sendFailedProc = OnSendFailed;
        static readonly TOnClusterGap s_gapProc = OnGap;
        static readonly TOnClusterState s_stateProc = OnState;

        const string WhyMissing =
            "the tcpserver cluster library (libtcpcluster.so) could not be loaded. It exists on Linux " +
            "only: it is built with tcpserver where hiredis is found (Debian: libhiredis-dev); there is " +
            "no Windows build (Debian ships no hiredis for mingw). Put it beside libtcpserver.so or on " +
            "the loader's path (LD_LIBRARY_PATH)";

        readonly object gate = new object();  // Dispose against itself (Start/Stop: the library's own lock)
        readonly TcpServer server;
        IntPtr node;        // TcpClusterNode*; zero once disposed
        GCHandle self;      // strong until Dispose: the library may call back until then
        ulong id;

        /// <summary>A stopped node for server (stopped too). redisUrl:
        /// redis://[[user]:password@]host[:port][/db]. keyPrefix: the start of every Redis key and
        /// channel (nodes with the same prefix form one cluster; null = "tcpcluster:"). nodeName:
        /// free text stored in the node's liveness key. Throws TcpClusterException (BadUrl,
        /// ServerRunning, ...) or DllNotFoundException where the library is missing.</summary>
        public TcpClusterNode(TcpServer server, string redisUrl, string keyPrefix = null, string nodeName = null)
        {
            if (server == null) throw new ArgumentNullException("server");
            if (redisUrl == null) throw new ArgumentNullException("redisUrl");
            IntPtr handle = server.Handle;
            if (handle == IntPtr.Zero) throw new ObjectDisposedException("TcpServer");
            this.server = server;
            CheckLibrary();
            self = GCHandle.Alloc(this);
            node = Native.TcpClusterCreate(handle, TcpServerNative.Utf8z(redisUrl), TcpServerNative.Utf8z(keyPrefix),
                                           TcpServerNative.Utf8z(nodeName), GCHandle.ToIntPtr(self));
            if (node == IntPtr.Zero)
            {
                var error = TcpClusterException.Last("create a cluster node");
                self.Free();
                throw error;
            }
            // From now on the server's events go through the node: it records each link and
            // removes a closed link's keys, then calls the server's own callbacks.
            if (Native.TcpClusterSetEventProc(node, TcpServer.s_receiveProc, TcpServer.s_disconnectProc, TcpServer.s_idleProc,
                                              TcpServer.s_threadCreateProc, TcpServer.s_threadCreateProc) == 0 ||
                Native.TcpClusterSetConnectProc(node, TcpServer.s_connectProc) == 0 ||
                Native.TcpClusterSetClusterProc(node, s_topicProc, s_sendFailedProc, s_gapProc, s_stateProc) == 0)
            {
                var error = TcpClusterException.Last("set up a cluster node");
                Native.TcpClusterDestroy(node);
                node = IntPtr.Zero;
                self.Free();
                throw error;
            }
            id = Native.TcpClusterGetNodeId(node);
        }

        /// <summary>Loads the library now (the first call does) and checks its major version;
        /// throws DllNotFoundException saying why it is missing.</summary>
        static void CheckLibrary()
        {
            int version;
            try
            {
                version = Native.TcpClusterGetVersion();
            }
            catch (DllNotFoundException ex)
            {
                throw new DllNotFoundException(WhyMissing + " (" + ex.Message + ")", ex);
            }
            catch (EntryPointNotFoundException ex)
            {
                throw new DllNotFoundException("the library loaded as 'tcpcluster' is not the tcpserver cluster library", ex);
            }
            if (version / 10000 != Native.TCPCLUSTER_VERSION_MAJOR)
                throw new DllNotFoundException(string.Format(
                    "the cluster library is version {0}.{1}.{2}; this binding needs {3}.x",
                    version / 10000, version / 100 % 100, version % 100, Native.TCPCLUSTER_VERSION_MAJOR));
        }

        /// <summary>TCPCLUSTER_VERSION_NUMBER of the loaded cluster library.</summary>
        public static int LibraryVersion { get { CheckLibrary(); return Native.TcpClusterGetVersion(); } }

        // ---- events (on the library's threads; an exception is logged through the server's Log) ----

        /// <summary>A message published on a topic by any node (this one's own inside its Publish
        /// call). Runs on the subscribing thread: a handler that blocks stalls the node's whole
        /// subscription.</summary>
        public event EventHandler<ClusterTopicEventArgs> Topic;
        /// <summary>A SendToLink / SendToKey failed after its call returned.</summary>
        public event EventHandler<ClusterSendFailedEventArgs> SendFailed;
        /// <summary>Messages from a node never arrived here.</summary>
        public event EventHandler<ClusterGapEventArgs> Gap;
        /// <summary>The node connected, lost Redis, reconnects, stopped.</summary>
        public event EventHandler<ClusterStateEventArgs> StateChanged;

        // ---- lifecycle ---------------------------------------------------------------------------

        IntPtr LiveNode
        {
            get
            {
                IntPtr n = node;
                if (n == IntPtr.Zero) throw new ObjectDisposedException("TcpClusterNode");
                return n;
            }
        }

        /// <summary>Start the node's threads; they connect to Redis in the background (Start
        /// succeeds while Redis is down: StateChanged reports, the node keeps trying). A start
        /// after a stop draws a new Id. Start the server before or after, as you like.</summary>
        public void Start()
        {
            IntPtr n = LiveNode;
            if (Native.TcpClusterStart(n) == 0) throw TcpClusterException.Last("start");
            id = Native.TcpClusterGetNodeId(n);
        }

        /// <summary>Publish what is queued (for at most ReplyTimeoutMs), delete the node's keys in
        /// Redis, disconnect, join its threads. Local delivery goes on; remote parts are then
        /// dropped and counted (DownDropped). Idempotent.</summary>
        public void Stop()
        {
            IntPtr n = node;
            if (n != IntPtr.Zero && Native.TcpClusterStop(n) == 0) throw TcpClusterException.Last("stop");
        }

        /// <summary>Stops the node, then its server (whose events go through the node), and frees
        /// the node: the server gets its own callbacks back and can start again without it.</summary>
        public void Dispose()
        {
            if (node == IntPtr.Zero) return;
            Stop();
            server.Stop();
            lock (gate)
            {
                if (node == IntPtr.Zero) return;  // another thread's Dispose won
                if (Native.TcpClusterDestroy(node) == 0) throw TcpClusterException.Last("dispose");
                node = IntPtr.Zero;
                self.Free();
            }
        }

        /// <summary>The node's id: 64 random bits, never 0, never repeated (a new one at each
        /// start after a stop). Other nodes address this node's links with it.</summary>
        public ulong Id { get { return id; } }

        public TcpClusterState State
        {
            get
            {
                int state = Native.TcpClusterGetState(LiveNode);
                if (state < 0) throw TcpClusterException.Last("state");
                return (TcpClusterState)state;
            }
        }

        /// <summary>The server this node joins to the cluster.</summary>
        public TcpServer Server { get { return server; } }

        // ---- options (while the node is stopped) ---------------------------------------------------

        public long GetOption(TcpClusterOption option)
        {
            long value = Native.TcpClusterGetOption(LiveNode, (int)option);
            if (value < 0) throw TcpClusterException.Last("option " + option);
            return value;
        }

        public void SetOption(TcpClusterOption option, long value)
        {
            if (Native.TcpClusterSetOption(LiveNode, (int)option, value) == 0)
                throw TcpClusterException.Last(string.Format("option {0}={1}", option, value));
        }

        // ---- messages (any thread; none waits on Redis) --------------------------------------------

        /// <summary>data (1 byte .. MaxMessage) to every open link of every node, but link
        /// exceptLinkId of this node (0 = none). Local links get it in the call; returns how many.
        /// A remote part that cannot be queued is counted (QueueDropped, DownDropped), not an
        /// error.</summary>
        public int Broadcast(byte[] data, ulong exceptLinkId = 0) { return Broadcast(data, 0, Link.Checked(data).Length, exceptLinkId); }
        public unsafe int Broadcast(byte[] data, int offset, int count, ulong exceptLinkId = 0)
        {
            Link.CheckRange(data, offset, count);
            int links;
            fixed (byte* bytes = data)
                links = Native.TcpClusterBroadcast(LiveNode, (IntPtr)(bytes + offset), count, exceptLinkId);
            if (links < 0) throw TcpClusterException.Last("broadcast");
            return links;
        }

        /// <summary>data to link linkId of node nodeId (this node's own: at once). Throws when the
        /// failure is known in the call (LinkClosed for a local link, QueueFull, BrokerDown,
        /// TooLarge); one found later raises SendFailed with tag.</summary>
        public unsafe void SendToLink(ulong nodeId, ulong linkId, byte[] data, ulong tag = 0)
        {
            Link.Checked(data);
            fixed (byte* bytes = data)
                if (Native.TcpClusterSendToLink(LiveNode, nodeId, linkId, (IntPtr)bytes, data.Length, tag) == 0)
                    throw TcpClusterException.Last(string.Format("send to link {0} of node {1}", linkId, nodeId));
        }

        /// <summary>data (may be empty) to the Topic event of every node, this one included (at
        /// once, on this thread). topic: 1..255 bytes of UTF-8.</summary>
        public unsafe void Publish(string topic, byte[] data)
        {
            Link.Checked(data);
            fixed (byte* bytes = data)
                if (Native.TcpClusterPublish(LiveNode, TcpServerNative.Utf8z(topic), (IntPtr)bytes, data.Length) == 0)
                    throw TcpClusterException.Last("publish on " + topic);
        }

        // ---- presence ------------------------------------------------------------------------------

        /// <summary>Link linkId (open, on this node's server) holds key (1..255 bytes of UTF-8) in
        /// the whole cluster; the last set anywhere wins. It goes when the link closes.</summary>
        public void SetKey(ulong linkId, string key)
        {
            if (Native.TcpClusterSetKey(LiveNode, linkId, TcpServerNative.Utf8z(key)) == 0)
                throw TcpClusterException.Last("set key " + key);
        }

        /// <summary>This node gives key up; throws (KeyNotHeld) if it does not hold it.</summary>
        public void ClearKey(string key)
        {
            if (Native.TcpClusterClearKey(LiveNode, TcpServerNative.Utf8z(key)) == 0)
                throw TcpClusterException.Last("clear key " + key);
        }

        /// <summary>data to the link that holds key, wherever it is. Failures as SendToLink (a key
        /// no link holds raises SendFailed, reason NoSuchKey).</summary>
        public unsafe void SendToKey(string key, byte[] data, ulong tag = 0)
        {
            Link.Checked(data);
            fixed (byte* bytes = data)
                if (Native.TcpClusterSendToKey(LiveNode, TcpServerNative.Utf8z(key), (IntPtr)bytes, data.Length, tag) == 0)
                    throw TcpClusterException.Last("send to key " + key);
        }

        // ---- counters ------------------------------------------------------------------------------

        /// <summary>A total since the node was made (Published, Received, QueueDropped,
        /// DownDropped, Unconfirmed, Gaps, SendFailed, ...) or a "now" figure (QueueLength, Keys,
        /// State).</summary>
        public long GetCounter(TcpClusterCounter counter)
        {
            long value = Native.TcpClusterGetCounter(LiveNode, (int)counter);
            if (value < 0) throw TcpClusterException.Last("counter " + counter);
            return value;
        }

        /// <summary>Every counter, read one after another.</summary>
        public Dictionary<TcpClusterCounter, long> GetCounters()
        {
            var result = new Dictionary<TcpClusterCounter, long>();
            foreach (TcpClusterCounter counter in Enum.GetValues(typeof(TcpClusterCounter)))
                result[counter] = GetCounter(counter);
            return result;
        }

        // ---- trampolines: the library calls these; nothing may unwind out of them -----------------

        static TcpClusterNode FromContext(IntPtr context)
        {
            return context == IntPtr.Zero ? null : GCHandle.FromIntPtr(context).Target as TcpClusterNode;
        }

        void Raise<T>(EventHandler<T> handler, string name, Func<T> args) where T : EventArgs
        {
            if (handler == null) return;
            try
            {
                handler(this, args());
            }
            catch (Exception ex)
            {
                server.Report(TcpLogLevel.Error, string.Format("the cluster node's {0} handler threw; the node goes on: {1}", name, ex));
            }
        }

        static unsafe void OnTopic(IntPtr context, IntPtr topic, ulong publisher, IntPtr data, int len)
        {
            var node = FromContext(context);
            if (node == null) return;
            node.Raise(node.Topic, "Topic", () =>
            {
                var copy = new byte[len];
                if (len > 0) Marshal.Copy(data, copy, 0, len);
                return new ClusterTopicEventArgs(TcpServerNative.PtrToUtf8(topic), publisher, copy);
            });
        }

        static void OnSendFailed(IntPtr context, ulong tag, int reason, ulong target, ulong linkId, IntPtr key, IntPtr text)
        {
            var node = FromContext(context);
            if (node == null) return;
            node.Raise(node.SendFailed, "SendFailed", () => new ClusterSendFailedEventArgs(
                tag, (TcpClusterSendFailure)reason, target, linkId, TcpServerNative.PtrToUtf8(key) ?? "",
                TcpServerNative.PtrToUtf8(text) ?? ""));
        }

        static void OnGap(IntPtr context, ulong publisher, int channel, long missed)
        {
            var node = FromContext(context);
            if (node == null) return;
            node.Raise(node.Gap, "Gap", () => new ClusterGapEventArgs(publisher, (TcpClusterChannel)channel, missed));
        }

        static void OnState(IntPtr context, int state, IntPtr text)
        {
            var node = FromContext(context);
            if (node == null) return;
            node.Raise(node.StateChanged, "StateChanged",
                       () => new ClusterStateEventArgs((TcpClusterState)state, TcpServerNative.PtrToUtf8(text) ?? ""));
        }
    }
}
