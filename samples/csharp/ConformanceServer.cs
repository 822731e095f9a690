// ConformanceServer.cs — the conformance server of tests/conformance/PROTOCOL.md in C#.
//
// The first server uses the flat (original) API straight through TcpServerNative, as a program
// ported from the Delphi unit would. With --second-server a second one runs beside it on the
// binding's TcpServer class (its own engine server, created with CreateTcpServer; events reach
// the object through the Context pointer). Both speak the same wire commands (Commands below);
// only what is per server (broadcasts, link lists, statistics) differs (Side).
//
// Run: mono ConformanceServer.exe [--port N] [--ip TEXT] [--idle-ms N] [--max-links N]
//      [--workers N] [--buffer-size N] [--buffer-count N] [--framing N] [--max-message N]
//      [--send-queue-limit N] [--send-queue-policy N] [--keepalive-idle N]
//      [--keepalive-interval N] [--keepalive-count N] [--ipv6-only N] [--memory-budget N]
//      [--send-high-water N] [--message-timeout-ms N] [--max-links-per-address N]
//      [--accept-rate N] [--tls-cert FILE [--tls-key FILE] [--tls-password TEXT]]
//      [--tls-min-version N] [--tls-client-cert N] [--tls-handshake-timeout-ms N]
//      [--tls-max-handshakes N] [--tls-session-tickets N] [--second-server]
// With --tls-cert the first server speaks TLS (SetTlsCertificateFile, TS_OPT_TLS = 1).
// (libtcpserver.so next to the .exe, or on LD_LIBRARY_PATH)
using System;
using System.Collections.Generic;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using TcpServerLib;
using N = TcpServerLib.TcpServerNative;

static class ConformanceServer
{
    // Command-line flag -> option of the first server (PROTOCOL.md: each maps to the same-named option).
    static readonly Dictionary<string, int> OptionFlags = new Dictionary<string, int>
    {
        { "--idle-ms", N.TS_OPT_IDLE_TIMEOUT_MS },
        { "--max-links", N.TS_OPT_MAX_LINKS },
        { "--workers", N.TS_OPT_WORKER_THREADS },
        { "--buffer-size", N.TS_OPT_IO_BUFFER_SIZE },
        { "--buffer-count", N.TS_OPT_IO_BUFFER_COUNT },
        { "--framing", N.TS_OPT_FRAMING },
        { "--max-message", N.TS_OPT_MAX_MESSAGE_SIZE },
        { "--send-queue-limit", N.TS_OPT_SEND_QUEUE_LIMIT },
        { "--send-queue-policy", N.TS_OPT_SEND_QUEUE_POLICY },
        { "--keepalive-idle", N.TS_OPT_KEEPALIVE_IDLE_S },
        { "--keepalive-interval", N.TS_OPT_KEEPALIVE_INTERVAL_S },
        { "--keepalive-count", N.TS_OPT_KEEPALIVE_COUNT },
        { "--ipv6-only", N.TS_OPT_IPV6_ONLY },
        { "--memory-budget", N.TS_OPT_MEMORY_BUDGET },
        { "--send-high-water", N.TS_OPT_SEND_HIGH_WATER },
        { "--message-timeout-ms", N.TS_OPT_MESSAGE_TIMEOUT_MS },
        { "--max-links-per-address", N.TS_OPT_MAX_LINKS_PER_ADDRESS },
        { "--accept-rate", N.TS_OPT_ACCEPT_RATE },
        { "--tls-min-version", N.TS_OPT_TLS_MIN_VERSION },
        { "--tls-client-cert", N.TS_OPT_TLS_CLIENT_CERT },
        { "--tls-handshake-timeout-ms", N.TS_OPT_TLS_HANDSHAKE_TIMEOUT_MS },
        { "--tls-max-handshakes", N.TS_OPT_TLS_MAX_HANDSHAKES },
        { "--tls-session-tickets", N.TS_OPT_TLS_SESSION_TICKETS },
    };

    // The first server's callbacks: static fields, so the engine's pointers stay valid for the
    // whole process.
    static readonly TOnReceive ReceiveProc = OnReceive;
    static readonly TOnDisconnect DisconnectProc = OnDisconnect;
    static readonly TOnLinkIdleOvertime IdleProc = OnIdle;
    static readonly TOnConnect ConnectProc = OnConnect;

    static readonly FlatSide first = new FlatSide();
    static ObjectSide second;

    static int Main(string[] args)
    {
        string ip = "127.0.0.1";
        int port = 0;
        bool withSecond = false;
        string tlsCert = null, tlsKey = null, tlsPassword = null;
        for (int i = 0; i < args.Length; i++)
        {
            string flag = args[i];
            if (flag == "--second-server")
            {
                // A value is optional ("--second-server 0" turns it off), for harnesses that
                // always pass flag/value pairs.
                withSecond = i + 1 >= args.Length || args[i + 1].StartsWith("--") || args[++i] != "0";
                continue;
            }
            if (i + 1 >= args.Length) return Usage(flag + " needs a value");
            string text = args[++i];
            long value;
            int option;
            if (flag == "--ip") ip = text;
            else if (flag == "--tls-cert") tlsCert = text;
            else if (flag == "--tls-key") tlsKey = text;
            else if (flag == "--tls-password") tlsPassword = text;
            else if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out value))
                return Usage(flag + " needs a number, not " + text);
            else if (flag == "--port") port = (int)value;
            else if (OptionFlags.TryGetValue(flag, out option))
            {
                if (N.SetServerOption(option, value) == 0) return Usage(flag + ": " + LastError());
                if (flag.StartsWith("--keepalive-") && N.SetServerOption(N.TS_OPT_KEEPALIVE, 1) == 0)
                    return Usage(flag + ": " + LastError());
            }
            else return Usage("unknown flag " + flag);
        }

        if (tlsCert != null)
        {
            // A program on the original flat API gains TLS with one certificate call and an option.
            if (N.SetTlsCertificateFile(N.Utf8z(tlsCert), N.Utf8z(tlsKey), N.Utf8z(tlsPassword)) == 0)
                return Usage("--tls-cert: " + LastError());
            if (N.SetServerOption(N.TS_OPT_TLS, 1) == 0) return Usage("--tls-cert: " + LastError());
        }
        else if (tlsKey != null || tlsPassword != null) return Usage("the --tls-* flags need --tls-cert FILE");

        N.SetEventProc(ReceiveProc, DisconnectProc, IdleProc, null, null);
        if (N.SetConnectProc(ConnectProc) == 0 || N.StartTcpServer(N.Utf8z(ip), (uint)port) == 0)
        {
            Console.Error.WriteLine("conformance_server: cannot start: " + LastError());
            return 1;
        }
        Print("PORT " + N.GetServerPort());
        if (withSecond)
        {
            try
            {
                second = new ObjectSide(new TcpServer());
                second.Server.Start(ip, 0);
            }
            catch (Exception error)
            {
                Console.Error.WriteLine("conformance_server: cannot start the second server: " + error.Message);
                N.StopTcpServer();
                return 1;
            }
            Print("PORT2 " + second.Server.Port);
        }

        string line;
        while ((line = Console.In.ReadLine()) != null)
        {
            string command = line.Trim();
            if (command == "stats") Print(first.StatsLine("STATS"));
            else if (command == "stats2") { if (Second("stats2")) Print(second.StatsLine("STATS2")); }
            else if (command == "stop2") { if (Second("stop2") && StopSecond()) Print("STOPPED2 disconnects=" + second.Disconnects); }
            else if (command == "quit") break;
        }
        bool stopped = N.StopTcpServer() != 0;
        if (!stopped) Console.Error.WriteLine("conformance_server: stop failed: " + LastError());
        if (second != null && second.Server.Handle != IntPtr.Zero && !StopSecond()) stopped = false;
        if (!stopped) return 1;
        Print(string.Format("STOPPED disconnects={0} idle={1}", first.Disconnects, first.Idle));
        return 0;
    }

    static bool Second(string command)
    {
        if (second == null) Console.Error.WriteLine("conformance_server: " + command + " needs --second-server");
        else if (second.Server.Handle == IntPtr.Zero) Console.Error.WriteLine("conformance_server: " + command + ": the second server is gone");
        else return true;
        return false;
    }

    static bool StopSecond()
    {
        try
        {
            second.Server.Dispose();  // DestroyTcpServer: its links get Disconnected first
            return true;
        }
        catch (TcpServerException error)
        {
            Console.Error.WriteLine("conformance_server: stopping the second server failed: " + error.Message);
            return false;
        }
    }

    // ---- the first server's callbacks: nothing may unwind into the engine ----------------------

    static int OnReceive(IntPtr link, IntPtr buf, int len)
    {
        try
        {
            return Commands.Handle(first, link, buf, len) ? 1 : 0;
        }
        catch (Exception error)
        {
            Console.Error.WriteLine("conformance_server: the OnReceive handler threw for link {0}; the link is closed: {1}",
                                    LinkId(link), error);
            return 0;
        }
    }

    static int OnConnect(IntPtr link) { return first.Refuse ? 0 : 1; }
    static void OnDisconnect(IntPtr link) { first.CountClose(link, false); }
    static void OnIdle(IntPtr link) { first.CountClose(link, true); }

    internal static unsafe ulong LinkId(IntPtr link) { return ((TcpLink*)link)->Id; }

    internal static string LastError()
    {
        return N.PtrToUtf8(N.GetLastErrorText()) + " (error " + N.GetLastErrorCode() + ")";
    }

    static void Print(string line)
    {
        Console.Out.WriteLine(line);
        Console.Out.Flush();
    }

    static int Usage(string problem)
    {
        Console.Error.WriteLine("conformance_server: " + problem);
        Console.Error.WriteLine("usage: ConformanceServer.exe [--port N] [--ip TEXT] [--idle-ms N] [--max-links N] " +
                                "[--workers N] [--buffer-size N] [--buffer-count N] [--framing N] [--max-message N] " +
                                "[--send-queue-limit N] [--send-queue-policy N] [--keepalive-idle N] " +
                                "[--keepalive-interval N] [--keepalive-count N] [--ipv6-only N] " +
                                "[--memory-budget N] [--send-high-water N] [--message-timeout-ms N] " +
                                "[--max-links-per-address N] [--accept-rate N] [--tls-cert FILE] [--tls-key FILE] " +
                                "[--tls-password TEXT] [--tls-min-version N] [--tls-client-cert N] " +
                                "[--tls-handshake-timeout-ms N] [--tls-max-handshakes N] [--tls-session-tickets N] " +
                                "[--second-server]");
        return 2;
    }
}

/// <summary>What differs between the two servers: broadcasts, link lists and statistics; and
/// what the sample counts for each (OnDisconnect / OnLinkIdleOvertime calls by close reason).</summary>
abstract class Side
{
    int disconnects, idle;
    readonly int[] closedByReason = new int[N.TS_CLOSE_TLS_NO_CLOSE_NOTIFY + 1];

    public volatile bool Refuse;
    public int Disconnects { get { return Volatile.Read(ref disconnects); } }
    public int Idle { get { return Volatile.Read(ref idle); } }

    public abstract int Broadcast(IntPtr buf, int len, ulong exceptLinkId);
    public abstract ulong[] LinkIds();
    protected abstract long[] EngineStats();  // links, the counters, iomem_free, iomem_count, workers, TLS

    public unsafe void CountClose(IntPtr link, bool idleEvent)
    {
        // The reason first: a client that saw disconnects change finds it counted too.
        int reason = ((TcpLink*)link)->CloseReason;
        if (reason > 0 && reason < closedByReason.Length) Interlocked.Increment(ref closedByReason[reason]);
        if (idleEvent) Interlocked.Increment(ref idle);
        else Interlocked.Increment(ref disconnects);
    }

    static readonly string[] EngineKeys = { "links", "accepts", "refused", "closed", "idle_closed", "bytes_in",
                                            "bytes_out", "msgs_in", "msgs_out", "framing_errors", "iomem_free",
                                            "iomem_count", "workers", "tls_handshakes", "tls_resumed",
                                            "tls_failures" };

    /// <summary>The TLS counters EngineStats reports last, in EngineKeys order.</summary>
    protected static readonly int[] TlsCounters = { N.TS_COUNTER_TLS_HANDSHAKES, N.TS_COUNTER_TLS_RESUMED,
                                                    N.TS_COUNTER_TLS_HANDSHAKE_FAILURES };

    /// <summary>The counters EngineStats reports after "links", in EngineKeys order.</summary>
    protected static readonly int[] Counters = { N.TS_COUNTER_ACCEPTS, N.TS_COUNTER_REFUSED, N.TS_COUNTER_CLOSED,
                                                 N.TS_COUNTER_IDLE_CLOSED, N.TS_COUNTER_BYTES_IN, N.TS_COUNTER_BYTES_OUT,
                                                 N.TS_COUNTER_MSGS_IN, N.TS_COUNTER_MSGS_OUT, N.TS_COUNTER_FRAMING_ERRORS };

    public string StatsLine(string keyword)
    {
        var line = new StringBuilder(keyword);
        long[] values = EngineStats();
        for (int i = 0; i < EngineKeys.Length; i++) line.Append(' ').Append(EngineKeys[i]).Append('=').Append(values[i]);
        line.Append(" disconnects=").Append(Disconnects).Append(" idle=").Append(Idle);
        for (int reason = 1; reason < closedByReason.Length; reason++)
            line.Append(" closed_").Append(reason).Append('=').Append(Volatile.Read(ref closedByReason[reason]));
        return line.ToString();
    }
}

/// <summary>The first server: the engine's default server, through the flat API.</summary>
sealed class FlatSide : Side
{
    public override int Broadcast(IntPtr buf, int len, ulong exceptLinkId)
    {
        return exceptLinkId == 0 ? N.PostBroadcast(buf, len) : N.PostBroadcastExcept(buf, len, exceptLinkId);
    }

    public override ulong[] LinkIds()
    {
        var ids = new ulong[16];
        while (true)
        {
            int count = N.GetLinkIds(ids, ids.Length);
            if (count < 0) throw new InvalidOperationException("GetLinkIds: " + ConformanceServer.LastError());
            if (count <= ids.Length)
            {
                Array.Resize(ref ids, count);
                return ids;
            }
            ids = new ulong[count * 2];  // links came meanwhile: room for them and more
        }
    }

    protected override long[] EngineStats()
    {
        var values = new List<long> { N.GetLinkCount() };
        foreach (int counter in Counters) values.Add(N.GetServerCounter(counter));
        values.Add(N.GetIOMemFree());
        values.Add(N.GetServerOption(N.TS_OPT_IO_BUFFER_COUNT));
        values.Add(N.GetWorkerCount());
        foreach (int counter in TlsCounters) values.Add(N.GetServerCounter(counter));
        return values.ToArray();
    }
}

/// <summary>The second server: a TcpServer object of the binding.</summary>
sealed class ObjectSide : Side
{
    public readonly TcpServer Server;

    public ObjectSide(TcpServer server)
    {
        Server = server;
        server.Connecting += (s, e) => e.Cancel = Refuse;
        // A throwing command (THROW) is the binding's to catch, log and close.
        server.Received += (s, e) => e.CloseLink = !Commands.Handle(this, e.Link.Handle, e.Data, e.Length);
        server.Disconnected += (s, e) => CountClose(e.Link.Handle, false);
        server.IdleTimeout += (s, e) => CountClose(e.Link.Handle, true);
        // Engine lines (about either server) and the binding's reports about this one.
        server.Log += (s, e) => Console.Error.WriteLine("conformance_server: {0}: {1}", e.Level, e.Message);
    }

    public override int Broadcast(IntPtr buf, int len, ulong exceptLinkId) { return Server.BroadcastExcept(exceptLinkId, buf, len); }
    public override ulong[] LinkIds() { return Server.GetLinkIds(); }

    protected override long[] EngineStats()
    {
        var s = Server.GetStats();
        return new[] { s.Links, s.Accepts, s.Refused, s.Closed, s.IdleClosed, s.BytesIn, s.BytesOut, s.MessagesIn,
                       s.MessagesOut, s.FramingErrors, s.IoMemFree, Server.IoBufferCount, s.Workers,
                       s.TlsHandshakes, s.TlsResumed, s.TlsHandshakeFailures };
    }
}

/// <summary>The wire commands of PROTOCOL.md, the same for both servers. Link calls (SendBuffer,
/// CloseLink, PauseReceiveById, ...) work for links of any server; only Side is per server.</summary>
static class Commands
{
    /// <summary>Handle one received chunk (a whole message with framing); false closes the link.</summary>
    public static unsafe bool Handle(Side side, IntPtr link, IntPtr buf, int len)
    {
        byte* bytes = (byte*)buf;
        // Only a chunk ending in a newline can be a command; anything else is echoed in place.
        if (len > 0 && bytes[len - 1] == (byte)'\n')
        {
            string line = Encoding.ASCII.GetString(bytes, len - 1);
            ulong self = ConformanceServer.LinkId(link);
            if (line.StartsWith("BCAST "))
            {
                side.Broadcast(buf + 6, len - 6, 0);
                return true;
            }
            if (line.StartsWith("BCASTX "))
            {
                side.Broadcast(buf + 7, len - 7, self);
                return true;
            }
            if (line == "STATS") return Reply(link, side.StatsLine("STATS"));
            if (line == "CLOSE")
            {
                N.CloseLink(link);
                return true;
            }
            if (line == "THROW") throw new InvalidOperationException("THROW requested by the client");
            if (line.StartsWith("REFUSE "))
            {
                side.Refuse = line == "REFUSE ON";
                return Reply(link, "OK");
            }
            if (line == "ID") return Reply(link, "ID " + self);
            if (line == "LINKS") return Reply(link, "LINKS " + string.Join(" ", Array.ConvertAll(side.LinkIds(), id => id.ToString())));
            if (line.StartsWith("PAUSE ")) return Reply(link, Result(N.PauseReceiveById(IdArgument(line))));
            if (line.StartsWith("RESUME ")) return Reply(link, Result(N.ResumeReceiveById(IdArgument(line))));
            if (line.StartsWith("QUEUED ")) return Reply(link, "QUEUED " + N.GetSendQueueBytesById(IdArgument(line)));
            if (line.StartsWith("FLOOD "))
            {
                Flood(link, (int)IdArgument(line));
                return true;
            }
            if (line.StartsWith("TLS ")) return Reply(link, TlsInfo(link, (int)IdArgument(line)));
        }
        return N.SendBuffer(link, buf, len) != 0;  // echo; a refused send (queue over its limit) closes
    }

    /// <summary>A reply line; a refused send closes the link quietly (as the C sample does).</summary>
    static unsafe bool Reply(IntPtr link, string text)
    {
        byte[] reply = Encoding.ASCII.GetBytes(text + "\n");
        fixed (byte* bytes = reply)
            return N.SendBuffer(link, (IntPtr)bytes, reply.Length) != 0;
    }

    static string Result(int ok) { return ok != 0 ? "OK" : "ERR " + N.GetLastErrorCode(); }

    /// <summary>TLS &lt;what&gt;: "TLS &lt;text&gt;" (GetLinkTlsInfo, any server's link), or "ERR &lt;code&gt;".</summary>
    static string TlsInfo(IntPtr link, int what)
    {
        var text = new byte[1024];
        int length = N.GetLinkTlsInfo(link, what, text, text.Length);
        return length < 0 ? "ERR " + N.GetLastErrorCode() : "TLS " + Encoding.UTF8.GetString(text, 0, length);
    }

    /// <summary>The number after the command word; 0 (never a link id) when there is none.</summary>
    static ulong IdArgument(string line)
    {
        ulong value;
        return ulong.TryParse(line.Substring(line.IndexOf(' ') + 1).Trim(), NumberStyles.None,
                              CultureInfo.InvariantCulture, out value) ? value : 0;
    }

    /// <summary>n bytes, byte i = i % 251, in one SendBuffer; nothing is replied if it fails
    /// (the send-queue policy may have closed the link).</summary>
    static unsafe void Flood(IntPtr link, int n)
    {
        if (n <= 0) return;
        var data = new byte[n];
        for (int i = 0; i < n; i++) data[i] = (byte)(i % 251);
        fixed (byte* bytes = data)
            N.SendBuffer(link, (IntPtr)bytes, n);
    }
}
