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

    static string ReadText(TcpClient client, int count)
    {
        var buffer = new byte[count];
        for (int done = 0; done < count;)
        {
            int n = client.GetStream().Read(buffer, done, count - done);  // throws on timeout
            if (n == 0) throw new Exception(string.Format("connection closed after {0} of {1} bytes", done, count));
            done += n;
        }
        return Encoding.ASCII.GetString(buffer);
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
