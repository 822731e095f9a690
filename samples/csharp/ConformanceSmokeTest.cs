// ConformanceSmokeTest.cs — runs ConformanceServer.exe as a subprocess and walks through
// tests/conformance/PROTOCOL.md once (the shared pytest suite goes deeper; this keeps the
// sample honest in `ctest -L csharp`).
//
// Usage: mono ConformanceSmokeTest.exe <mono> <ConformanceServer.exe>
using System;
using System.Diagnostics;
using System.IO;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;

static class ConformanceSmokeTest
{
    const int DeadlineMs = 5000;
    static int passed, failed;

    static int Main(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: ConformanceSmokeTest.exe <mono> <ConformanceServer.exe>");
            return 2;
        }
        Run("the wire commands and the stdin commands", () => WireAndStdin(args[0], args[1]));
        Run("--idle-ms closes silent links and counts them", () => IdleFlag(args[0], args[1]));
        Run("a bad flag is refused with exit code 2", () => BadFlag(args[0], args[1]));
        Run("ID, LINKS, BCASTX, PAUSE/RESUME, QUEUED and FLOOD", () => LinkCommands(args[0], args[1]));
        Run("--second-server runs a TcpServer object beside the flat server", () => SecondServer(args[0], args[1]));
        Run("--framing 1 frames commands, replies and echoes; a bad header closes the link", () => Framing(args[0], args[1]));
        Console.WriteLine("{0} passed, {1} failed", passed, failed);
        return failed == 0 ? 0 : 1;
    }

    static void WireAndStdin(string mono, string exe)
    {
        using (var server = new ServerProcess(mono, exe, "--workers 2"))
        {
            int port = server.Port;
            using (var a = Connect(port))
            using (var b = Connect(port))
            {
                Send(a, "hello");
                Expect(ReadText(a, 5) == "hello", "echo");
                Send(b, "STATS\n");
                string stats = ReadLine(b);
                foreach (var key in new[] { "links=2", "accepts=", "refused=", "closed=", "idle_closed=", "bytes_in=",
                                            "bytes_out=", "msgs_in=", "msgs_out=", "iomem_free=", "iomem_count=",
                                            "workers=2", "disconnects=0", "idle=0" })
                    Expect(stats.StartsWith("STATS ") && stats.Contains(" " + key), "STATS has " + key + ": " + stats);
                Send(a, "BCAST hi all\n");
                Expect(ReadText(a, 7) == "hi all\n" && ReadText(b, 7) == "hi all\n", "BCAST reaches both links");

                Send(b, "REFUSE ON\n");
                Expect(ReadText(b, 3) == "OK\n", "REFUSE ON answers OK");
                using (var refused = Connect(port))
                    Expect(ClosedByServer(refused), "a new link is refused");
                Send(b, "REFUSE OFF\n");
                Expect(ReadText(b, 3) == "OK\n", "REFUSE OFF answers OK");

                Send(a, "THROW\n");
                Expect(ClosedByServer(a), "THROW closes the link");
                WaitFor(() => server.Errors.Contains("THROW requested by the client"), "the exception is logged to stderr");
                Send(b, "CLOSE\n");
                Expect(ClosedByServer(b), "CLOSE closes the link");
            }
            using (var c = Connect(port))
            {
                Send(c, "still serving");
                Expect(ReadText(c, 13) == "still serving", "serves after THROW");
            }
            server.WriteLine("stats");
            Expect(server.ReadLine().StartsWith("STATS links="), "stdin stats prints a STATS line");
            server.WriteLine("quit");
            string stopped = server.ReadLine();
            // THROW, CLOSE and the last client; the refused link gets no event.
            Expect(stopped == "STOPPED disconnects=3 idle=0", "disconnects counted: " + stopped);
            Expect(server.WaitForExit() == 0, "exit code 0");
        }
    }

    static void IdleFlag(string mono, string exe)
    {
        using (var server = new ServerProcess(mono, exe, "--idle-ms 200 --workers 1"))
        {
            using (var client = Connect(server.Port))
                Expect(ClosedByServer(client), "the silent link is closed");
            server.CloseInput();  // end of input stops the server, as "quit"
            string stopped = server.ReadLine();
            Expect(stopped == "STOPPED disconnects=0 idle=1", "the idle close is counted: " + stopped);
            Expect(server.WaitForExit() == 0, "exit code 0");
        }
    }

    static void BadFlag(string mono, string exe)
    {
        using (var server = new ServerProcess(mono, exe, "--no-such-flag 1", expectPort: false))
        {
            Expect(server.WaitForExit() == 2, "exit code 2");
            Expect(server.Errors.Contains("unknown flag --no-such-flag"), "stderr names the flag: " + server.Errors);
        }
    }

    static void LinkCommands(string mono, string exe)
    {
        using (var server = new ServerProcess(mono, exe, "--workers 2"))
        using (var a = Connect(server.Port))
        using (var b = Connect(server.Port))
        {
            ulong idA = IdOf(a), idB = IdOf(b);
            Expect(idA != idB, "two different ids");
            Send(a, "LINKS\n");
            string links = ReadLine(a);
            Expect(links == "LINKS " + idA + " " + idB || links == "LINKS " + idB + " " + idA, "LINKS lists both: " + links);
            Send(a, "BCASTX not for a\n");
            Expect(ReadText(b, 10) == "not for a\n", "BCASTX reaches b");
            Send(a, "PAUSE " + idB + "\n");
            Expect(ReadText(a, 3) == "OK\n", "PAUSE answers OK (and a did not get its own BCASTX)");
            Send(b, "waits");
            Expect(TestSockets.NothingArrives(b, 300), "a paused link is not echoed");
            Send(a, "QUEUED " + idB + "\n");
            Expect(ReadLine(a) == "QUEUED 0", "nothing queued for b");
            Send(a, "RESUME " + idB + "\n");
            Expect(ReadText(a, 3) == "OK\n", "RESUME answers OK");
            Expect(ReadText(b, 5) == "waits", "what waited is echoed after RESUME");
            Send(a, "PAUSE 0\n");
            Expect(ReadLine(a).StartsWith("ERR "), "PAUSE of an id that never existed is an error");
            Send(a, "QUEUED 0\n");
            Expect(ReadLine(a) == "QUEUED -1", "QUEUED of an unknown id is -1");
            Send(a, "FLOOD 100000\n");
            var flood = ReadBytes(a, 100000);
            for (int i = 0; i < flood.Length; i++)
                if (flood[i] != i % 251) throw new Exception("FLOOD byte " + i + " is " + flood[i]);
        }
    }

    static void SecondServer(string mono, string exe)
    {
        using (var server = new ServerProcess(mono, exe, "--workers 2 --second-server"))
        {
            string port2Line = server.ReadLine();
            Expect(port2Line.StartsWith("PORT2 "), "PORT2 follows PORT: " + port2Line);
            int port2 = int.Parse(port2Line.Substring(6));
            Expect(port2 != server.Port, "its own port");
            using (var a = Connect(server.Port))
            using (var c = Connect(port2))
            {
                Send(c, "hello2");
                Expect(ReadText(c, 6) == "hello2", "the second server echoes");
                ulong idC = IdOf(c);
                Send(c, "LINKS\n");
                Expect(ReadLine(c) == "LINKS " + idC, "LINKS of the second server lists only its own link");
                Send(a, "PAUSE " + idC + "\n");
                Expect(ReadText(a, 3) == "OK\n", "the first server pauses a link of the second");
                Send(c, "x");
                Expect(TestSockets.NothingArrives(c, 300), "paused across servers");
                Send(a, "RESUME " + idC + "\n");
                Expect(ReadText(a, 3) == "OK\n" && ReadText(c, 1) == "x", "resumed across servers");
                Send(c, "THROW\n");
                Expect(ClosedByServer(c), "THROW closes the second server's link");
                WaitFor(() => server.Errors.Contains("THROW requested by the client"), "the TcpServer logged the exception");
            }
            // disconnects=1: the link's OnDisconnect has run (the sample counts the reason first).
            // Not links=0: GetLinkCount drops as a link closes, before its OnDisconnect.
            string stats2 = server.WaitForStats("stats2", " disconnects=1 ");
            Expect(stats2.Contains(" accepts=1 ") && stats2.Contains(" disconnects=1 ") && stats2.Contains(" closed_4=1"),
                   "STATS2 has the second server's own numbers: " + stats2);
            server.WriteLine("stop2");
            Expect(server.ReadLine() == "STOPPED2 disconnects=1", "stop2 destroys the second server");
            Throws<SocketException>(() => Connect(port2), "connecting to a stopped second server");
            using (var a = Connect(server.Port))
            {
                Send(a, "first");
                Expect(ReadText(a, 5) == "first", "the first server keeps serving");
            }
            server.WriteLine("quit");
            Expect(server.ReadLine().StartsWith("STOPPED disconnects="), "quit stops the first");
            Expect(server.WaitForExit() == 0, "exit code 0");
        }
    }

    static void Framing(string mono, string exe)
    {
        using (var server = new ServerProcess(mono, exe, "--workers 2 --framing 1 --max-message 1000"))
        {
            using (var a = Connect(server.Port))
            {
                SendFrame(a, "ID\n");
                string id = ReadFrame(a);
                Expect(id.StartsWith("ID ") && id.EndsWith("\n"), "ID is answered in one framed message: " + id);
                SendFrame(a, "hello");
                Expect(ReadFrame(a) == "hello", "a message is echoed as one message");
                SendFrame(a, "BCAST all\n");
                Expect(ReadFrame(a) == "all\n", "a broadcast is framed");
                a.GetStream().Write(new byte[] { 0, 0, 3, 233 }, 0, 4);  // 1001 > --max-message 1000
                Expect(ClosedByServer(a), "a header over --max-message closes the link");
            }
            string stats = server.WaitForStats("stats", " disconnects=1 ");
            Expect(stats.Contains(" disconnects=1 ") && stats.Contains(" framing_errors=1") && stats.Contains(" closed_8=1"),
                   "counted as FrameTooLarge: " + stats);
        }
    }

    /// <summary>The sample as a subprocess: stdin/stdout lines, stderr collected.</summary>
    sealed class ServerProcess : IDisposable
    {
        readonly Process process;
        readonly StringBuilder errors = new StringBuilder();

        public ServerProcess(string mono, string exe, string flags, bool expectPort = true)
        {
            var info = new ProcessStartInfo(mono, "--debug \"" + exe + "\" " + flags)
            {
                UseShellExecute = false,
                RedirectStandardInput = true,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            process = Process.Start(info);
            process.ErrorDataReceived += (s, e) => { if (e.Data != null) lock (errors) errors.AppendLine(e.Data); };
            process.BeginErrorReadLine();
            if (!expectPort) return;
            string first = ReadLine();
            if (first == null || !first.StartsWith("PORT "))
                throw new Exception("the server's first line is not PORT <n>: " + first + "; stderr: " + Errors);
            Port = int.Parse(first.Substring(5));
        }

        public int Port { get; private set; }
        public string Errors { get { lock (errors) return errors.ToString(); } }

        public void WriteLine(string line)
        {
            process.StandardInput.WriteLine(line);
            process.StandardInput.Flush();
        }

        public void CloseInput() { process.StandardInput.Close(); }

        /// <summary>Ask with command ("stats", "stats2") until the reply contains text.</summary>
        public string WaitForStats(string command, string text)
        {
            string line = null;
            WaitFor(() =>
            {
                WriteLine(command);
                line = ReadLine();
                return line.Contains(text);
            }, command + " reporting" + text);
            return line;
        }

        /// <summary>The next stdout line, or an exception after the deadline.</summary>
        public string ReadLine()
        {
            var read = process.StandardOutput.ReadLineAsync();
            if (!read.Wait(DeadlineMs)) throw new Exception("no line from the server within " + DeadlineMs + " ms; stderr: " + Errors);
            return read.Result;
        }

        public int WaitForExit()
        {
            if (!process.WaitForExit(DeadlineMs)) throw new Exception("the server did not exit within " + DeadlineMs + " ms");
            process.WaitForExit();  // drains the redirected streams
            return process.ExitCode;
        }

        public void Dispose()
        {
            if (!process.HasExited)
            {
                process.Kill();
                process.WaitForExit();
            }
            process.Dispose();
        }
    }

    // ---- client helpers ----------------------------------------------------------------------

    static TcpClient Connect(int port)
    {
        var client = new TcpClient { ReceiveTimeout = DeadlineMs, SendTimeout = DeadlineMs, NoDelay = true };
        client.Connect(IPAddress.Loopback, port);
        return client;
    }

    static void Send(TcpClient client, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        client.GetStream().Write(bytes, 0, bytes.Length);
    }

    static string ReadText(TcpClient client, int count) { return Encoding.ASCII.GetString(ReadBytes(client, count)); }

    static byte[] ReadBytes(TcpClient client, int count)
    {
        var buffer = new byte[count];
        for (int done = 0; done < count;)
        {
            int n = client.GetStream().Read(buffer, done, count - done);  // throws on timeout
            if (n == 0) throw new Exception(string.Format("connection closed after {0} of {1} bytes", done, count));
            done += n;
        }
        return buffer;
    }

    static string ReadLine(TcpClient client)
    {
        var line = new StringBuilder();
        for (int i = 0; i < 1000; i++)
        {
            string c = ReadText(client, 1);
            if (c == "\n") return line.ToString();
            line.Append(c);
        }
        throw new Exception("no newline in 1000 bytes: " + line);
    }

    static ulong IdOf(TcpClient client)
    {
        Send(client, "ID\n");
        string line = ReadLine(client);
        Expect(line.StartsWith("ID "), "ID answers ID <n>: " + line);
        return ulong.Parse(line.Substring(3));
    }

    static void SendFrame(TcpClient client, string text)
    {
        var payload = Encoding.ASCII.GetBytes(text);
        var frame = new byte[4 + payload.Length];
        frame[0] = (byte)(payload.Length >> 24);
        frame[1] = (byte)(payload.Length >> 16);
        frame[2] = (byte)(payload.Length >> 8);
        frame[3] = (byte)payload.Length;
        payload.CopyTo(frame, 4);
        client.GetStream().Write(frame, 0, frame.Length);
    }

    static string ReadFrame(TcpClient client)
    {
        var header = ReadBytes(client, 4);
        int length = header[0] << 24 | header[1] << 16 | header[2] << 8 | header[3];
        Expect(length >= 0 && length < 100000, "a sane frame length: " + length);
        return ReadText(client, length);
    }

    static void Throws<T>(Action action, string what) where T : Exception
    {
        try { action(); }
        catch (T) { return; }
        throw new Exception(what + ": expected " + typeof(T).Name);
    }

    static bool ClosedByServer(TcpClient client)
    {
        try
        {
            return client.GetStream().Read(new byte[1], 0, 1) == 0;
        }
        catch (IOException ex)
        {
            var socketError = ex.InnerException as SocketException;
            return socketError != null && socketError.SocketErrorCode == SocketError.ConnectionReset;
        }
    }

    static void WaitFor(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(DeadlineMs);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new Exception("timed out waiting for: " + what);
            Thread.Sleep(5);
        }
    }

    static void Expect(bool condition, string what)
    {
        if (!condition) throw new Exception("assertion failed: " + what);
    }

    static void Run(string name, Action check)
    {
        try
        {
            check();
            passed++;
            Console.WriteLine("PASS " + name);
        }
        catch (Exception ex)
        {
            failed++;
            Console.WriteLine("FAIL " + name + ": " + ex);
        }
    }
}
