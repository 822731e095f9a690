// TcpServer.cs — the idiomatic .NET face of the tcpserver engine.
//
// Each TcpServer owns one engine server of its own (CreateTcpServer, the handle-based family),
// so any number of them can run at once, each with its options, links, pool and threads. The
// engine calls one static set of callbacks for all of them; the Context pointer it passes back
// is a GCHandle of the TcpServer object, which routes the event to it.
using System;
using System.Collections.Generic;
using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using System.Threading;
using N = TcpServerLib.TcpServerNative;

namespace TcpServerLib
{
    /// <summary>A snapshot of one server's statistics and counters (TcpServer.GetStats), the
    /// per-server forms of the flat API's GetLink* / GetIOMem* / GetServerExec* figures.</summary>
    public sealed class TcpServerStats
    {
        public int Links { get; internal set; }            // open links
        public int LinkFree { get; internal set; }         // free link slots
        public double LinkUse { get; internal set; }       // % of the link slots in use
        public long LinkSize { get; internal set; }        // bytes of the link table
        public int IoMemFree { get; internal set; }        // free IO buffers
        public double IoMemUse { get; internal set; }      // % of the pool in use
        public long IoMemSize { get; internal set; }       // bytes of the IO pool
        public int Workers { get; internal set; }
        public uint ServerExecLong { get; internal set; }  // ms the service thread's last pass took
        public int ServerExecCount { get; internal set; }  // service passes since the server was created
        // This server's counters (TcpServerCounter), totals since the TcpServer was created.
        public long BytesIn { get; internal set; }
        public long BytesOut { get; internal set; }
        public long MessagesIn { get; internal set; }
        public long MessagesOut { get; internal set; }
        public long Accepts { get; internal set; }
        public long Refused { get; internal set; }
        public long SendQueueDrops { get; internal set; }
        public long Closed { get; internal set; }
        public long IdleClosed { get; internal set; }
        public long ReceivePauses { get; internal set; }
        public long FramingErrors { get; internal set; }
        // The memory budget (API 1.3). MemoryInUse and LinksHeld are levels, not totals.
        public long MemoryInUse { get; internal set; }
        public long MemoryPeak { get; internal set; }
        public long HighWaterPauses { get; internal set; }
        public long LinksHeld { get; internal set; }
        public long BudgetRefusals { get; internal set; }
        public long MessageTimeouts { get; internal set; }
        public long AddressRefused { get; internal set; }
        public long RateRefused { get; internal set; }
        // TLS (API 1.3). TlsHandshakesInProgress is a level: connections not yet links.
        public long TlsHandshakes { get; internal set; }
        public long TlsResumed { get; internal set; }
        public long TlsHandshakesInProgress { get; internal set; }
        public long TlsHandshakeFailures { get; internal set; }
        public long TlsHandshakeTimeouts { get; internal set; }
        public long TlsHandshakesDropped { get; internal set; }
        public long TlsNotTls { get; internal set; }
        public long TlsErrors { get; internal set; }
    }

    /// <summary>One worker's activity (TcpServer.GetWorkerStats).</summary>
    public sealed class WorkerStats
    {
        public int Index { get; internal set; }     // 1..worker count
        public uint ThreadId { get; internal set; } // OS thread id, as Link.Worker.ThreadId
        public int Events { get; internal set; }    // callbacks/events run since Start
        public uint BusyMs { get; internal set; }   // ms busy since the previous GetWorkerStats
    }

    /// <summary>
    /// A TCP server on the tcpserver engine. Subscribe to the events, set options, Start(ip,
    /// port); Stop() or Dispose() ends it. Events run on engine threads; the events of one link
    /// never run concurrently and come in order: Connecting, Received*, then exactly one of
    /// Disconnected / IdleTimeout. An exception thrown by a handler is logged (Log event, or
    /// standard error) and closes its link (Connecting: refuses it); it never reaches the engine.
    /// Each object owns an engine server of its own: several can run at once.
    /// </summary>
    public sealed class TcpServer : IDisposable
    {
        // Started servers, until their Stop completes: this keeps each one (and so its Context
        // handle's target) reachable while the engine may call it.
        static readonly HashSet<TcpServer> s_running = new HashSet<TcpServer>();
        static List<string> s_abiProblems;
        static readonly TOnLog s_logProc = OnNativeLog;  // static: the engine may log at any time
        static bool s_logProcInstalled;

        // One set of callbacks for every server, static so they live as long as the process.
        // A TcpClusterNode hands them to the cluster library, which calls them after its own.
        internal static readonly TOnReceiveEx s_receiveProc = OnReceiveEx;
        internal static readonly TOnDisconnectEx s_disconnectProc = OnDisconnectEx;
        internal static readonly TOnLinkIdleOvertimeEx s_idleProc = OnIdleEx;
        internal static readonly TOnThreadCreateEx s_threadCreateProc = OnThreadCreateEx;
        static readonly TOnThreadExitEx s_threadExitProc = OnThreadExitEx;
        internal static readonly TOnConnectEx s_connectProc = OnConnectEx;

        readonly object gate = new object();  // Start / Dispose of this server
        readonly Dictionary<TcpServerOption, long> options = new Dictionary<TcpServerOption, long>();
        readonly TcpServerTls tls;
        TcpServerSafeHandle handle;  // the engine server (TcpServerHandle*); closed by Dispose
        volatile bool disposed;      // Dispose ran (the SafeHandle may outlive it while a call holds it)
        GCHandle context;     // weak: s_running holds the object while the engine may call it
        volatile bool running; // in s_running: started, and its Stop has not completed

        static TcpServer()
        {
            // Engine threads must not call into a runtime that is shutting down under them.
            AppDomain.CurrentDomain.ProcessExit += (sender, e) =>
            {
                foreach (var server in RunningServers())
                {
                    try { server.Stop(); }
                    catch (Exception ex) { Console.Error.WriteLine("tcpserver: could not stop at exit: " + ex.Message); }
                }
            };
        }

        /// <summary>A stopped server with the engine's default options. Throws
        /// TcpServerException (NotSupported for a library older than this binding, OutOfMemory).</summary>
        public TcpServer()
        {
            tls = new TcpServerTls(this);
            context = GCHandle.Alloc(this, GCHandleType.Weak);
            try
            {
                handle = TcpServerSafeHandle.Create(GCHandle.ToIntPtr(context));
                IntPtr server = handle.DangerousGetHandle();  // no other thread knows it yet
                // The callbacks never change, so they are set once, while the server is stopped.
                if (N.TcpServerSetEventProc(server, s_receiveProc, s_disconnectProc, s_idleProc,
                                            s_threadCreateProc, s_threadCreateProc) == 0 ||
                    N.TcpServerSetConnectProc(server, s_connectProc) == 0 ||
                    N.TcpServerSetThreadExitProc(server, s_threadExitProc) == 0)
                    throw TcpServerException.Last("set the callbacks of a new server");
            }
            catch (DllNotFoundException ex)
            {
                Release();
                throw TcpServerNative.LibraryNotFound(ex);
            }
            catch (EntryPointNotFoundException)
            {
                Release();
                throw new TcpServerException(TcpServerErrorCode.NotSupported, string.Format(
                    "the loaded tcpserver library ({0}) has no CreateTcpServer: this binding needs version {1}.{2} or newer",
                    Version, N.TCPSERVER_VERSION_MAJOR, N.TCPSERVER_VERSION_MINOR));
            }
            catch
            {
                Release();
                throw;
            }
        }

        /// <summary>Frees the Context handle if the object was dropped without Dispose (it was
        /// stopped: a running server stays reachable); the SafeHandle's own finalizer frees the
        /// engine server.</summary>
        ~TcpServer()
        {
            if (!Environment.HasShutdownStarted && context.IsAllocated) context.Free();
        }

        /// <summary>The engine server (TcpServerHandle*) for TcpServerNative's TcpServer*
        /// calls; zero after Dispose. ServerHandle is the same as a SafeHandle.</summary>
        public IntPtr Handle
        {
            get
            {
                var server = handle;
                return server == null || disposed ? IntPtr.Zero : server.DangerousGetHandle();
            }
        }

        /// <summary>The engine server as a SafeHandle: a native call made through it (a
        /// SafeHandle parameter, or DangerousAddRef) keeps Dispose on another thread from
        /// destroying the server under that call. Closed after Dispose.</summary>
        public TcpServerSafeHandle ServerHandle { get { return handle; } }

        /// <summary>TLS: Tls.Enabled and a certificate (Tls.SetCertificate from a file, a PFX's
        /// bytes or an X509Certificate2) turn it on; SNI names, ALPN, client certificates,
        /// ciphers and ticket keys are there too. Options apply at Start; the settings apply at
        /// once, on a running server to new handshakes.</summary>
        public TcpServerTls Tls { get { return tls; } }

        /// <summary>What the TLS session of link linkId reports (any thread, any time); null if it
        /// is not a TLS link. Throws TcpServerException(LinkClosed) for a closed link.</summary>
        public static LinkTlsInfo GetTlsInfo(ulong linkId)
        {
            return LinkTlsInfo.Read(what => LinkTlsInfo.Fetch(
                (code, buffer, size) => N.GetLinkTlsInfoById(linkId, code, buffer, size), what, "link " + linkId));
        }

        // ---- events -------------------------------------------------------------------------

        /// <summary>A new link, before its first Received; set Cancel to refuse it.</summary>
        public event EventHandler<ConnectingEventArgs> Connecting;
        /// <summary>Data arrived (not copied: see ReceivedEventArgs): a chunk of the stream, or a
        /// whole message with Framing = LengthPrefixed. Without a handler the server echoes, as
        /// the engine does without OnReceive.</summary>
        public event EventHandler<ReceivedEventArgs> Received;
        /// <summary>The link closed (see CloseReason); the Link is recycled after this.</summary>
        public event EventHandler<LinkEventArgs> Disconnected;
        /// <summary>The link was silent longer than IdleTimeoutMs and was closed. Without a
        /// handler, Disconnected comes instead (reason Idle).</summary>
        public event EventHandler<LinkEventArgs> IdleTimeout;
        /// <summary>Runs on each new engine thread of this server before it serves anything.</summary>
        public event EventHandler<ThreadEventArgs> ThreadStarted;
        /// <summary>Runs on an engine thread of this server just before it exits.</summary>
        public event EventHandler<ThreadEventArgs> ThreadExited;
        /// <summary>This binding's reports about this server (a handler's exception) and the
        /// engine's log lines (not tied to a server: every running server with a Log handler
        /// gets them). Without a handler they go to standard error.</summary>
        public event EventHandler<LogEventArgs> Log;

        // ---- lifecycle ------------------------------------------------------------------------

        /// <summary>Bind ip ("" or null = all interfaces; an IPv4 or IPv6 literal) and port
        /// (0 = ephemeral, see Port) and serve. Throws TcpServerException (BadAddress,
        /// AddressInUse, AlreadyActive when this server runs, ...).</summary>
        public void Start([AllowNull] string ip, int port)
        {
            if (port < 0 || port > 65535)
                throw new ArgumentOutOfRangeException("port", "port must be 0..65535 (0 = ephemeral)");
            lock (gate)
            {
                if (handle == null || disposed) throw new ObjectDisposedException("TcpServer");
                if (running)
                    throw new TcpServerException(TcpServerErrorCode.AlreadyActive,
                        "start: this server is already running (or still stopping); stop it first, or start another TcpServer");
                CheckAbi();
                InstallLogProc();
                IntPtr server = handle.DangerousGetHandle();  // Dispose takes gate too
                lock (options)
                    foreach (var option in options)
                        if (N.TcpServerSetOption(server, (int)option.Key, option.Value) == 0)
                            throw TcpServerException.Last(string.Format("start: option {0}={1}", option.Key, option.Value));
                SetRunning(true);  // before the engine can call back
                if (N.TcpServerStart(server, N.Utf8z(ip ?? ""), (uint)port) == 0)
                {
                    var error = TcpServerException.Last(string.Format("start on [{0}]:{1}",
                        string.IsNullOrEmpty(ip) ? "*" : ip, port));
                    SetRunning(false);
                    throw error;
                }
            }
        }

        /// <summary>Close the listener and every link (each gets Disconnected, reason
        /// ServerStop), wait for all handlers and join the engine threads. Idempotent; a later
        /// Start works. From inside a handler of this server it throws
        /// TcpServerException(InCallback).</summary>
        public void Stop() { Stop(Timeout.Infinite); }

        /// <summary>As Stop, waiting at most millisecondsTimeout (-1 = forever). Returns false if
        /// engine threads are still finishing: stopping goes on; call again to keep waiting.</summary>
        public bool Stop(int millisecondsTimeout)
        {
            if (handle == null || disposed || !running) return true;
            // Not under gate: a handler still running may need it (e.g. to fail a Start).
            int timeout = millisecondsTimeout < 0 ? -1 : millisecondsTimeout;
            if (Call(server => N.TcpServerStop(server, timeout)) == 0)
            {
                var error = TcpServerException.Last("stop");
                if (error.Code == TcpServerErrorCode.Timeout) return false;
                throw error;
            }
            SetRunning(false);  // every callback has returned: the engine will not call again
            return true;
        }

        /// <summary>Stops the server (see Stop) and frees its engine server; the object cannot
        /// start again.</summary>
        public void Dispose()
        {
            Stop();
            lock (gate) Release();
            GC.SuppressFinalize(this);
        }

        void SetRunning(bool value)
        {
            lock (s_running)
            {
                if (value) s_running.Add(this);
                else s_running.Remove(this);
                running = value;
            }
        }

        static TcpServer[] RunningServers()
        {
            lock (s_running)
            {
                var result = new TcpServer[s_running.Count];
                s_running.CopyTo(result);
                return result;
            }
        }

        /// <summary>Closes the SafeHandle (it destroys the engine server, stopped by now, once
        /// no call holds it) and frees the Context handle.</summary>
        void Release()
        {
            disposed = true;
            if (handle != null) handle.Dispose();
            if (context.IsAllocated) context.Free();
        }

        /// <summary>True while this server runs.</summary>
        public bool IsActive { get { return CallOr(0, server => N.TcpServerIsActive(server)) != 0; } }

        /// <summary>The bound port (useful after Start(ip, 0)); 0 when not running.</summary>
        public int Port { get { return (int)CallOr(0u, server => N.TcpServerGetPort(server)); } }

        /// <summary>As Call, but fallback after Dispose instead of an exception.</summary>
        T CallOr<T>(T fallback, Func<IntPtr, T> call)
        {
            try { return Call(call); }
            catch (ObjectDisposedException) { return fallback; }
        }

        /// <summary>call(the engine server) with a reference held on the SafeHandle, so a
        /// Dispose on another thread cannot destroy the server during the call. Throws
        /// ObjectDisposedException after Dispose. TcpServerTls calls through it too.</summary>
        internal T Call<T>(Func<IntPtr, T> call)
        {
            var server = handle;
            if (server == null || disposed) throw new ObjectDisposedException("TcpServer");
            bool added = false;
            try
            {
                server.DangerousAddRef(ref added);  // throws ObjectDisposedException once closed
                return call(server.DangerousGetHandle());
            }
            finally
            {
                if (added) server.DangerousRelease();
            }
        }

        /// <summary>Throws TcpServerException(NotSupported) if the loaded library's version or
        /// record layout differs from this binding's (checked once per process).</summary>
        public static void CheckAbi()
        {
            if (s_abiProblems == null)
                s_abiProblems = N.LayoutMismatches(N.PtrToUtf8(N.GetAbiLayout()), N.GetVersion());
            if (s_abiProblems.Count > 0)
                throw new TcpServerException(TcpServerErrorCode.NotSupported,
                    "the loaded tcpserver library does not match this C# binding (rebuild or update one of them): " +
                    string.Join("; ", s_abiProblems.ToArray()));
        }

        // ---- sending and closing (any thread, any time; ids of any server's links) -------------

        /// <summary>Copy data (any length; with framing, one message) into the send queue of link
        /// linkId. Throws TcpServerException when nothing could be queued (LinkClosed,
        /// SendQueueFull, ...).</summary>
        public void Send(ulong linkId, byte[] data) { Send(linkId, data, 0, Link.Checked(data).Length); }
        public void Send(ulong linkId, byte[] data, int offset, int count)
        {
            if (!TrySend(linkId, data, offset, count)) throw TcpServerException.Last("send to link " + linkId);
        }
        public void Send(ulong linkId, IntPtr data, int count)
        {
            if (!TrySend(linkId, data, count)) throw TcpServerException.Last("send to link " + linkId);
        }

        /// <summary>As Send, but false instead of an exception when nothing was queued.</summary>
        public bool TrySend(ulong linkId, byte[] data) { return TrySend(linkId, data, 0, Link.Checked(data).Length); }
        public unsafe bool TrySend(ulong linkId, byte[] data, int offset, int count)
        {
            Link.CheckRange(data, offset, count);
            if (count == 0) return true;
            fixed (byte* bytes = data)
                return N.SendBufferById(linkId, (IntPtr)(bytes + offset), count) != 0;
        }
        public bool TrySend(ulong linkId, IntPtr data, int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count", "count must not be negative");
            return count == 0 || N.SendBufferById(linkId, data, count) != 0;
        }

        /// <summary>Send data (copied once, shared) to every link of this server open now;
        /// returns how many links it was queued to.</summary>
        public int Broadcast(byte[] data) { return Broadcast(data, 0, Link.Checked(data).Length); }
        public int Broadcast(byte[] data, int offset, int count) { return BroadcastExcept(0, data, offset, count); }
        public int Broadcast(IntPtr data, int count) { return BroadcastExcept(0, data, count); }

        /// <summary>As Broadcast, to every link of this server but exceptLinkId (0 = none).</summary>
        public int BroadcastExcept(ulong exceptLinkId, byte[] data) { return BroadcastExcept(exceptLinkId, data, 0, Link.Checked(data).Length); }
        public unsafe int BroadcastExcept(ulong exceptLinkId, byte[] data, int offset, int count)
        {
            Link.CheckRange(data, offset, count);
            if (count == 0) return 0;
            fixed (byte* bytes = data)
                return BroadcastExcept(exceptLinkId, (IntPtr)(bytes + offset), count);
        }
        public int BroadcastExcept(ulong exceptLinkId, IntPtr data, int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count", "count must not be negative");
            if (count == 0) return 0;
            int links = Call(server => N.TcpServerPostBroadcast(server, data, count, exceptLinkId));
            if (links < 0) throw TcpServerException.Last("broadcast");
            return links;
        }

#if NETSTANDARD2_1_OR_GREATER || NETCOREAPP2_1_OR_GREATER
        // Spans and memory, where the target framework has them (the SDK build of
        // TcpServerLib.csproj; Mono's mcs builds the byte[] and IntPtr forms only).

        /// <summary>As Send(linkId, byte[]), from a span (the engine makes the only copy).</summary>
        public void Send(ulong linkId, ReadOnlySpan<byte> data)
        {
            if (!TrySend(linkId, data)) throw TcpServerException.Last("send to link " + linkId);
        }
        /// <summary>As Send(linkId, byte[]), from a ReadOnlyMemory.</summary>
        public void Send(ulong linkId, ReadOnlyMemory<byte> data) { Send(linkId, data.Span); }
        /// <summary>As TrySend(linkId, byte[]), from a span.</summary>
        public unsafe bool TrySend(ulong linkId, ReadOnlySpan<byte> data)
        {
            if (data.IsEmpty) return true;
            fixed (byte* bytes = data)
                return N.SendBufferById(linkId, (IntPtr)bytes, data.Length) != 0;
        }
        /// <summary>As TrySend(linkId, byte[]), from a ReadOnlyMemory.</summary>
        public bool TrySend(ulong linkId, ReadOnlyMemory<byte> data) { return TrySend(linkId, data.Span); }
        /// <summary>As Broadcast(byte[]), from a span.</summary>
        public int Broadcast(ReadOnlySpan<byte> data) { return BroadcastExcept(0, data); }
        /// <summary>As Broadcast(byte[]), from a ReadOnlyMemory.</summary>
        public int Broadcast(ReadOnlyMemory<byte> data) { return BroadcastExcept(0, data.Span); }
        /// <summary>As BroadcastExcept(exceptLinkId, byte[]), from a span.</summary>
        public unsafe int BroadcastExcept(ulong exceptLinkId, ReadOnlySpan<byte> data)
        {
            if (data.IsEmpty) return 0;
            fixed (byte* bytes = data)
                return BroadcastExcept(exceptLinkId, (IntPtr)bytes, data.Length);
        }
        /// <summary>As BroadcastExcept(exceptLinkId, byte[]), from a ReadOnlyMemory.</summary>
        public int BroadcastExcept(ulong exceptLinkId, ReadOnlyMemory<byte> data) { return BroadcastExcept(exceptLinkId, data.Span); }
#endif

        /// <summary>Close link linkId (pending sends flush first unless abort). Returns false if
        /// it is already closed or gone; otherwise Disconnected follows (reason ByApp).</summary>
        public bool CloseLink(ulong linkId, bool abort = false)
        {
            return GoneIsFalse(N.CloseLinkByIdEx(linkId, abort ? N.TS_CLOSE_FLAG_ABORT : 0), "close link ", linkId);
        }

        // ---- flow control and enumeration (any thread, any time) ---------------------------------

        /// <summary>Stop reading from link linkId (TCP backpressure reaches the peer; sends still
        /// go out, the idle clock still runs). Pausing a paused link changes nothing. Returns
        /// false if the link is closed or gone.</summary>
        public bool PauseReceive(ulong linkId) { return GoneIsFalse(N.PauseReceiveById(linkId), "pause link ", linkId); }

        /// <summary>Read from link linkId again. Returns false if the link is closed or gone.</summary>
        public bool ResumeReceive(ulong linkId) { return GoneIsFalse(N.ResumeReceiveById(linkId), "resume link ", linkId); }

        /// <summary>Bytes queued on link linkId and not yet written to its socket (framing headers
        /// included); -1 if the link is closed or gone.</summary>
        public long GetSendQueueBytes(ulong linkId)
        {
            long bytes = N.GetSendQueueBytesById(linkId);
            if (bytes < 0) GoneIsFalse(0, "queued bytes of link ", linkId);  // throws unless the link is gone
            return bytes;
        }

        /// <summary>The ids of this server's open links (each was open during the call).</summary>
        public ulong[] GetLinkIds() { return Call<ulong[]>(LinkIds); }

        static ulong[] LinkIds(IntPtr server)
        {
            var ids = new ulong[0];
            for (int attempt = 0; ; attempt++)
            {
                int count = N.TcpServerGetLinkIds(server, ids.Length == 0 ? null : ids, ids.Length);
                if (count < 0) throw TcpServerException.Last("link ids");
                if (count <= ids.Length)
                {
                    if (count < ids.Length) Array.Resize(ref ids, count);
                    return ids;
                }
                // Links came meanwhile: room for the count seen, and some slack for newcomers.
                ids = new ulong[count + count / 8 + 16];
            }
        }

        /// <summary>result != 0: true. A link closed or gone (LinkClosed; NotActive: no running
        /// server has it): false. Any other failure throws.</summary>
        static bool GoneIsFalse(long result, string what, ulong linkId)
        {
            if (result != 0) return true;
            var error = TcpServerException.Last(what + linkId);
            if (error.Code == TcpServerErrorCode.LinkClosed || error.Code == TcpServerErrorCode.NotActive) return false;
            throw error;
        }

        // ---- options (kept here, applied at Start; unset ones keep the engine's default) ----------

        /// <summary>The value this server will start with: what was set here, else the engine's.</summary>
        public long GetOption(TcpServerOption option)
        {
            long value;
            lock (options)
                if (options.TryGetValue(option, out value)) return value;
            value = Call(server => N.TcpServerGetOption(server, (int)option));
            if (value < 0 && N.GetLastErrorCode() == N.TS_ERR_UNKNOWN_OPTION)
                throw TcpServerException.Last("option " + option);
            return value;
        }

        /// <summary>Set an option for the next Start (checked against its range now; LogLevel
        /// also applies at once, to the whole engine). Throws ArgumentOutOfRangeException outside
        /// the range.</summary>
        public void SetOption(TcpServerOption option, long value)
        {
            long min, max;
            GetOptionRange(option, out min, out max);
            if (value < min || value > max)
                throw new ArgumentOutOfRangeException("value", value, string.Format(
                    "option {0} must be {1}..{2}", option, min, max));
            lock (options) options[option] = value;
            if (option == TcpServerOption.LogLevel && Call(server => N.TcpServerSetOption(server, (int)option, value)) == 0)
                throw TcpServerException.Last("option " + option);
        }

        public static void GetOptionRange(TcpServerOption option, out long min, out long max)
        {
            if (N.GetServerOptionRange((int)option, out min, out max) == 0)
                throw TcpServerException.Last("range of option " + option);
        }

        public int MaxLinks { get { return (int)GetOption(TcpServerOption.MaxLinks); } set { SetOption(TcpServerOption.MaxLinks, value); } }
        public int IoBufferSize { get { return (int)GetOption(TcpServerOption.IoBufferSize); } set { SetOption(TcpServerOption.IoBufferSize, value); } }
        public int IoBufferCount { get { return (int)GetOption(TcpServerOption.IoBufferCount); } set { SetOption(TcpServerOption.IoBufferCount, value); } }
        /// <summary>Close links silent this long (ms); 0 = never.</summary>
        public int IdleTimeoutMs { get { return (int)GetOption(TcpServerOption.IdleTimeoutMs); } set { SetOption(TcpServerOption.IdleTimeoutMs, value); } }
        /// <summary>0 = one per CPU.</summary>
        public int WorkerThreads { get { return (int)GetOption(TcpServerOption.WorkerThreads); } set { SetOption(TcpServerOption.WorkerThreads, value); } }
        public int ListenBacklog { get { return (int)GetOption(TcpServerOption.ListenBacklog); } set { SetOption(TcpServerOption.ListenBacklog, value); } }
        /// <summary>Max bytes queued per link; 0 = no limit.</summary>
        public long SendQueueLimit { get { return GetOption(TcpServerOption.SendQueueLimit); } set { SetOption(TcpServerOption.SendQueueLimit, value); } }
        public SendQueuePolicy SendQueuePolicy { get { return (SendQueuePolicy)GetOption(TcpServerOption.SendQueuePolicy); } set { SetOption(TcpServerOption.SendQueuePolicy, (long)value); } }
        public bool TcpNoDelay { get { return GetOption(TcpServerOption.TcpNoDelay) != 0; } set { SetOption(TcpServerOption.TcpNoDelay, value ? 1 : 0); } }
        public bool KeepAlive { get { return GetOption(TcpServerOption.KeepAlive) != 0; } set { SetOption(TcpServerOption.KeepAlive, value ? 1 : 0); } }
        /// <summary>With KeepAlive: seconds of silence before the first probe.</summary>
        public int KeepAliveIdleSeconds { get { return (int)GetOption(TcpServerOption.KeepAliveIdleSeconds); } set { SetOption(TcpServerOption.KeepAliveIdleSeconds, value); } }
        /// <summary>With KeepAlive: seconds between probes.</summary>
        public int KeepAliveIntervalSeconds { get { return (int)GetOption(TcpServerOption.KeepAliveIntervalSeconds); } set { SetOption(TcpServerOption.KeepAliveIntervalSeconds, value); } }
        /// <summary>With KeepAlive: unanswered probes before the OS drops the connection.</summary>
        public int KeepAliveCount { get { return (int)GetOption(TcpServerOption.KeepAliveCount); } set { SetOption(TcpServerOption.KeepAliveCount, value); } }
        public bool ReusePort { get { return GetOption(TcpServerOption.ReusePort) != 0; } set { SetOption(TcpServerOption.ReusePort, value ? 1 : 0); } }
        public bool ReuseAddress { get { return GetOption(TcpServerOption.ReuseAddress) != 0; } set { SetOption(TcpServerOption.ReuseAddress, value ? 1 : 0); } }
        /// <summary>For an IPv6 or empty ip: true = IPv6 only, false = dual-stack (the default).</summary>
        public bool IPv6Only { get { return GetOption(TcpServerOption.IPv6Only) != 0; } set { SetOption(TcpServerOption.IPv6Only, value ? 1 : 0); } }
        public TcpFraming Framing { get { return (TcpFraming)GetOption(TcpServerOption.Framing); } set { SetOption(TcpServerOption.Framing, (long)value); } }
        /// <summary>With Framing = LengthPrefixed: the largest message payload in bytes; a bigger
        /// header closes the link (reason FrameTooLarge).</summary>
        public long MaxMessageSize { get { return GetOption(TcpServerOption.MaxMessageSize); } set { SetOption(TcpServerOption.MaxMessageSize, value); } }
        /// <summary>Bytes the server may hold for its links (queued sends, partial messages);
        /// 0 = no budget. (API 1.3)</summary>
        public long MemoryBudget { get { return GetOption(TcpServerOption.MemoryBudget); } set { SetOption(TcpServerOption.MemoryBudget, value); } }
        /// <summary>A link whose send queue reaches this many bytes is not read until it drains
        /// to half; 0 = off. (API 1.3)</summary>
        public long SendHighWater { get { return GetOption(TcpServerOption.SendHighWater); } set { SetOption(TcpServerOption.SendHighWater, value); } }
        /// <summary>With Framing = LengthPrefixed: a message that stops growing this long closes
        /// its link (reason MessageTimeout); 0 = never. (API 1.3)</summary>
        public int MessageTimeoutMs { get { return (int)GetOption(TcpServerOption.MessageTimeoutMs); } set { SetOption(TcpServerOption.MessageTimeoutMs, value); } }
        /// <summary>Links one remote address (IPv6: one /64) may hold; 0 = no limit. (API 1.3)</summary>
        public int MaxLinksPerAddress { get { return (int)GetOption(TcpServerOption.MaxLinksPerAddress); } set { SetOption(TcpServerOption.MaxLinksPerAddress, value); } }
        /// <summary>Connections accepted per second; 0 = no limit. (API 1.3)</summary>
        public int AcceptRate { get { return (int)GetOption(TcpServerOption.AcceptRate); } set { SetOption(TcpServerOption.AcceptRate, value); } }

        /// <summary>Links this server closed with `reason` since it was created. (API 1.3)</summary>
        public long GetCloseCount(CloseReason reason)
        {
            return Checked(Call(server => N.TcpServerGetCloseCount(server, (int)reason)), "close count");
        }
        public TcpLogLevel LogLevel { get { return (TcpLogLevel)GetOption(TcpServerOption.LogLevel); } set { SetOption(TcpServerOption.LogLevel, (long)value); } }

        // ---- statistics -------------------------------------------------------------------------

        public int LinkCount { get { return Call(server => N.TcpServerGetLinkCount(server)); } }

        /// <summary>This server's total since it was created (never reset).</summary>
        public long GetCounter(TcpServerCounter counter)
        {
            long value = Call(server => N.TcpServerGetCounter(server, (int)counter));
            if (value < 0) throw TcpServerException.Last("counter " + counter);
            return value;
        }

        /// <summary>This server's statistics and counters, read one after another (not an atomic
        /// snapshot). Throws ObjectDisposedException after Dispose, TcpServerException if the
        /// engine refuses a figure.</summary>
        public TcpServerStats GetStats() { return Call(server => new TcpServerStats
            {
                Links = (int)Checked(N.TcpServerGetLinkCount(server), "link count"),
                LinkFree = (int)Checked(N.TcpServerGetLinkFree(server), "link free"),
                LinkUse = Checked(N.TcpServerGetLinkUse(server), "link use"),
                LinkSize = Checked(N.TcpServerGetLinkSize(server), "link size"),
                IoMemFree = (int)Checked(N.TcpServerGetIOMemFree(server), "IO memory free"),
                IoMemUse = Checked(N.TcpServerGetIOMemUse(server), "IO memory use"),
                IoMemSize = Checked(N.TcpServerGetIOMemSize(server), "IO memory size"),
                Workers = (int)Checked(N.TcpServerGetWorkerCount(server), "worker count"),
                ServerExecLong = (uint)Checked(N.TcpServerGetExecLong(server), "service exec time"),
                ServerExecCount = (int)Checked(N.TcpServerGetExecCount(server), "service exec count"),
                BytesIn = GetCounter(TcpServerCounter.BytesIn), BytesOut = GetCounter(TcpServerCounter.BytesOut),
                MessagesIn = GetCounter(TcpServerCounter.MessagesIn), MessagesOut = GetCounter(TcpServerCounter.MessagesOut),
                Accepts = GetCounter(TcpServerCounter.Accepts), Refused = GetCounter(TcpServerCounter.Refused),
                SendQueueDrops = GetCounter(TcpServerCounter.SendQueueDrops), Closed = GetCounter(TcpServerCounter.Closed),
                IdleClosed = GetCounter(TcpServerCounter.IdleClosed), ReceivePauses = GetCounter(TcpServerCounter.ReceivePauses),
                FramingErrors = GetCounter(TcpServerCounter.FramingErrors),
                MemoryInUse = GetCounter(TcpServerCounter.MemoryInUse), MemoryPeak = GetCounter(TcpServerCounter.MemoryPeak),
                HighWaterPauses = GetCounter(TcpServerCounter.HighWaterPauses), LinksHeld = GetCounter(TcpServerCounter.LinksHeld),
                BudgetRefusals = GetCounter(TcpServerCounter.BudgetRefusals), MessageTimeouts = GetCounter(TcpServerCounter.MessageTimeouts),
                AddressRefused = GetCounter(TcpServerCounter.AddressRefused), RateRefused = GetCounter(TcpServerCounter.RateRefused),
                TlsHandshakes = GetCounter(TcpServerCounter.TlsHandshakes), TlsResumed = GetCounter(TcpServerCounter.TlsResumed),
                TlsHandshakesInProgress = GetCounter(TcpServerCounter.TlsHandshakesInProgress),
                TlsHandshakeFailures = GetCounter(TcpServerCounter.TlsHandshakeFailures),
                TlsHandshakeTimeouts = GetCounter(TcpServerCounter.TlsHandshakeTimeouts),
                TlsHandshakesDropped = GetCounter(TcpServerCounter.TlsHandshakesDropped),
                TlsNotTls = GetCounter(TcpServerCounter.TlsNotTls), TlsErrors = GetCounter(TcpServerCounter.TlsErrors),
            });
        }

        /// <summary>A statistics call's result; its -1 (failure) becomes the engine's error.</summary>
        static long Checked(long value, string what)
        {
            if (value < 0) throw TcpServerException.Last("statistics: " + what);
            return value;
        }

        static double Checked(double value, string what)
        {
            if (value < 0) throw TcpServerException.Last("statistics: " + what);
            return value;
        }

        /// <summary>One entry per worker thread of this server (none when stopped): its OS thread
        /// id, the events it has run and the ms it was busy since the previous GetWorkerStats
        /// (the engine restarts that figure at each read, as GetWorkerExecInfo). Throws
        /// ObjectDisposedException after Dispose, TcpServerException if the server stops while
        /// it reads.</summary>
        public WorkerStats[] GetWorkerStats() { return Call<WorkerStats[]>(WorkerStatsOf); }

        static WorkerStats[] WorkerStatsOf(IntPtr server)
        {
            var result = new WorkerStats[(int)Checked(N.TcpServerGetWorkerCount(server), "worker count")];
            for (int index = 1; index <= result.Length; index++)
            {
                int threadId = N.TcpServerGetWorkerID(server, index);  // never 0 for a running worker
                if (threadId == 0) throw TcpServerException.Last("worker statistics: thread id of worker " + index);
                uint busyMs;
                int events = N.TcpServerGetWorkerExecInfo(server, index, out busyMs);
                if (events < 0) throw TcpServerException.Last("worker statistics: activity of worker " + index);
                result[index - 1] = new WorkerStats { Index = index, ThreadId = (uint)threadId, Events = events, BusyMs = busyMs };
            }
            return result;
        }

        /// <summary>This server's worker threads (0 when stopped).</summary>
        public int WorkerCount { get { return Call(server => N.TcpServerGetWorkerCount(server)); } }

        // ---- library-wide helpers -----------------------------------------------------------------

        /// <summary>The loaded library's version text, e.g. "tcpserver 1.2.0".</summary>
        public static string Version
        {
            get
            {
                try { return N.PtrToUtf8(N.GetVersionText()); }
                catch (DllNotFoundException ex) { throw N.LibraryNotFound(ex); }
            }
        }
        /// <summary>The loaded library's TCPSERVER_VERSION_NUMBER (major*10000+minor*100+patch).</summary>
        public static int VersionNumber { get { return N.GetVersion(); } }
        /// <summary>Milliseconds on the engine's clock (wraps at 2^32), as Link.TickCountActive.</summary>
        public static uint TickCount { get { return N.GetTickCount32(); } }

        /// <summary>Send a line through the engine's log: it reaches the Log event (level Info)
        /// whatever LogLevel says, which filters only the engine's own messages.</summary>
        public static void WriteLog(string text) { N.WriteLog(N.Utf8z(text ?? "")); }

        /// <summary>A local interface's IPv4 address (public if internet, else private); no lookups.</summary>
        public static string LocalIP(bool internet = false)
        {
            var buffer = new byte[64];
            int length = N.GetLocalIP(internet ? 1 : 0, buffer, buffer.Length);
            if (length < 0) throw TcpServerException.Last("local IP");
            return System.Text.Encoding.ASCII.GetString(buffer, 0, length);
        }

        // ---- trampolines: the engine calls these; nothing may unwind out of them ----------------

        /// <summary>The server a Context names (null only if the binding lost track of it).</summary>
        static TcpServer FromContext(IntPtr context)
        {
            return context == IntPtr.Zero ? null : GCHandle.FromIntPtr(context).Target as TcpServer;
        }

        static int OnConnectEx(IntPtr context, IntPtr record)
        {
            var server = FromContext(context);
            return server == null ? 1 : server.OnConnect(record);
        }

        static int OnReceiveEx(IntPtr context, IntPtr record, IntPtr buf, int len)
        {
            var server = FromContext(context);
            return server == null ? N.SendBuffer(record, buf, len) : server.OnReceive(record, buf, len);
        }

        static void OnDisconnectEx(IntPtr context, IntPtr record)
        {
            var server = FromContext(context);
            if (server != null) server.RaiseLast(server.Disconnected, "Disconnected", record);
        }

        static void OnIdleEx(IntPtr context, IntPtr record)
        {
            var server = FromContext(context);
            if (server != null) server.OnIdle(record);
        }

        static IntPtr OnThreadCreateEx(IntPtr context, int isWorkerThread)
        {
            var server = FromContext(context);
            return server == null ? IntPtr.Zero : server.OnThreadCreate(isWorkerThread);
        }

        static void OnThreadExitEx(IntPtr context, int isWorkerThread, IntPtr data)
        {
            var server = FromContext(context);
            if (server != null) server.OnThreadExit(isWorkerThread, data);
            else if (data != IntPtr.Zero) GCHandle.FromIntPtr(data).Free();
        }

        int OnConnect(IntPtr record)
        {
            var handler = Connecting;
            if (handler == null) return 1;
            var link = new Link(record);
            bool accept = false;
            try
            {
                var e = new ConnectingEventArgs(link);
                handler(this, e);
                accept = !e.Cancel;
            }
            catch (Exception ex)
            {
                ReportHandlerException("Connecting", link.Id, ex, "the link is refused");
            }
            if (!accept) ReleaseSafely(link);  // no other event comes for a refused link
            link.Invalidate();
            return accept ? 1 : 0;
        }

        int OnReceive(IntPtr record, IntPtr buf, int len)
        {
            var handler = Received;
            if (handler == null) return N.SendBuffer(record, buf, len);  // echo, as the engine's default
            var link = new Link(record);
            var e = new ReceivedEventArgs(link, buf, len);
            try
            {
                handler(this, e);
                return e.CloseLink ? 0 : 1;
            }
            catch (Exception ex)
            {
                ReportHandlerException("Received", link.Id, ex, "the link is closed");
                return 0;
            }
            finally
            {
                e.Invalidate();
                link.Invalidate();
            }
        }

        void OnIdle(IntPtr record)
        {
            var handler = IdleTimeout;
            if (handler != null) RaiseLast(handler, "IdleTimeout", record);
            else RaiseLast(Disconnected, "Disconnected", record);  // as the engine does without OnLinkIdleOvertime
        }

        /// <summary>The link's last event: raise it, then free what Link.Data held.</summary>
        void RaiseLast(EventHandler<LinkEventArgs> handler, string name, IntPtr record)
        {
            var link = new Link(record);
            try
            {
                if (handler != null) handler(this, new LinkEventArgs(link));
            }
            catch (Exception ex)
            {
                ReportHandlerException(name, link.Id, ex, "the link was already closed");
            }
            ReleaseSafely(link);
            link.Invalidate();
        }

        void ReleaseSafely(Link link)
        {
            try { link.ReleaseData(); }
            catch (Exception ex) { Report(TcpLogLevel.Error, "could not free the data of link " + link.Id + ": " + ex.Message); }
        }

        IntPtr OnThreadCreate(int isWorkerThread)
        {
            var handler = ThreadStarted;
            if (handler == null) return IntPtr.Zero;
            try
            {
                var e = new ThreadEventArgs(isWorkerThread != 0, null);
                handler(this, e);
                return e.State == null ? IntPtr.Zero : GCHandle.ToIntPtr(GCHandle.Alloc(e.State));
            }
            catch (Exception ex)
            {
                ReportHandlerException("ThreadStarted", 0, ex, "the thread runs without state");
                return IntPtr.Zero;
            }
        }

        void OnThreadExit(int isWorkerThread, IntPtr data)
        {
            try
            {
                var handler = ThreadExited;
                if (handler != null) handler(this, new ThreadEventArgs(isWorkerThread != 0, HandleTarget(data)));
            }
            catch (Exception ex)
            {
                ReportHandlerException("ThreadExited", 0, ex, "the thread exits anyway");
            }
            if (data != IntPtr.Zero) GCHandle.FromIntPtr(data).Free();
        }

        static void OnNativeLog(int level, IntPtr text)
        {
            try
            {
                string message = N.PtrToUtf8(text) ?? "";
                bool reported = false;
                foreach (var server in RunningServers())
                    reported |= server.ReportToHandler((TcpLogLevel)level, message);
                if (!reported) WriteStandardError((TcpLogLevel)level, message);
            }
            catch (Exception)
            {
                // Nothing may unwind into the engine, not even a broken standard error.
            }
        }

        static void InstallLogProc()
        {
            if (s_logProcInstalled) return;
            N.SetLogProc(s_logProc);
            s_logProcInstalled = true;
        }

        void ReportHandlerException(string eventName, ulong linkId, Exception ex, string consequence)
        {
            string where = linkId != 0 ? " for link " + linkId : "";
            Report(TcpLogLevel.Error, string.Format("the {0} handler threw{1}; {2}: {3}",
                                                    eventName, where, consequence, ex));
        }

        /// <summary>A log line to the Log event, or to standard error without a handler (or if
        /// the handler itself throws). TcpClusterNode reports its handlers' exceptions here.</summary>
        internal void Report(TcpLogLevel level, string message)
        {
            if (!ReportToHandler(level, message)) WriteStandardError(level, message);
        }

        /// <summary>The line to the Log event; false without a handler or if it threw.</summary>
        bool ReportToHandler(TcpLogLevel level, string message)
        {
            var handler = Log;
            if (handler == null) return false;
            try
            {
                handler(this, new LogEventArgs(level, message));
                return true;
            }
            catch (Exception ex)
            {
                WriteStandardError(TcpLogLevel.Error, "the Log handler threw: " + ex.Message);
                return false;
            }
        }

        static void WriteStandardError(TcpLogLevel level, string message)
        {
            Console.Error.WriteLine("tcpserver {0}: {1}", level.ToString().ToLowerInvariant(), message);
        }

        internal static object HandleTarget(IntPtr handle)
        {
            return handle == IntPtr.Zero ? null : GCHandle.FromIntPtr(handle).Target;
        }
    }
}
