// TcpServer.cs — the idiomatic .NET face of the tcpserver engine.
//
// The engine's API is flat (like the Delphi unit it mirrors), so one server runs per process:
// any number of TcpServer objects may exist, at most one is started at a time.
using System;
using System.Collections.Generic;
using System.Runtime.InteropServices;
using System.Threading;
using N = TcpServerLib.TcpServerNative;

namespace TcpServerLib
{
    /// <summary>A snapshot of the engine's statistics and counters (TcpServer.GetStats).</summary>
    public sealed class TcpServerStats
    {
        public int Links { get; internal set; }            // GetLinkCount
        public int LinkFree { get; internal set; }         // free link slots
        public double LinkUse { get; internal set; }       // % of MaxLinks in use
        public int LinkSize { get; internal set; }         // bytes of the link table
        public int IoMemFree { get; internal set; }        // free IO buffers
        public double IoMemUse { get; internal set; }      // % of the pool in use
        public int IoMemSize { get; internal set; }        // bytes of the IO pool
        public int Workers { get; internal set; }
        public uint ServerExecLong { get; internal set; }  // ms the last service pass took
        public int ServerExecCount { get; internal set; }  // service passes so far
        // Process-wide counters (TcpServerCounter), totals since the library loaded.
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
    }

    /// <summary>One worker's activity (TcpServer.GetWorkerStats).</summary>
    public sealed class WorkerStats
    {
        public int Index { get; internal set; }     // 1..worker count
        public int ThreadId { get; internal set; }  // OS thread id
        public int Events { get; internal set; }    // callbacks/events run
        public uint BusyMs { get; internal set; }   // ms busy since the previous GetWorkerStats
    }

    /// <summary>
    /// A TCP server on the tcpserver engine. Subscribe to the events, set options, Start(ip,
    /// port); Stop() or Dispose() ends it. Events run on engine threads; the events of one link
    /// never run concurrently and come in order: Connecting, Received*, then exactly one of
    /// Disconnected / IdleTimeout. An exception thrown by a handler is logged (Log event, or
    /// standard error) and closes its link (Connecting: refuses it); it never reaches the engine.
    /// </summary>
    public sealed class TcpServer : IDisposable
    {
        // The engine is a singleton, so is the record of who runs it. s_running also keeps the
        // running server, and so the delegates the engine calls, reachable.
        static readonly object s_lifecycle = new object();
        static volatile TcpServer s_running;
        static List<string> s_abiProblems;
        static readonly TOnLog s_logProc = OnNativeLog;  // static: the engine may log at any time
        static bool s_logProcInstalled;

        readonly TOnReceive receiveProc;
        readonly TOnDisconnect disconnectProc;
        readonly TOnLinkIdleOvertime idleProc;
        readonly TOnThreadCreate threadCreateProc;
        readonly TOnThreadExit threadExitProc;
        readonly TOnConnect connectProc;
        readonly Dictionary<TcpServerOption, long> options = new Dictionary<TcpServerOption, long>();
        bool disposed;

        static TcpServer()
        {
            // Engine threads must not call into a runtime that is shutting down under them.
            AppDomain.CurrentDomain.ProcessExit += (sender, e) =>
            {
                var server = s_running;
                try { if (server != null) server.Stop(); }
                catch (Exception ex) { Console.Error.WriteLine("tcpserver: could not stop at exit: " + ex.Message); }
            };
        }

        public TcpServer()
        {
            receiveProc = OnReceive;
            disconnectProc = OnDisconnect;
            idleProc = OnIdle;
            threadCreateProc = OnThreadCreate;
            threadExitProc = OnThreadExit;
            connectProc = OnConnect;
        }

        // ---- events -------------------------------------------------------------------------

        /// <summary>A new link, before its first Received; set Cancel to refuse it.</summary>
        public event EventHandler<ConnectingEventArgs> Connecting;
        /// <summary>Data arrived (not copied: see ReceivedEventArgs). Without a handler the
        /// server echoes, as the engine does without OnReceive.</summary>
        public event EventHandler<ReceivedEventArgs> Received;
        /// <summary>The link closed (see CloseReason); the Link is recycled after this.</summary>
        public event EventHandler<LinkEventArgs> Disconnected;
        /// <summary>The link was silent longer than IdleTimeoutMs and was closed. Without a
        /// handler, Disconnected comes instead (reason Idle).</summary>
        public event EventHandler<LinkEventArgs> IdleTimeout;
        /// <summary>Runs on each new engine thread before it serves anything.</summary>
        public event EventHandler<ThreadEventArgs> ThreadStarted;
        /// <summary>Runs on an engine thread just before it exits.</summary>
        public event EventHandler<ThreadEventArgs> ThreadExited;
        /// <summary>Engine log lines and this binding's reports. Without a handler they go to
        /// standard error.</summary>
        public event EventHandler<LogEventArgs> Log;

        // ---- lifecycle ------------------------------------------------------------------------

        /// <summary>Bind ip ("" or null = all interfaces; an IPv4 or IPv6 literal) and port
        /// (0 = ephemeral, see Port) and serve. Throws TcpServerException (BadAddress,
        /// AddressInUse, AlreadyActive when any server runs in this process, ...).</summary>
        public void Start(string ip, int port)
        {
            if (port < 0 || port > 65535)
                throw new ArgumentOutOfRangeException("port", "port must be 0..65535 (0 = ephemeral)");
            lock (s_lifecycle)
            {
                if (disposed) throw new ObjectDisposedException("TcpServer");
                if (s_running != null || N.IsTcpServerActive() != 0)
                    throw new TcpServerException(TcpServerErrorCode.AlreadyActive,
                        "start: a server is already running in this process (the engine runs one at a time); stop it first");
                CheckAbi();
                InstallLogProc();
                foreach (var option in options)
                    if (N.SetServerOption((int)option.Key, option.Value) == 0)
                        throw TcpServerException.Last(string.Format("start: option {0}={1}", option.Key, option.Value));
                N.SetEventProc(receiveProc, disconnectProc, idleProc, threadCreateProc, threadCreateProc);
                if (N.SetConnectProc(connectProc) == 0) throw TcpServerException.Last("start: SetConnectProc");
                if (N.SetThreadExitProc(threadExitProc) == 0) throw TcpServerException.Last("start: SetThreadExitProc");
                s_running = this;  // before the engine can call back
                if (N.StartTcpServer(N.Utf8z(ip ?? ""), (uint)port) == 0)
                {
                    var error = TcpServerException.Last(string.Format("start on [{0}]:{1}",
                        string.IsNullOrEmpty(ip) ? "*" : ip, port));
                    ForgetCallbacks();
                    throw error;
                }
            }
        }

        /// <summary>Close the listener and every link (each gets Disconnected, reason
        /// ServerStop), wait for all handlers and join the engine threads. Idempotent; a later
        /// Start works. From inside a handler it throws TcpServerException(InCallback).</summary>
        public void Stop() { Stop(Timeout.Infinite); }

        /// <summary>As Stop, waiting at most millisecondsTimeout (-1 = forever). Returns false if
        /// engine threads are still finishing: stopping goes on; call again to keep waiting.</summary>
        public bool Stop(int millisecondsTimeout)
        {
            if (s_running != this) return true;
            // Not under s_lifecycle: a handler still running may need it (e.g. to fail a Start).
            if (N.StopTcpServerEx(millisecondsTimeout < 0 ? -1 : millisecondsTimeout) == 0)
            {
                var error = TcpServerException.Last("stop");
                if (error.Code == TcpServerErrorCode.Timeout) return false;
                throw error;
            }
            lock (s_lifecycle)
                if (s_running == this) ForgetCallbacks();
            return true;
        }

        /// <summary>Stops the server (see Stop); the object cannot start again.</summary>
        public void Dispose()
        {
            Stop();
            lock (s_lifecycle) disposed = true;
        }

        /// <summary>Unhook this server's delegates from the engine, then let it go: the engine
        /// must never hold a pointer to a delegate the GC may collect.</summary>
        void ForgetCallbacks()
        {
            N.SetEventProc(null, null, null, null, null);
            N.SetConnectProc(null);
            N.SetThreadExitProc(null);
            s_running = null;
        }

        /// <summary>True while this server runs.</summary>
        public bool IsActive { get { return s_running == this && N.IsTcpServerActive() != 0; } }

        /// <summary>The bound port (useful after Start(ip, 0)); 0 when not running.</summary>
        public int Port { get { return s_running == this ? (int)N.GetServerPort() : 0; } }

        /// <summary>Throws TcpServerException(NotSupported) if the loaded library's major version
        /// or record layout differs from this binding's (checked once per process).</summary>
        public static void CheckAbi()
        {
            if (s_abiProblems == null)
                s_abiProblems = N.LayoutMismatches(N.PtrToUtf8(N.GetAbiLayout()), N.GetVersion());
            if (s_abiProblems.Count > 0)
                throw new TcpServerException(TcpServerErrorCode.NotSupported,
                    "the loaded tcpserver library does not match this C# binding (rebuild or update one of them): " +
                    string.Join("; ", s_abiProblems.ToArray()));
        }

        // ---- sending and closing (any thread, any time) ------------------------------------------

        /// <summary>Copy data (any length) into the send queue of link linkId. Throws
        /// TcpServerException when nothing could be queued (LinkClosed, SendQueueFull, ...).</summary>
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

        /// <summary>Send data (copied once, shared) to every link open now; returns how many
        /// links it was queued to.</summary>
        public int Broadcast(byte[] data) { return Broadcast(data, 0, Link.Checked(data).Length); }
        public unsafe int Broadcast(byte[] data, int offset, int count)
        {
            Link.CheckRange(data, offset, count);
            if (count == 0) return 0;
            fixed (byte* bytes = data)
                return Broadcast((IntPtr)(bytes + offset), count);
        }
        public int Broadcast(IntPtr data, int count)
        {
            if (count < 0) throw new ArgumentOutOfRangeException("count", "count must not be negative");
            if (count == 0) return 0;
            int links = N.PostBroadcast(data, count);
            if (links < 0) throw TcpServerException.Last("broadcast");
            return links;
        }

        /// <summary>Close link linkId (pending sends flush first unless abort). Returns false if
        /// it is already closed or gone; otherwise Disconnected follows (reason ByApp).</summary>
        public bool CloseLink(ulong linkId, bool abort = false)
        {
            if (N.CloseLinkByIdEx(linkId, abort ? N.TS_CLOSE_FLAG_ABORT : 0) != 0) return true;
            var error = TcpServerException.Last("close link " + linkId);
            if (error.Code == TcpServerErrorCode.LinkClosed) return false;
            throw error;
        }

        // ---- options (kept here, applied at Start; unset ones keep the engine's value) ------------

        /// <summary>The value this server will start with: what was set here, else the engine's.</summary>
        public long GetOption(TcpServerOption option)
        {
            long value;
            lock (options)
                if (options.TryGetValue(option, out value)) return value;
            value = N.GetServerOption((int)option);
            if (value < 0 && N.GetLastErrorCode() == N.TS_ERR_UNKNOWN_OPTION)
                throw TcpServerException.Last("option " + option);
            return value;
        }

        /// <summary>Set an option for the next Start (checked against its range now; LogLevel
        /// also applies at once). Throws ArgumentOutOfRangeException outside the range.</summary>
        public void SetOption(TcpServerOption option, long value)
        {
            long min, max;
            GetOptionRange(option, out min, out max);
            if (value < min || value > max)
                throw new ArgumentOutOfRangeException("value", value, string.Format(
                    "option {0} must be {1}..{2}", option, min, max));
            lock (options) options[option] = value;
            if (option == TcpServerOption.LogLevel && N.SetServerOption((int)option, value) == 0)
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
        public bool ReusePort { get { return GetOption(TcpServerOption.ReusePort) != 0; } set { SetOption(TcpServerOption.ReusePort, value ? 1 : 0); } }
        public bool ReuseAddress { get { return GetOption(TcpServerOption.ReuseAddress) != 0; } set { SetOption(TcpServerOption.ReuseAddress, value ? 1 : 0); } }
        public TcpFraming Framing { get { return (TcpFraming)GetOption(TcpServerOption.Framing); } set { SetOption(TcpServerOption.Framing, (long)value); } }
        public TcpLogLevel LogLevel { get { return (TcpLogLevel)GetOption(TcpServerOption.LogLevel); } set { SetOption(TcpServerOption.LogLevel, (long)value); } }

        // ---- statistics -------------------------------------------------------------------------

        public int LinkCount { get { return N.GetLinkCount(); } }

        /// <summary>A process-wide total since the library loaded (never reset).</summary>
        public static long GetCounter(TcpServerCounter counter)
        {
            long value = N.GetServerCounter((int)counter);
            if (value < 0) throw TcpServerException.Last("counter " + counter);
            return value;
        }

        public TcpServerStats GetStats()
        {
            return new TcpServerStats
            {
                Links = N.GetLinkCount(), LinkFree = N.GetLinkFree(), LinkUse = N.GetLinkUse(),
                LinkSize = N.GetLinkSize(), IoMemFree = N.GetIOMemFree(), IoMemUse = N.GetIOMemUse(),
                IoMemSize = N.GetIOMemSize(), Workers = N.GetWorkerCount(),
                ServerExecLong = N.GetServerExecLong(), ServerExecCount = N.GetServerExecCount(),
                BytesIn = GetCounter(TcpServerCounter.BytesIn), BytesOut = GetCounter(TcpServerCounter.BytesOut),
                MessagesIn = GetCounter(TcpServerCounter.MessagesIn), MessagesOut = GetCounter(TcpServerCounter.MessagesOut),
                Accepts = GetCounter(TcpServerCounter.Accepts), Refused = GetCounter(TcpServerCounter.Refused),
                SendQueueDrops = GetCounter(TcpServerCounter.SendQueueDrops), Closed = GetCounter(TcpServerCounter.Closed),
                IdleClosed = GetCounter(TcpServerCounter.IdleClosed), ReceivePauses = GetCounter(TcpServerCounter.ReceivePauses),
            };
        }

        /// <summary>Per worker: thread id, events run, and ms busy since the previous call.</summary>
        public WorkerStats[] GetWorkerStats()
        {
            int count = N.GetWorkerCount();
            var result = new WorkerStats[count];
            for (int index = 1; index <= count; index++)
            {
                uint busy;
                int events = N.GetWorkerExecInfo(index, out busy);
                result[index - 1] = new WorkerStats { Index = index, ThreadId = N.GetWorkerID(index), Events = events, BusyMs = busy };
            }
            return result;
        }

        // ---- library-wide helpers -----------------------------------------------------------------

        /// <summary>The loaded library's version text, e.g. "tcpserver 1.0.0".</summary>
        public static string Version { get { return N.PtrToUtf8(N.GetVersionText()); } }
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

        void OnDisconnect(IntPtr record) { RaiseLast(Disconnected, "Disconnected", record); }

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
                var server = s_running;
                string message = N.PtrToUtf8(text) ?? "";
                if (server != null) server.Report((TcpLogLevel)level, message);
                else WriteStandardError((TcpLogLevel)level, message);
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
        /// the handler itself throws).</summary>
        void Report(TcpLogLevel level, string message)
        {
            var handler = Log;
            if (handler != null)
            {
                try
                {
                    handler(this, new LogEventArgs(level, message));
                    return;
                }
                catch (Exception ex)
                {
                    WriteStandardError(TcpLogLevel.Error, "the Log handler threw: " + ex.Message);
                }
            }
            WriteStandardError(level, message);
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
