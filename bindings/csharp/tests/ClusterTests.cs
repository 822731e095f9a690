// ClusterTests.cs — runs TcpClusterNode (the C# face of the cluster library) against a private
// redis-server this program starts on 127.0.0.1 (a free port; stopped at the end), with two
// nodes in this process, each on a TcpServer of its own, and socket clients. No test framework:
// PASS/FAIL per check, a final "N passed, M failed" line, a non-zero exit code on any failure.
// Every wait has a deadline. "--expect-missing-library" is the child run of the last check.
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading;
using TcpServerLib;

static class ClusterTests
{
    const int DeadlineMs = 30000;  // several threads and processes on a busy 2-core machine
    static int passed, failed;
    static volatile string current = "";
    static Redis redis;
    static readonly List<IDisposable> owned = new List<IDisposable>();

    static int Main(string[] args)
    {
        if (args.Length == 1 && args[0] == "--expect-missing-library") return ExpectMissingLibrary();
        StartWatchdog(240000);
        Console.WriteLine("C# cluster binding tests against " + TcpServer.Version);
        try
        {
            redis = new Redis();
        }
        catch (Exception ex)
        {
            Console.WriteLine("FAIL starting redis-server: " + ex.Message);
            return 1;
        }
        try
        {
            Run("a cluster broadcast reaches every link of both nodes once, but the excepted one", BroadcastReachesBothNodes);
            Run("SendToLink reaches a link of the other node; later failures raise SendFailed", SendToLinkAndFailures);
            Run("presence keys route SendToKey and go with their link", PresenceAndSendToKey);
            Run("topics raise Topic on every node; StateChanged reports the connection", TopicsAndStates);
            Run("counters are readable; a stopped node counts its drops and serves locally", CountersAndDrops);
            Run("bad input throws TcpClusterException; Dispose hands the server its callbacks back", ErrorsAndDispose);
            Run("a missing library is reported as such", MissingLibraryIsReported);
        }
        finally
        {
            redis.Dispose();
        }
        Console.WriteLine("{0} passed, {1} failed", passed, failed);
        return failed == 0 ? 0 : 1;
    }

    // ---- a node of the tests: its server, its open links, what its events heard ----------------

    sealed class Member : IDisposable
    {
        public readonly TcpServer Server = new TcpServer();
        public readonly TcpClusterNode Node;
        public readonly HashSet<ulong> Links = new HashSet<ulong>();
        public readonly ConcurrentQueue<ClusterSendFailedEventArgs> Failures = new ConcurrentQueue<ClusterSendFailedEventArgs>();
        public readonly ConcurrentQueue<ClusterTopicEventArgs> Topics = new ConcurrentQueue<ClusterTopicEventArgs>();
        public readonly ConcurrentQueue<TcpClusterState> States = new ConcurrentQueue<TcpClusterState>();

        public Member(string name)
        {
            Server.WorkerThreads = 2;
            Server.Connecting += (s, e) => { lock (Links) Links.Add(e.Link.Id); };
            Server.Disconnected += (s, e) => { lock (Links) Links.Remove(e.Link.Id); };
            Server.Received += (s, e) => { };  // the clients only listen
            Node = new TcpClusterNode(Server, redis.Url, null, name);
            Node.SendFailed += (s, e) => Failures.Enqueue(e);
            Node.Topic += (s, e) => Topics.Enqueue(e);
            Node.StateChanged += (s, e) => States.Enqueue(e.State);
            Node.Start();
            Server.Start("127.0.0.1", 0);
            WaitFor(() => Node.State == TcpClusterState.Connected, "node " + name + " to connect");
        }

        /// <summary>A connected client and its link id on this server.</summary>
        public LineClient Client(out ulong linkId)
        {
            HashSet<ulong> before;
            lock (Links) before = new HashSet<ulong>(Links);
            var client = new LineClient(Server.Port);
            ulong found = 0;
            WaitFor(() =>
            {
                lock (Links) found = Links.FirstOrDefault(id => !before.Contains(id));
                return found != 0;
            }, "the server to see the new link");
            linkId = found;
            return client;
        }

        public void Dispose()
        {
            Node.Dispose();  // stops the server too
            Server.Dispose();
        }
    }

    static Member NewMember(string name)
    {
        var member = new Member(name);
        owned.Add(member);
        return member;
    }

    // ---- the checks ------------------------------------------------------------------------------

    static void BroadcastReachesBothNodes()
    {
        Member a = NewMember("a"), b = NewMember("b");
        ulong ignored, b1Id;
        LineClient a1 = a.Client(out ignored), a2 = a.Client(out ignored);
        LineClient b1 = b.Client(out b1Id), b2 = b.Client(out ignored);
        Assert(a.Node.Broadcast(Bytes("from a\n")) == 2, "the local links get it in the call");
        foreach (var c in new[] { a1, a2, b1, b2 }) Assert(c.NextLine() == "from a", "every link of both nodes");
        Assert(b.Node.Broadcast(Bytes("from b\n"), b1Id) == 1, "all but the excepted local link");
        foreach (var c in new[] { a1, a2, b2 }) Assert(c.NextLine() == "from b", "every other link");
        b.Node.Broadcast(Bytes("end\n"));
        Assert(b1.NextLine() == "end", "the excepted link never got 'from b'");
        foreach (var c in new[] { a1, a2, b2 }) Assert(c.NextLine() == "end", "in order");
        WaitFor(() => a.Node.GetCounter(TcpClusterCounter.Received) == 2 && b.Node.GetCounter(TcpClusterCounter.Received) == 1,
                "each node to count what it received");
        foreach (var m in new[] { a, b })
        {
            Assert(m.Node.GetCounter(TcpClusterCounter.Gaps) == 0, "no gap");
            Assert(m.Node.GetCounter(TcpClusterCounter.QueueDropped) + m.Node.GetCounter(TcpClusterCounter.DownDropped) == 0, "no drop");
        }
        foreach (var c in new[] { a1, a2, b1, b2 }) c.Dispose();
    }

    static void SendToLinkAndFailures()
    {
        Member a = NewMember("a"), b = NewMember("b");
        ulong a1Id, b1Id;
        LineClient a1 = a.Client(out a1Id), b1 = b.Client(out b1Id);
        a.Node.SendToLink(b.Node.Id, b1Id, Bytes("direct\n"), 7);
        Assert(b1.NextLine() == "direct", "a link of the other node");
        b.Node.SendToLink(a.Node.Id, a1Id, Bytes("back\n"));
        Assert(a1.NextLine() == "back", "and back");
        a.Node.SendToLink(b.Node.Id, 999999999, Bytes("nobody\n"), 8);
        a.Node.SendToLink(0x5EED, 1, Bytes("ghost\n"), 9);
        WaitFor(() => a.Failures.Count == 2, "two failures reported");
        var byTag = a.Failures.ToDictionary(f => f.Tag);
        Assert(byTag[8].Reason == TcpClusterSendFailure.LinkGone && byTag[8].Node == b.Node.Id, "link gone: " + byTag[8].Text);
        Assert(byTag[9].Reason == TcpClusterSendFailure.NodeGone && byTag[9].Text.Contains(0x5EED.ToString()),
               "node gone: " + byTag[9].Text);
        Assert(a.Node.GetCounter(TcpClusterCounter.SendFailed) == 2, "counted");
        var error = Throws<TcpClusterException>(() => a.Node.SendToLink(a.Node.Id, 999999999, Bytes("x\n")), "a local link that is not open");
        Assert(error.Code == TcpClusterErrorCode.LinkClosed, "LinkClosed, not " + error.Code);
        a1.Dispose();
        b1.Dispose();
    }

    static void PresenceAndSendToKey()
    {
        Member a = NewMember("a"), b = NewMember("b");
        ulong b1Id;
        LineClient b1 = b.Client(out b1Id);
        b.Node.SetKey(b1Id, "alice");
        WaitFor(() => redis.Command("EXISTS", "tcpcluster:key:alice") == "1", "the key to reach Redis");
        Assert(b.Node.GetCounter(TcpClusterCounter.Keys) == 1, "the node holds one key");
        a.Node.SendToKey("alice", Bytes("hi alice\n"), 3);
        Assert(b1.NextLine() == "hi alice", "the link that holds the key");
        b1.Dispose();
        WaitFor(() => redis.Command("EXISTS", "tcpcluster:key:alice") == "0", "the closed link's key to go");
        a.Node.SendToKey("alice", Bytes("anyone?\n"), 4);
        WaitFor(() => a.Failures.Count == 1, "the failed send to be reported");
        ClusterSendFailedEventArgs failure;
        a.Failures.TryPeek(out failure);
        Assert(failure.Tag == 4 && failure.Reason == TcpClusterSendFailure.NoSuchKey && failure.Key == "alice",
               "no such key: " + failure.Text);
        var error = Throws<TcpClusterException>(() => b.Node.ClearKey("nobody"), "a key this node does not hold");
        Assert(error.Code == TcpClusterErrorCode.KeyNotHeld, "KeyNotHeld, not " + error.Code);
    }

    static void TopicsAndStates()
    {
        Member a = NewMember("a"), b = NewMember("b");
        a.Node.Publish("news", Bytes("extra"));
        Assert(a.Topics.Count == 1, "this node's own topic arrives in the call");
        WaitFor(() => b.Topics.Count == 1, "the topic on the other node");
        ClusterTopicEventArgs got;
        b.Topics.TryPeek(out got);
        Assert(got.Topic == "news" && got.Publisher == a.Node.Id && Encoding.ASCII.GetString(got.Data) == "extra",
               "topic, publisher and data");
        Assert(a.States.Contains(TcpClusterState.Connecting) && a.States.Contains(TcpClusterState.Connected),
               "StateChanged reported connecting, then connected");
    }

    static void CountersAndDrops()
    {
        Member a = NewMember("a"), b = NewMember("b");
        ulong ignored;
        LineClient a1 = a.Client(out ignored);
        var counters = a.Node.GetCounters();
        Assert(counters.Count == Enum.GetValues(typeof(TcpClusterCounter)).Length, "every counter is readable");
        Assert(counters[TcpClusterCounter.State] == (long)TcpClusterState.Connected, "the state counter");
        a.Node.Stop();
        Assert(a.Node.State == TcpClusterState.Stopped, "stopped");
        Assert(a.Node.Broadcast(Bytes("local only\n")) == 1, "local delivery goes on");
        Assert(a1.NextLine() == "local only", "the local link got it");
        Assert(a.Node.GetCounter(TcpClusterCounter.DownDropped) == 1, "the remote part was dropped and counted");
        var error = Throws<TcpClusterException>(() => a.Node.SendToLink(b.Node.Id, 1, Bytes("x\n")), "a send while stopped");
        Assert(error.Code == TcpClusterErrorCode.BrokerDown && a.Node.GetCounter(TcpClusterCounter.DownDropped) == 2,
               "BrokerDown, counted");
        ulong old = a.Node.Id;
        a.Node.Start();
        Assert(a.Node.Id != old && a.Node.Id != 0, "a new life, a new id");
        WaitFor(() => a.Node.State == TcpClusterState.Connected, "the node to reconnect");
        a1.Dispose();
    }

    static void ErrorsAndDispose()
    {
        using (var server = new TcpServer())
        {
            var error = Throws<TcpClusterException>(() => new TcpClusterNode(server, "http://127.0.0.1:1"), "a URL that is not redis://");
            Assert(error.Code == TcpClusterErrorCode.BadUrl && error.Text.Contains("redis://"), "BadUrl: " + error.Text);
            var node = new TcpClusterNode(server, redis.Url);
            owned.Add(node);
            error = Throws<TcpClusterException>(() => node.SetOption(TcpClusterOption.QueueMessages, 0), "an option out of range");
            Assert(error.Code == TcpClusterErrorCode.OptionRange, "OptionRange, not " + error.Code);
            node.SetOption(TcpClusterOption.KeyTtlMs, 5000);
            Assert(node.GetOption(TcpClusterOption.KeyTtlMs) == 5000, "an option set");
            error = Throws<TcpClusterException>(() => node.Publish("", Bytes("x")), "an empty topic");
            Assert(error.Code == TcpClusterErrorCode.InvalidArgument, "InvalidArgument, not " + error.Code);
            server.Received += (s, e) => { e.Link.Send(Bytes("seen " + e.GetString())); };
            node.Start();
            server.Start("127.0.0.1", 0);
            node.Dispose();  // stops the server, hands it its callbacks back
            Assert(!server.IsActive, "Dispose stopped the server");
            Throws<ObjectDisposedException>(() => node.Broadcast(Bytes("x")), "a disposed node");
            server.Start("127.0.0.1", 0);
            using (var client = new LineClient(server.Port))
            {
                client.Send("hi\n");
                Assert(client.NextLine() == "seen hi", "the server's own Received runs without the node");
            }
            Assert(TcpClusterNode.LibraryVersion == TcpClusterNative.TCPCLUSTER_VERSION_NUMBER, "the library's version");
        }
    }

    // The child run (this program again, in a folder without libtcpcluster.so) must say why.
    static void MissingLibraryIsReported()
    {
        string here = Path.GetDirectoryName(typeof(ClusterTests).Assembly.Location);
        string dir = Path.Combine(Path.GetTempPath(), "tcpcluster-missing-" + Process.GetCurrentProcess().Id);
        Directory.CreateDirectory(dir);
        try
        {
            foreach (var name in new[] { "TcpClusterBindingTests.exe", "TcpServerLib.dll" })
                File.Copy(Path.Combine(here, name), Path.Combine(dir, name), true);
            foreach (var library in Directory.GetFiles(Path.GetDirectoryName(Environment.GetEnvironmentVariable("TCPSERVER_LIBRARY") ?? here), "libtcpserver.so*"))
                File.Copy(library, Path.Combine(dir, Path.GetFileName(library)), true);
            var start = new ProcessStartInfo(Process.GetCurrentProcess().MainModule.FileName,
                                             "\"" + Path.Combine(dir, "TcpClusterBindingTests.exe") + "\" --expect-missing-library")
            {
                UseShellExecute = false,
                RedirectStandardOutput = true,
            };
            start.EnvironmentVariables["LD_LIBRARY_PATH"] = dir;
            using (var child = Process.Start(start))
            {
                string output = child.StandardOutput.ReadToEnd();
                Assert(child.WaitForExit(DeadlineMs), "the child run ends");
                Assert(child.ExitCode == 0, "the child saw DllNotFoundException saying why: " + output);
            }
        }
        finally
        {
            Directory.Delete(dir, true);
        }
    }

    static int ExpectMissingLibrary()
    {
        using (var server = new TcpServer())
        {
            try
            {
                new TcpClusterNode(server, "redis://127.0.0.1:1");
                Console.WriteLine("a node was made without the library");
                return 1;
            }
            catch (DllNotFoundException ex)
            {
                Console.WriteLine(ex.Message);
                return ex.Message.Contains("Linux only") && ex.Message.Contains("hiredis") ? 0 : 1;
            }
        }
    }

    // ---- helpers ---------------------------------------------------------------------------------

    static byte[] Bytes(string text) { return Encoding.ASCII.GetBytes(text); }

    /// <summary>A TCP client that reads the lines its server sends.</summary>
    sealed class LineClient : IDisposable
    {
        readonly TcpClient client;
        readonly StreamReader reader;

        public LineClient(int port)
        {
            client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            client.ReceiveTimeout = DeadlineMs;
            reader = new StreamReader(client.GetStream(), Encoding.ASCII);
        }

        public void Send(string text)
        {
            var bytes = Bytes(text);
            client.GetStream().Write(bytes, 0, bytes.Length);
        }

        /// <summary>The next line; throws after the deadline (ReceiveTimeout) or at the end of the stream.</summary>
        public string NextLine()
        {
            string line = reader.ReadLine();
            if (line == null) throw new Exception("the server closed the link");
            return line;
        }

        public void Dispose() { client.Close(); }
    }

    /// <summary>A redis-server of these tests alone, on 127.0.0.1 and a free port, nothing saved.</summary>
    sealed class Redis : IDisposable
    {
        readonly string dir = Path.Combine(Path.GetTempPath(), "tcpcluster-redis-" + Process.GetCurrentProcess().Id);
        Process process;
        public int Port { get; private set; }
        public string Url { get { return "redis://127.0.0.1:" + Port; } }

        public Redis()
        {
            Directory.CreateDirectory(dir);
            for (int attempt = 0; attempt < 3 && process == null; attempt++)  // the port may be taken meanwhile
                Spawn();
            if (process == null) throw new Exception("redis-server did not start; see " + dir + "/redis.log");
        }

        void Spawn()
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            Port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            string path = Environment.GetEnvironmentVariable("TCPSERVER_REDIS_SERVER") ?? "redis-server";
            var start = new ProcessStartInfo(path, string.Format(
                "--port {0} --bind 127.0.0.1 --save \"\" --appendonly no --dir \"{1}\" --logfile \"{1}/redis.log\" --protected-mode yes",
                Port, dir)) { UseShellExecute = false };
            Process started;
            try
            {
                started = Process.Start(start);
            }
            catch (System.ComponentModel.Win32Exception ex)
            {
                throw new Exception("cannot run " + path + " (install Debian's redis-server): " + ex.Message);
            }
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (DateTime.UtcNow < deadline && !started.HasExited)
            {
                try
                {
                    if (Command("PING") == "PONG")
                    {
                        process = started;
                        return;
                    }
                }
                catch (SocketException) { }
                Thread.Sleep(20);
            }
            if (!started.HasExited) started.Kill();
        }

        /// <summary>One command; the reply as text (+status, :integer, $bulk, "(nil)").</summary>
        public string Command(params string[] words)
        {
            var request = new StringBuilder("*" + words.Length + "\r\n");
            foreach (var w in words) request.Append("$" + Encoding.UTF8.GetByteCount(w) + "\r\n" + w + "\r\n");
            using (var c = new TcpClient())
            {
                c.Connect(IPAddress.Loopback, Port);
                c.ReceiveTimeout = 5000;
                var stream = c.GetStream();
                var bytes = Encoding.UTF8.GetBytes(request.ToString());
                stream.Write(bytes, 0, bytes.Length);
                var reader = new StreamReader(stream, Encoding.UTF8);
                string head = reader.ReadLine();
                if (head == null) throw new Exception("redis closed the connection");
                if (head.StartsWith("-")) throw new Exception("redis: " + head.Substring(1));
                if (!head.StartsWith("$")) return head.Substring(1);
                return head == "$-1" ? "(nil)" : reader.ReadLine();
            }
        }

        public void Dispose()
        {
            if (process != null && !process.HasExited)
            {
                process.Kill();
                process.WaitForExit(10000);
            }
            try { Directory.Delete(dir, true); } catch (IOException) { }
        }
    }

    static void WaitFor(Func<bool> condition, string what, int timeoutMs = DeadlineMs)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new Exception("timed out after " + timeoutMs + " ms waiting for " + what);
            Thread.Sleep(5);
        }
    }

    static void Assert(bool condition, string what)
    {
        if (!condition) throw new Exception("assertion failed: " + what);
    }

    static T Throws<T>(Action action, string what) where T : Exception
    {
        try { action(); }
        catch (T ex) { return ex; }
        throw new Exception("expected " + typeof(T).Name + " for " + what);
    }

    static void Run(string name, Action check)
    {
        current = name;
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
        finally
        {
            // A failed check must not leave a node or server running for the next one.
            foreach (var item in owned)
            {
                try { item.Dispose(); }
                catch (Exception ex) { Console.WriteLine("  (cleanup: " + ex.Message + ")"); }
            }
            owned.Clear();
        }
    }

    static void StartWatchdog(int milliseconds)
    {
        var watchdog = new Thread(() =>
        {
            Thread.Sleep(milliseconds);
            Console.WriteLine("FAIL the tests took longer than {0} ms (stuck in: {1})", milliseconds, current);
            Environment.Exit(2);
        });
        watchdog.IsBackground = true;
        watchdog.Start();
    }
}
