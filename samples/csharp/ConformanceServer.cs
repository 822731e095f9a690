// ConformanceServer.cs — the conformance server of tests/conformance/PROTOCOL.md, on the C#
// binding's TcpServer class.
//
// Echoes everything; a chunk "BCAST <text>\n" broadcasts "<text>\n" to every link, "STATS\n"
// answers with the statistics, "CLOSE\n" closes the link, "THROW\n" throws in the handler (the
// binding logs it and closes the link), "REFUSE ON|OFF\n" toggles refusing new links.
// Standard input: "stats" prints a STATS line; "quit" or end of input stops the server.
//
// Run: mono ConformanceServer.exe [--port N] [--ip TEXT] [--idle-ms N] [--max-links N]
//      [--workers N] [--buffer-size N] [--buffer-count N]
// (libtcpserver.so next to the .exe, or on LD_LIBRARY_PATH)
using System;
using System.Collections.Generic;
using System.Text;
using System.Threading;
using TcpServerLib;

static class ConformanceServer
{
    // Command-line flag -> option (PROTOCOL.md: each maps to the same-named option).
    static readonly Dictionary<string, TcpServerOption> OptionFlags = new Dictionary<string, TcpServerOption>
    {
        { "--idle-ms", TcpServerOption.IdleTimeoutMs },
        { "--max-links", TcpServerOption.MaxLinks },
        { "--workers", TcpServerOption.WorkerThreads },
        { "--buffer-size", TcpServerOption.IoBufferSize },
        { "--buffer-count", TcpServerOption.IoBufferCount },
    };

    static readonly byte[] Bcast = Ascii("BCAST "), Stats = Ascii("STATS\n"), Close = Ascii("CLOSE\n"),
                           Throw = Ascii("THROW\n"), Refuse = Ascii("REFUSE "), RefuseOn = Ascii("REFUSE ON\n"),
                           Ok = Ascii("OK\n");

    static TcpServer server;
    static volatile bool refuse;
    static int disconnects, idle;

    static int Main(string[] args)
    {
        string ip = "127.0.0.1";
        int port = 0;
        server = new TcpServer();
        try
        {
            for (int i = 0; i < args.Length; i += 2)
            {
                if (i + 1 >= args.Length) return Usage(args[i] + " needs a value");
                TcpServerOption option;
                long value;
                if (args[i] == "--ip") ip = args[i + 1];
                else if (!long.TryParse(args[i + 1], out value)) return Usage(args[i] + " needs a number, not " + args[i + 1]);
                else if (args[i] == "--port") port = (int)value;
                else if (OptionFlags.TryGetValue(args[i], out option)) server.SetOption(option, value);
                else return Usage("unknown flag " + args[i]);
            }
        }
        catch (ArgumentOutOfRangeException error)
        {
            return Usage(error.Message);
        }

        server.Connecting += (s, e) => e.Cancel = refuse;
        server.Received += OnReceived;
        server.Disconnected += (s, e) => Interlocked.Increment(ref disconnects);
        server.IdleTimeout += (s, e) => Interlocked.Increment(ref idle);
        server.Log += (s, e) => Console.Error.WriteLine("conformance_server: {0}: {1}", e.Level, e.Message);
        try
        {
            server.Start(ip, port);
        }
        catch (Exception error)
        {
            Console.Error.WriteLine("conformance_server: cannot start: " + error.Message);
            return 1;
        }
        Print("PORT " + server.Port);

        string line;
        while ((line = Console.In.ReadLine()) != null)
        {
            string command = line.Trim();
            if (command == "stats") Print(StatsLine());
            else if (command == "quit") break;
        }
        try
        {
            server.Dispose();
        }
        catch (TcpServerException error)
        {
            Console.Error.WriteLine("conformance_server: stop failed: " + error.Message);
            return 1;
        }
        Print(string.Format("STOPPED disconnects={0} idle={1}", Volatile.Read(ref disconnects), Volatile.Read(ref idle)));
        return 0;
    }

    static void OnReceived(object sender, ReceivedEventArgs e)
    {
        if (e[e.Length - 1] == (byte)'\n')  // only a chunk ending in a newline can be a command
        {
            if (e.StartsWith(Bcast))
            {
                server.Broadcast(e.Data + Bcast.Length, e.Length - Bcast.Length);
                return;
            }
            if (e.StartsWith(Stats))
            {
                Reply(e, Ascii(StatsLine() + "\n"));
                return;
            }
            if (e.StartsWith(Close))
            {
                e.Link.Close();
                return;
            }
            if (e.StartsWith(Throw))
                throw new InvalidOperationException("THROW requested by the client");
            if (e.StartsWith(Refuse))
            {
                refuse = e.StartsWith(RefuseOn);
                Reply(e, Ok);
                return;
            }
        }
        // Echo straight from the engine's buffer: no managed copy.
        if (!e.Link.TrySend(e.Data, e.Length)) e.CloseLink = true;
    }

    /// <summary>Send, or close the link quietly if the send is refused (as the C sample does).</summary>
    static void Reply(ReceivedEventArgs e, byte[] data)
    {
        if (!e.Link.TrySend(data)) e.CloseLink = true;
    }

    static string StatsLine()
    {
        var s = server.GetStats();
        return string.Format(
            "STATS links={0} accepts={1} refused={2} closed={3} idle_closed={4} bytes_in={5} " +
            "bytes_out={6} msgs_in={7} msgs_out={8} iomem_free={9} iomem_count={10} workers={11} " +
            "disconnects={12} idle={13}",
            s.Links, s.Accepts, s.Refused, s.Closed, s.IdleClosed, s.BytesIn, s.BytesOut, s.MessagesIn,
            s.MessagesOut, s.IoMemFree, server.IoBufferCount, s.Workers,
            Volatile.Read(ref disconnects), Volatile.Read(ref idle));
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
                                "[--workers N] [--buffer-size N] [--buffer-count N]");
        return 2;
    }

    static byte[] Ascii(string text) { return Encoding.ASCII.GetBytes(text); }
}
