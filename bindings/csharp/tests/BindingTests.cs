// BindingTests.cs — runs the C# binding against the real library (no test framework needed).
//
// Every check starts its own server on 127.0.0.1, port 0, talks to it with System.Net.Sockets
// clients and waits on conditions with deadlines. Prints PASS/FAIL per check and a final
// "N passed, M failed" line; the exit code is non-zero on any failure. Given the path of
// tests/tls_interop/certs.py as its argument it runs the TLS checks too (TlsTests.cs).
using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.IO;
using System.Linq;
using System.Net;
using System.Net.Sockets;
using System.Reflection;
using System.Runtime.InteropServices;
using System.Text;
using System.Threading;
using TcpServerLib;
using N = TcpServerLib.TcpServerNative;

static partial class BindingTests
{
    const int DeadlineMs = 5000;
    static int passed, failed;
    static volatile string current = "";
    static readonly List<TcpServer> servers = new List<TcpServer>();

    static int Main(string[] args)
    {
        StartWatchdog(120000);
        Console.WriteLine("C# binding tests against " + TcpServer.Version);
        Run("every export declared (generated from tcpserver.h) is in the library", ExportsPresent);
        Run("the records are laid out as tcpserver.h says for this pointer size", RecordsFollowHeader);
        Run("layout and version match the library", LayoutMatches);
        Run("layout drift and a new major version are reported", LayoutDriftIsReported);
        Run("Start refuses a library whose layout differs", StartRefusesMismatch);
        Run("echo round trip over a socket", EchoRoundTrip);
        Run("without a Received handler the server echoes", DefaultEcho);
        Run("concurrent echo while the garbage collector runs", ConcurrentEchoUnderGc);
        Run("a running server and its delegates stay alive without user references", RunningServerStaysAlive);
        Run("events fire in order with the link's details", EventsInOrder);
        Run("thread events pair up and carry per-thread state", ThreadEvents);
        Run("Connecting with Cancel refuses the link", ConnectingCancelRefuses);
        Run("a throwing handler closes its link and the server keeps serving", ThrowingHandler);
        Run("a throwing Connecting handler refuses; a throwing Disconnected handler is contained", ThrowingLifecycleHandlers);
        Run("received data and the Link are valid only during the event", ReceivedDataLifetime);
        Run("Send by id and Broadcast from another thread", SendByIdAndBroadcast);
        Run("CloseLink by id closes once", CloseLinkById);
        Run("idle links get IdleTimeout, or Disconnected without a handler", IdleTimeout);
        Run("errors surface as TcpServerException", ErrorsAreExceptions);
        Run("Stop from inside a handler fails instead of deadlocking", StopInsideHandler);
        Run("options are applied at Start", OptionsApplied);
        Run("statistics count the traffic", Statistics);
        Run("two servers report their own link, pool, worker and service statistics", PerServerStatistics);
        Run("Dispose stops the server; a new server and a restart work", DisposeAndRestart);
        Run("the engine server is a SafeHandle: a call holding it delays the destroy", SafeHandleDelaysDestroy);
        Run("two servers run at once with their own handlers, links and counters", TwoServersAtOnce);
        Run("the Context routes every event of each server to its own object", ContextRouting);
        Run("a stopped server dropped without Dispose is finalized and freed", DroppedServerIsFinalized);
        Run("framing: whole messages of any size round trip; a bad header closes the link", FramingRoundTrip);
        Run("PauseReceive stops reading, ResumeReceive delivers what waited", PauseAndResume);
        Run("queued bytes grow for a peer that does not read", SendQueueBytes);
        Run("GetLinkIds lists the open links; BroadcastExcept skips one", LinkIdsAndBroadcastExcept);
        if (args.Length > 0) RunTlsChecks(args[0]);
        else Console.WriteLine("SKIP the TLS checks (give the path of tests/tls_interop/certs.py)");
        Console.WriteLine("{0} passed, {1} failed", passed, failed);
        return failed == 0 ? 0 : 1;
    }

    // ---- the checks ------------------------------------------------------------------------

    // TcpServerNative.g.cs is generated from tcpserver.h by tools/abi/abi.py (CTest's
    // abi_generated_files_current fails when it drifts); here the library must have each import.
    static void ExportsPresent()
    {
        var imports = typeof(N).GetMethods(BindingFlags.Public | BindingFlags.Static)
            .Where(m => m.GetCustomAttributes(typeof(DllImportAttribute), false).Length > 0).ToList();
        Assert(imports.Count > 80, "the binding declares the header's exports, got " + imports.Count);
        var missing = new List<string>();
        foreach (var method in imports)
        {
            var import = (DllImportAttribute)method.GetCustomAttributes(typeof(DllImportAttribute), false)[0];
            Assert(import.CallingConvention == CallingConvention.Winapi, method.Name + " is declared TS_CALL (Winapi)");
            try
            {
                Marshal.Prelink(method);  // resolves the entry point now, as a first call would
            }
            catch (EntryPointNotFoundException)
            {
                missing.Add(method.Name);
            }
        }
        Assert(missing.Count == 0, "the library lacks " + string.Join(", ", missing.ToArray()));
    }

    static void RecordsFollowHeader()
    {
        var header = N.HeaderLayout(IntPtr.Size);
        var ours = N.ExpectedLayout();
        Assert(header.Count > 10, "the header gives a layout for " + IntPtr.Size + "-byte pointers");
        foreach (var pair in header)
            Assert(ours.ContainsKey(pair.Key) && ours[pair.Key] == pair.Value,
                   pair.Key + ": header " + pair.Value + ", binding " + (ours.ContainsKey(pair.Key) ? ours[pair.Key].ToString() : "missing"));
        foreach (var key in ours.Keys)
            Assert(header.ContainsKey(key), key + " is in the header's layout");
    }

    static void LayoutMatches()
    {
        string text = N.PtrToUtf8(N.GetAbiLayout());
        var reported = N.ParseLayout(text);
        var ours = N.ExpectedLayout();
        var compared = reported.Keys.Where(ours.ContainsKey).ToList();
        foreach (var key in new[] { "TcpLink.size", "TcpLink.Id", "TcpLink.RemoteIP", "TcpLink.CloseError",
                                    "TcpLink.Reserved", "TcpWorker.size", "TcpWorker.IsWorkerThread" })
            Assert(compared.Contains(key), "the library reports and the binding compares " + key);
        foreach (var key in compared)
            Assert(reported[key] == ours[key], key + ": library " + reported[key] + ", binding " + ours[key]);
        Assert(reported["version"] == N.GetVersion(), "layout version equals GetVersion()");
        Assert(N.GetVersion() == N.TCPSERVER_VERSION_NUMBER, "GetVersion() equals the header's version");
        Assert(N.GetTcpServerVersion() == N.GetVersion(), "GetTcpServerVersion() equals GetVersion()");
        Assert(TcpServer.Version.StartsWith("tcpserver "), "version text: " + TcpServer.Version);
        Assert(N.LayoutMismatches(text, N.GetVersion()).Count == 0, "no mismatches");
        TcpServer.CheckAbi();
    }

    static void LayoutDriftIsReported()
    {
        var ours = N.ExpectedLayout();
        Func<Dictionary<string, long>, string> text = fields =>
            string.Join(";", fields.Select(pair => pair.Key + "=" + pair.Value).ToArray());
        int version = N.TCPSERVER_VERSION_NUMBER;
        Assert(N.LayoutMismatches(text(ours), version).Count == 0, "our own layout matches");
        Assert(N.LayoutMismatches(text(ours), version + 100).Count == 0, "a newer minor version is accepted");
        Assert(N.LayoutMismatches(text(ours), 10100).Any(p => p.Contains("library version 1.1.0 is older than this binding's 1." + N.TCPSERVER_VERSION_MINOR)),
               "a 1.1 library (no per-server statistics) is refused");
        var drifted = new Dictionary<string, long>(ours);
        drifted["TcpLink.RemotePort"] += 4;
        drifted["TcpWorker.size"] += 8;
        var problems = N.LayoutMismatches(text(drifted), version);
        Assert(problems.Count == 2, "two problems, got: " + string.Join(" | ", problems.ToArray()));
        Assert(problems.Any(p => p.StartsWith("TcpLink.RemotePort: library")), "RemotePort drift named");
        Assert(problems.Any(p => p.StartsWith("TcpWorker.size: library")), "TcpWorker.size drift named");
        Assert(N.LayoutMismatches(text(ours), 20001).Any(p => p.Contains("major 2")), "major 2 refused");
        Assert(N.LayoutMismatches("version=" + version, version).Count == 1, "a layout without records fails");
    }

    static void StartRefusesMismatch()
    {
        // Stand in for a drifted library: plant a problem where the once-per-process check keeps
        // its result (a private field, so reflection), and take it out again afterwards.
        var cache = typeof(TcpServer).GetField("s_abiProblems", BindingFlags.NonPublic | BindingFlags.Static);
        Assert(cache != null, "TcpServer caches its layout check in s_abiProblems");
        var saved = cache.GetValue(null);
        cache.SetValue(null, new List<string> { "TcpLink.RemotePort: library 76, binding 72" });
        try
        {
            var server = NewServer();
            var error = Throws<TcpServerException>(() => server.Start("127.0.0.1", 0), "Start on a mismatched library");
            Assert(error.Code == TcpServerErrorCode.NotSupported && error.Message.Contains("TcpLink.RemotePort: library 76"),
                   "NotSupported naming the difference: " + error.Message);
            Assert(!server.IsActive && server.Port == 0, "nothing was started");
        }
        finally
        {
            cache.SetValue(null, saved);
        }
    }

    static void EchoRoundTrip()
    {
        using (var server = NewServer())
        {
            server.Received += (s, e) => e.Link.Send(e.Data, e.Length);
            server.Start("127.0.0.1", 0);
            Assert(server.Port > 0, "GetServerPort gave a port");
            using (var client = Connect(server.Port))
            {
                var payload = Pattern(100000, 7);
                var writer = new Thread(() => client.GetStream().Write(payload, 0, payload.Length));
                writer.Start();
                var echoed = ReadExactly(client, payload.Length);
                writer.Join();
                Assert(echoed.SequenceEqual(payload), "100000 bytes came back unchanged, in order");
            }
        }
    }

    static void DefaultEcho()
    {
        using (var server = NewServer())
        {
            server.Start("127.0.0.1", 0);
            using (var client = Connect(server.Port))
            {
                var payload = Encoding.ASCII.GetBytes("no handler, still echoed\n");
                client.GetStream().Write(payload, 0, payload.Length);
                Assert(ReadExactly(client, payload.Length).SequenceEqual(payload), "echoed");
            }
        }
    }

    static void ConcurrentEchoUnderGc()
    {
        const int clients = 6, size = 200000, chunk = 3000;
        using (var server = NewServer())
        {
            // Copies on purpose: every receive allocates, so collections happen mid-callback.
            server.Received += (s, e) => e.Link.Send(e.ToArray());
            server.Start("127.0.0.1", 0);
            bool done = false;
            var collector = new Thread(() => { while (!Volatile.Read(ref done)) { GC.Collect(); Thread.Sleep(1); } });
            collector.Start();
            try
            {
                var errors = new ConcurrentQueue<string>();
                var threads = Enumerable.Range(0, clients).Select(i => new Thread(() =>
                {
                    try
                    {
                        using (var client = Connect(server.Port))
                        {
                            var payload = Pattern(size, 100 + i);
                            for (int offset = 0; offset < size; offset += chunk)  // ping-pong: no deadlock on full buffers
                            {
                                int count = Math.Min(chunk, size - offset);
                                client.GetStream().Write(payload, offset, count);
                                var echoed = ReadExactly(client, count);
                                for (int k = 0; k < count; k++)
                                    if (echoed[k] != payload[offset + k])
                                        throw new Exception(string.Format("client {0}: byte {1} differs", i, offset + k));
                            }
                        }
                    }
                    catch (Exception ex) { errors.Enqueue(ex.Message); }
                })).ToList();
                threads.ForEach(t => t.Start());
                threads.ForEach(t => t.Join());
                Assert(errors.IsEmpty, "every client got its bytes back: " + string.Join(" | ", errors.ToArray()));
            }
            finally
            {
                Volatile.Write(ref done, true);
                collector.Join();
            }
        }
    }

    static void RunningServerStaysAlive()
    {
        // Only the binding references the server; its delegates must survive collections.
        var weak = StartUnreferencedServer();
        for (int i = 0; i < 3; i++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
        }
        var server = (TcpServer)weak.Target;
        Assert(server != null && server.IsActive, "the running server was kept alive");
        servers.Add(server);
        using (var client = Connect(server.Port))
        {
            Send(client, "alive?");
            Assert(ReadText(client, 6) == "ALIVE?", "its Received handler still runs");
        }
        server.Dispose();
    }

    static WeakReference StartUnreferencedServer()
    {
        var server = new TcpServer { WorkerThreads = 2, IdleTimeoutMs = 0 };
        server.Received += (s, e) => e.Link.Send(Encoding.ASCII.GetBytes(e.GetString().ToUpperInvariant()));
        server.Start("127.0.0.1", 0);
        return new WeakReference(server);
    }

    static void EventsInOrder()
    {
        var events = new ConcurrentQueue<string>();
        var details = new ConcurrentQueue<string>();
        int disconnects = 0;
        using (var server = NewServer())
        {
            server.ThreadStarted += (s, e) => e.State = "state of a " + (e.IsWorkerThread ? "worker" : "service thread");
            server.Connecting += (s, e) =>
            {
                events.Enqueue("connect " + e.Link.Id);
                e.Link.Data = new List<string> { "attached in Connecting" };
                details.Enqueue(e.Link.RemoteIP + ":" + e.Link.RemotePort);
            };
            server.Received += (s, e) =>
            {
                events.Enqueue("receive " + e.Link.Id);
                var data = (List<string>)e.Link.Data;
                data.Add("seen in Received");
                var worker = e.Link.Worker;
                details.Enqueue(string.Format("worker {0} {1} {2}", worker.Index, worker.IsWorkerThread, worker.State));
                e.Link.Send(e.ToArray());
            };
            server.Disconnected += (s, e) =>
            {
                events.Enqueue("disconnect " + e.Link.Id + " " + e.CloseReason + " " +
                               string.Join(",", ((List<string>)e.Link.Data).ToArray()));
                Interlocked.Increment(ref disconnects);
            };
            server.Start("127.0.0.1", 0);
            int localPort;
            using (var client = Connect(server.Port))
            {
                localPort = ((IPEndPoint)client.Client.LocalEndPoint).Port;
                Send(client, "hello");
                Assert(ReadText(client, 5) == "hello", "echoed through Received");
            }
            WaitFor(() => disconnects == 1, "Disconnected after the client closed");
            var list = events.ToArray();
            string id = list[0].Split(' ')[1];
            Assert(list[0] == "connect " + id, "Connecting first: " + list[0]);
            Assert(list.Skip(1).Take(list.Length - 2).All(x => x == "receive " + id) && list.Length >= 3,
                   "then Received: " + string.Join(" | ", list));
            Assert(list.Last() == "disconnect " + id + " PeerClosed attached in Connecting,seen in Received",
                   "Disconnected last with the reason and Link.Data: " + list.Last());
            var info = details.ToArray();
            Assert(info[0] == "127.0.0.1:" + localPort, "RemoteIP/RemotePort are the client's: " + info[0]);
            Assert(info[1].StartsWith("worker ") && info[1].EndsWith(" True state of a worker") && !info[1].StartsWith("worker 0 "),
                   "Link.Worker is a worker with its ThreadStarted state: " + info[1]);
        }
    }

    static void ThreadEvents()
    {
        var started = new ConcurrentQueue<object>();
        var exited = new ConcurrentQueue<object>();
        int workers = 0;
        var server = NewServer();
        server.WorkerThreads = 2;
        server.ThreadStarted += (s, e) =>
        {
            e.State = new object();
            started.Enqueue(e.State);
            if (e.IsWorkerThread) Interlocked.Increment(ref workers);
        };
        server.ThreadExited += (s, e) => exited.Enqueue(e.State);
        server.Start("127.0.0.1", 0);
        WaitFor(() => workers == 2, "ThreadStarted for both workers");
        server.Dispose();
        Assert(exited.Count == started.Count && started.Count >= 2,
               string.Format("every started thread exited ({0} started, {1} exited)", started.Count, exited.Count));
        Assert(new HashSet<object>(started).SetEquals(exited), "ThreadExited returns each thread's own state");
    }

    static void ConnectingCancelRefuses()
    {
        int received = 0, disconnected = 0, asked = 0;
        using (var server = NewServer())
        {
            server.Connecting += (s, e) =>
            {
                e.Link.Data = "freed when refused";
                Interlocked.Increment(ref asked);
                e.Cancel = true;
            };
            server.Received += (s, e) => Interlocked.Increment(ref received);
            server.Disconnected += (s, e) => Interlocked.Increment(ref disconnected);
            server.Start("127.0.0.1", 0);
            long refusedBefore = server.GetCounter(TcpServerCounter.Refused);
            using (var client = Connect(server.Port))
            {
                Send(client, "anyone?");
                Assert(ClosedByServer(client), "the refused client is closed without data");
            }
            Assert(asked == 1, "Connecting ran once");
            WaitFor(() => server.GetCounter(TcpServerCounter.Refused) == refusedBefore + 1, "counted as refused");
            server.Stop();
            Assert(received == 0 && disconnected == 0, "no other event for a refused link");
        }
    }

    static void ThrowingHandler()
    {
        var logs = new ConcurrentQueue<LogEventArgs>();
        var reasons = new ConcurrentQueue<CloseReason>();
        using (var server = NewServer())
        {
            server.Log += (s, e) => logs.Enqueue(e);
            server.Received += (s, e) =>
            {
                if (e.GetString() == "THROW\n") throw new ApplicationException("THROW requested by the test");
                e.Link.Send(e.Data, e.Length);
            };
            server.Disconnected += (s, e) => reasons.Enqueue(e.CloseReason);
            server.Start("127.0.0.1", 0);
            using (var client = Connect(server.Port))
            {
                Send(client, "THROW\n");
                Assert(ClosedByServer(client), "the link that threw is closed");
            }
            WaitFor(() => reasons.Count == 1, "Disconnected for the link that threw");
            Assert(reasons.First() == CloseReason.ByApp, "reason ByApp, got " + reasons.First());
            var error = logs.FirstOrDefault(e => e.Level == TcpLogLevel.Error && e.Message.Contains("Received handler threw"));
            Assert(error != null && error.Message.Contains("THROW requested by the test"),
                   "the exception is logged: " + string.Join(" | ", logs.Select(e => e.Message).ToArray()));
            using (var client = Connect(server.Port))
            {
                Send(client, "still serving");
                Assert(ReadText(client, 13) == "still serving", "a new link is served");
            }
        }
    }

    static void ThrowingLifecycleHandlers()
    {
        var logs = new ConcurrentQueue<string>();
        int connects = 0, disconnects = 0;
        using (var server = NewServer())
        {
            server.Log += (s, e) => logs.Enqueue(e.Message);
            server.Connecting += (s, e) =>
            {
                if (Interlocked.Increment(ref connects) == 1) throw new ApplicationException("first connect fails");
            };
            server.Disconnected += (s, e) =>
            {
                Interlocked.Increment(ref disconnects);
                throw new ApplicationException("disconnect fails");
            };
            server.Start("127.0.0.1", 0);
            using (var refused = Connect(server.Port))
                Assert(ClosedByServer(refused), "the link whose Connecting threw is refused");
            Assert(logs.Any(m => m.Contains("Connecting handler threw") && m.Contains("first connect fails")),
                   "the Connecting exception is logged: " + string.Join(" | ", logs.ToArray()));
            using (var client = Connect(server.Port))
            {
                Send(client, "next");
                Assert(ReadText(client, 4) == "next", "the next link is served");
            }
            WaitFor(() => disconnects == 1 && logs.Any(m => m.Contains("disconnect fails")),
                    "Disconnected ran once and its exception is logged");
            using (var client = Connect(server.Port))
            {
                Send(client, "after");
                Assert(ReadText(client, 5) == "after", "still serving after a Disconnected handler threw");
            }
        }
    }

    static void ReceivedDataLifetime()
    {
        ReceivedEventArgs kept = null;
        Link keptLink = null;
        string inside = null;
        using (var server = NewServer())
        {
            server.Received += (s, e) =>
            {
                var copy = new byte[e.Length + 2];
                e.CopyTo(copy, 2);
                var tail = new byte[3];
                e.CopyTo(2, tail, 0, 3);
                inside = string.Join("/", e.GetString(), Encoding.ASCII.GetString(copy, 2, e.Length),
                                     Encoding.ASCII.GetString(tail), ((char)e[0]).ToString(),
                                     e.StartsWith(Encoding.ASCII.GetBytes("abc")).ToString(),
                                     e.StartsWith(Encoding.ASCII.GetBytes("abd")).ToString(),
                                     Encoding.ASCII.GetString(e.ToArray()), e.Link.Handle == IntPtr.Zero ? "zero" : "handle");
                kept = e;
                keptLink = e.Link;
                e.Link.Send(Encoding.ASCII.GetBytes("ok"));
            };
            server.Start("127.0.0.1", 0);
            using (var client = Connect(server.Port))
            {
                Send(client, "abcdef");
                Assert(ReadText(client, 2) == "ok", "handler ran");
            }
        }
        Assert(inside == "abcdef/abcdef/cde/a/True/False/abcdef/handle", "helpers read the bytes in place: " + inside);
        Assert(kept.Length == 6 && keptLink.Id != 0 && !keptLink.IsValid, "Length and Id stay readable");
        Throws<InvalidOperationException>(() => kept.ToArray(), "ToArray after the event");
        Throws<InvalidOperationException>(() => { var b = kept[0]; }, "indexer after the event");
        Throws<InvalidOperationException>(() => keptLink.Send(new byte[] { 1 }), "Link.Send after the event");
        Throws<InvalidOperationException>(() => { var ip = keptLink.RemoteIP; }, "Link.RemoteIP after the event");
    }

    static void SendByIdAndBroadcast()
    {
        var ids = new ConcurrentDictionary<string, ulong>();  // the name a client sent -> its link id
        using (var server = NewServer())
        {
            server.Received += (s, e) => ids[e.GetString()] = e.Link.Id;
            server.Start("127.0.0.1", 0);
            using (var a = Connect(server.Port))
            using (var b = Connect(server.Port))
            {
                Send(a, "a");
                Send(b, "b");
                WaitFor(() => ids.Count == 2, "both links named themselves");
                int broadcastCount = 0;
                OnOtherThread(() =>  // not an engine thread: sends by id work anywhere
                {
                    server.Send(ids["a"], Encoding.ASCII.GetBytes("to a\n"));
                    Assert(server.TrySend(ids["b"], Encoding.ASCII.GetBytes("xxto b\nxx"), 2, 5), "TrySend by id");
                    broadcastCount = server.Broadcast(Encoding.ASCII.GetBytes("everyone\n"));
                });
                Assert(broadcastCount == 2, "Broadcast queued to both links, got " + broadcastCount);
                Assert(ReadText(a, 14) == "to a\neveryone\n", "a got its message, then the broadcast");
                Assert(ReadText(b, 14) == "to b\neveryone\n", "b got its message, then the broadcast");
            }
        }
    }

    static void CloseLinkById()
    {
        var ids = new ConcurrentQueue<ulong>();
        var reasons = new ConcurrentQueue<CloseReason>();
        using (var server = NewServer())
        {
            server.Connecting += (s, e) => ids.Enqueue(e.Link.Id);
            server.Disconnected += (s, e) => reasons.Enqueue(e.CloseReason);
            server.Start("127.0.0.1", 0);
            using (var client = Connect(server.Port))
            {
                WaitFor(() => ids.Count == 1, "link open");
                ulong id = ids.First();
                server.Send(id, Encoding.ASCII.GetBytes("bye\n"));
                Assert(server.CloseLink(id), "CloseLink(id) closes an open link");
                Assert(ReadText(client, 4) == "bye\n", "pending sends flush before the close");
                Assert(ClosedByServer(client), "the client sees the close");
                WaitFor(() => reasons.Count == 1, "Disconnected");
                Assert(reasons.First() == CloseReason.ByApp, "reason ByApp");
                Assert(!server.CloseLink(id), "CloseLink of a closed link returns false");
                var error = Throws<TcpServerException>(() => server.Send(id, new byte[] { 1 }), "Send to a closed id");
                Assert(error.Code == TcpServerErrorCode.LinkClosed, "code LinkClosed, got " + error.Code);
            }
        }
    }

    static void IdleTimeout()
    {
        foreach (bool withHandler in new[] { true, false })
        {
            var closes = new ConcurrentQueue<string>();
            using (var server = NewServer())
            {
                server.IdleTimeoutMs = 200;
                if (withHandler) server.IdleTimeout += (s, e) => closes.Enqueue("idle " + e.CloseReason);
                server.Disconnected += (s, e) => closes.Enqueue("disconnect " + e.CloseReason);
                server.Start("127.0.0.1", 0);
                using (var client = Connect(server.Port))
                {
                    Assert(ClosedByServer(client), "the silent client is closed");
                    WaitFor(() => closes.Count == 1, "one closing event");
                    string expected = withHandler ? "idle Idle" : "disconnect Idle";
                    Assert(closes.First() == expected, "expected " + expected + ", got " + closes.First());
                }
            }
        }
    }

    static void ErrorsAreExceptions()
    {
        using (var server = NewServer())
        {
            var error = Throws<TcpServerException>(() => server.Start("not-an-ip", 0), "bad IP text");
            Assert(error.Code == TcpServerErrorCode.BadAddress && error.Message.Contains("not-an-ip"),
                   "BadAddress naming the address: " + error.Message);
            Assert(!server.IsActive, "a failed Start leaves the server stopped");
            var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            try
            {
                int busyPort = ((IPEndPoint)listener.LocalEndpoint).Port;
                error = Throws<TcpServerException>(() => server.Start("127.0.0.1", busyPort), "port in use");
                Assert(error.Code == TcpServerErrorCode.AddressInUse, "AddressInUse, got " + error.Code);
            }
            finally { listener.Stop(); }
            Throws<ArgumentOutOfRangeException>(() => server.IoBufferSize = -5, "option out of range");
            Throws<ArgumentOutOfRangeException>(() => server.Start("127.0.0.1", 70000), "port out of range");
            server.Start("127.0.0.1", 0);
            error = Throws<TcpServerException>(() => server.Start("127.0.0.1", 0), "starting a running server");
            Assert(error.Code == TcpServerErrorCode.AlreadyActive, "AlreadyActive, got " + error.Code);
            using (var other = NewServer())
            {
                error = Throws<TcpServerException>(() => other.Start("127.0.0.1", server.Port), "another server on its port");
                Assert(error.Code == TcpServerErrorCode.AddressInUse, "AddressInUse, got " + error.Code);
            }
            Assert(server.IsActive, "the running server is untouched");
            error = Throws<TcpServerException>(() => server.Send(ulong.MaxValue, new byte[] { 1 }), "unknown link id");
            Assert(error.Code == TcpServerErrorCode.LinkClosed, "LinkClosed for a stale id, got " + error.Code);
            Assert(error.NativeCode == N.TS_ERR_LINK_CLOSED && error.Text.Length > 0, "native code and text kept");
        }
    }

    static void StopInsideHandler()
    {
        Exception inside = null;
        using (var server = NewServer())
        {
            server.Received += (s, e) =>
            {
                try { server.Stop(); }
                catch (Exception ex) { inside = ex; }
                e.Link.Send(Encoding.ASCII.GetBytes("done"));
            };
            server.Start("127.0.0.1", 0);
            using (var client = Connect(server.Port))
            {
                Send(client, "stop please");
                Assert(ReadText(client, 4) == "done", "the handler finished");
            }
            var error = inside as TcpServerException;
            Assert(error != null && error.Code == TcpServerErrorCode.InCallback, "InCallback, got " + inside);
            Assert(server.IsActive, "the server still runs");
        }
    }

    static void OptionsApplied()
    {
        using (var server = NewServer())
        {
            server.IoBufferSize = 4096;
            server.MaxLinks = 123;
            server.TcpNoDelay = false;
            server.SendQueuePolicy = SendQueuePolicy.RefuseSend;
            Assert(server.MaxLinks == 123 && !server.TcpNoDelay, "the object reports what was set");
            server.KeepAlive = true;
            server.KeepAliveIdleSeconds = 30;
            server.KeepAliveIntervalSeconds = 7;
            server.KeepAliveCount = 3;
            server.IPv6Only = true;
            server.MaxMessageSize = 65536;
            Assert(N.TcpServerGetOption(server.Handle, N.TS_OPT_MAX_LINKS) == 3000, "not applied before Start");
            server.Start("127.0.0.1", 0);
            Func<int, long> engine = option => N.TcpServerGetOption(server.Handle, option);
            Assert(engine(N.TS_OPT_IO_BUFFER_SIZE) == 4096, "IoBufferSize reached the engine");
            Assert(engine(N.TS_OPT_MAX_LINKS) == 123, "MaxLinks reached the engine");
            Assert(engine(N.TS_OPT_TCP_NODELAY) == 0, "TcpNoDelay reached the engine");
            Assert(engine(N.TS_OPT_SEND_QUEUE_POLICY) == N.TS_QUEUE_REFUSE_SEND, "policy reached the engine");
            Assert(engine(N.TS_OPT_KEEPALIVE) == 1 && engine(N.TS_OPT_KEEPALIVE_IDLE_S) == 30 &&
                   engine(N.TS_OPT_KEEPALIVE_INTERVAL_S) == 7 && engine(N.TS_OPT_KEEPALIVE_COUNT) == 3, "keep-alive reached the engine");
            Assert(engine(N.TS_OPT_IPV6_ONLY) == 1 && server.IPv6Only, "IPv6Only reached the engine");
            Assert(engine(N.TS_OPT_MAX_MESSAGE_SIZE) == 65536, "MaxMessageSize reached the engine");
            Assert(N.GetServerOption(N.TS_OPT_MAX_LINKS) == 3000, "the default (flat API) server is untouched");
            server.Stop();
        }
        using (var fresh = NewServer())  // each TcpServer starts from the engine's defaults
        {
            Assert(fresh.MaxLinks == 3000 && fresh.IoBufferSize == 2048 && fresh.TcpNoDelay && !fresh.KeepAlive,
                   "a new server has the defaults, whatever another one set");
        }
    }

    static void Statistics()
    {
        using (var server = NewServer())
        {
            server.WorkerThreads = 2;
            server.Start("127.0.0.1", 0);
            var before = server.GetStats();
            using (var client = Connect(server.Port))
            {
                Send(client, "count me");
                Assert(ReadText(client, 8) == "count me", "echoed");
                var during = server.GetStats();
                Assert(during.Links == 1 && during.Workers == 2 && server.WorkerCount == 2, "one link, two workers");
                Assert(during.LinkFree == server.MaxLinks - 1 && during.IoMemFree > 0 && during.IoMemFree <= server.IoBufferCount,
                       "free links and buffers");
                Assert(during.Accepts == before.Accepts + 1, "one more accept");
                Assert(during.BytesIn >= before.BytesIn + 8, "bytes in counted");
                Assert(server.LinkCount == 1, "LinkCount");
            }
        }
    }

    static void PerServerStatistics()
    {
        var a = NewServer();
        var b = NewServer();
        a.MaxLinks = 16; a.IoBufferCount = 64; a.IoBufferSize = 1024; a.WorkerThreads = 1;
        b.MaxLinks = 40; b.IoBufferCount = 200; b.IoBufferSize = 4096; b.WorkerThreads = 3;
        var handled = new ConcurrentDictionary<uint, int>();  // worker thread id -> Received events
        a.Received += (s, e) => { handled.AddOrUpdate(e.Link.Worker.ThreadId, 1, (id, n) => n + 1); e.Link.Send(e.ToArray()); };
        a.Start("127.0.0.1", 0);
        b.Start("127.0.0.1", 0);

        // The link table and the pool are sized from each server's own options.
        var sa = a.GetStats();
        var sb = b.GetStats();
        Assert(sa.Links == 0 && sa.LinkFree == 16 && sa.LinkUse == 0, "a: 16 free link slots, none in use");
        Assert(sb.Links == 0 && sb.LinkFree == 40 && sb.LinkUse == 0, "b: 40 free link slots, none in use");
        Assert(sa.LinkSize > 0 && sa.LinkSize % 16 == 0 && sb.LinkSize % 40 == 0 && sa.LinkSize / 16 == sb.LinkSize / 40,
               string.Format("link tables of 16 and 40 slots of one size: {0} and {1} bytes", sa.LinkSize, sb.LinkSize));
        Assert(sa.IoMemSize % 64 == 0 && sa.IoMemSize / 64 >= 1024 && sb.IoMemSize % 200 == 0 && sb.IoMemSize / 200 >= 4096 &&
               sb.IoMemSize / 200 - sa.IoMemSize / 64 == 4096 - 1024,
               string.Format("pools of 64 x 1024 and 200 x 4096 bytes plus one header each: {0} and {1} bytes", sa.IoMemSize, sb.IoMemSize));
        Assert(sa.Workers == 1 && sb.Workers == 3, "worker counts");

        // Buffers taken from a's pool show in a's use only.
        var taken = new List<IntPtr>();
        try
        {
            for (int i = 0; i < 16; i++)
            {
                IntPtr mem = N.TcpServerGetIOMem(a.Handle);
                Assert(mem != IntPtr.Zero, "a buffer from a's pool");
                taken.Add(mem);
            }
            sa = a.GetStats();
            Assert(sa.IoMemFree <= 64 - 16 && sa.IoMemUse == (64 - sa.IoMemFree) * 100.0 / 64,
                   string.Format("a's pool: 16 of 64 buffers taken, {0} free, {1}% in use", sa.IoMemFree, sa.IoMemUse));
            var poolB = b.GetStats();
            Assert(poolB.IoMemFree == 200 && poolB.IoMemUse == 0, "b's pool is not a's");
        }
        finally
        {
            foreach (var mem in taken) N.FreeIOMem(mem);
        }

        // Worker threads: one entry per worker, distinct OS threads, none shared between servers.
        var wa = a.GetWorkerStats();
        var wb = b.GetWorkerStats();
        Assert(wa.Length == 1 && wb.Length == 3, "one WorkerStats per worker");
        var ids = wa.Concat(wb).Select(w => w.ThreadId).ToList();
        Assert(ids.All(id => id != 0) && ids.Distinct().Count() == 4, "four distinct worker thread ids: " + string.Join(",", ids));
        Assert(wb.Select(w => w.Index).SequenceEqual(new[] { 1, 2, 3 }), "indexes 1..3");

        // a's only worker runs a's events: its count grows with the traffic, b's workers see none of it.
        int before = wa[0].Events;
        int bEvents = wb.Sum(w => w.Events);
        using (var client = Connect(a.Port))
        {
            for (int i = 0; i < 5; i++)
            {
                Send(client, "ping" + i);
                Assert(ReadText(client, 5) == "ping" + i, "a echoes");
            }
            var links = a.GetStats();
            Assert(links.Links == 1 && links.LinkFree == 15 && links.LinkUse == 100.0 / 16, "a: one of 16 links in use");
            Assert(b.GetStats().LinkFree == 40, "b has no link");
        }
        var after = a.GetWorkerStats();
        Assert(handled.Count == 1 && handled.ContainsKey(after[0].ThreadId) && handled[after[0].ThreadId] == 5,
               "the 5 receives ran on the thread GetWorkerStats names");
        Assert(after[0].Events >= before + 5, string.Format("a's worker ran {0} events, then {1} after 5 receives", before, after[0].Events));
        Assert(b.GetWorkerStats().Sum(w => w.Events) == bEvents, "b's workers ran none of a's events");

        // The service thread makes a pass every 100 ms on each server.
        WaitFor(() => a.GetStats().ServerExecCount >= 1 && b.GetStats().ServerExecCount >= 1, "a service pass on both servers");

        // Stopped: no workers to report; disposed: no server to ask.
        a.Stop();
        Assert(a.GetWorkerStats().Length == 0 && a.GetStats().Workers == 0, "a stopped server has no workers");
        a.Dispose();
        Throws<ObjectDisposedException>(() => a.GetStats(), "GetStats after Dispose");
        Throws<ObjectDisposedException>(() => a.GetWorkerStats(), "GetWorkerStats after Dispose");
        Assert(b.GetWorkerStats().Length == 3, "b still reports its workers");

        // The declarations' failure values reach C# as the header documents them.
        uint busy;
        Assert(N.TcpServerGetWorkerExecInfo(b.Handle, 4, out busy) == -1 && N.GetLastErrorCode() == N.TS_ERR_INVALID_ARGUMENT &&
               N.PtrToUtf8(N.GetLastErrorText()).Contains("worker index 4"), "a worker index past b's 3 fails with the engine's text");
        Assert(N.TcpServerGetWorkerID(b.Handle, 0) == 0 && N.TcpServerGetLinkSize(IntPtr.Zero) == -1 &&
               N.TcpServerGetIOMemSize(IntPtr.Zero) == -1 && N.TcpServerGetLinkUse(IntPtr.Zero) == -1 &&
               N.TcpServerGetExecLong(IntPtr.Zero) == -1 && N.TcpServerGetExecCount(IntPtr.Zero) == -1,
               "bad index or handle: 0 / -1");
    }

    static void SafeHandleDelaysDestroy()
    {
        var server = NewServer();
        TcpServerSafeHandle handle = server.ServerHandle;
        IntPtr raw = server.Handle;
        Assert(handle != null && !handle.IsInvalid && handle.DangerousGetHandle() == raw, "ServerHandle wraps Handle");
        bool added = false;
        handle.DangerousAddRef(ref added);  // as a native call in flight on another thread would
        try
        {
            server.Dispose();
            Assert(server.Handle == IntPtr.Zero && !server.IsActive && server.Port == 0, "disposed");
            Throws<ObjectDisposedException>(() => server.GetStats(), "GetStats after Dispose");
            Assert(N.TcpServerGetOption(raw, N.TS_OPT_MAX_LINKS) > 0, "the engine server lives while a call holds it");
        }
        finally
        {
            if (added) handle.DangerousRelease();  // the last reference: DestroyTcpServer now
        }
        Assert(handle.IsClosed, "the SafeHandle is closed once released");
        Assert(N.TcpServerGetOption(raw, N.TS_OPT_MAX_LINKS) == -1 && N.GetLastErrorCode() == N.TS_ERR_INVALID_ARGUMENT,
               "destroyed once the call let go: " + N.PtrToUtf8(N.GetLastErrorText()));
    }

    static void DisposeAndRestart()
    {
        var server = NewServer();
        server.Start("127.0.0.1", 0);
        int port = server.Port;
        server.Stop();
        Assert(!server.IsActive && server.Port == 0, "Stop stops");
        Assert(server.Stop(1000), "Stop is idempotent");
        server.Start("127.0.0.1", 0);
        using (var client = Connect(server.Port))
        {
            Send(client, "again");
            Assert(ReadText(client, 5) == "again", "the same object serves after a restart");
        }
        port = server.Port;
        server.Dispose();
        Assert(server.Handle == IntPtr.Zero && !server.IsActive, "Dispose destroyed the engine server");
        Throws<SocketException>(() => new TcpClient().Connect(IPAddress.Loopback, port), "connecting after Dispose");
        Throws<ObjectDisposedException>(() => server.Start("127.0.0.1", 0), "Start after Dispose");
        using (var next = NewServer())
        {
            next.Start("127.0.0.1", 0);
            using (var client = Connect(next.Port))
            {
                Send(client, "next");
                Assert(ReadText(client, 4) == "next", "a new server serves");
            }
        }
    }

    static void TwoServersAtOnce()
    {
        var a = NewServer();
        var b = NewServer();
        a.Received += (s, e) => e.Link.Send(Encoding.ASCII.GetBytes(e.GetString().ToUpperInvariant()));
        b.Received += (s, e) => e.Link.Send(Encoding.ASCII.GetBytes("b:" + e.GetString()));
        a.Start("127.0.0.1", 0);
        b.Start("127.0.0.1", 0);
        Assert(a.IsActive && b.IsActive && a.Port != b.Port && a.Handle != b.Handle, "both run, on their own ports");
        using (var ca = Connect(a.Port))
        using (var cb = Connect(b.Port))
        {
            Send(ca, "to a");
            Send(cb, "to b");
            Assert(ReadText(ca, 4) == "TO A", "a's handler answered a's client");
            Assert(ReadText(cb, 6) == "b:to b", "b's handler answered b's client");
            Assert(a.GetCounter(TcpServerCounter.Accepts) == 1 && b.GetCounter(TcpServerCounter.Accepts) == 1,
                   "each server counted its own accept");
            Assert(a.LinkCount == 1 && b.LinkCount == 1, "each server has its own link");
            Assert(a.GetLinkIds()[0] != b.GetLinkIds()[0], "ids are unique across servers");
            a.Stop();
            Assert(ClosedByServer(ca), "stopping a closed a's link");
            Send(cb, "still");
            Assert(ReadText(cb, 7) == "b:still" && b.IsActive, "b keeps serving after a stopped");
        }
        a.Start("127.0.0.1", 0);
        Assert(a.IsActive && b.IsActive, "a restarts beside b");
    }

    static void ContextRouting()
    {
        const int count = 4;
        var seen = new ConcurrentQueue<string>();  // "event server-index sender-index"
        var list = Enumerable.Range(0, count).Select(_ => NewServer()).ToList();
        Func<object, int> index = sender => list.IndexOf((TcpServer)sender);
        for (int i = 0; i < count; i++)
        {
            int me = i;
            var server = list[i];
            server.WorkerThreads = 1;
            server.ThreadStarted += (s, e) => { seen.Enqueue("thread " + me + " " + index(s)); e.State = me; };
            server.Connecting += (s, e) => seen.Enqueue("connect " + me + " " + index(s));
            server.Received += (s, e) =>
            {
                seen.Enqueue("receive " + me + " " + index(s) + " " + e.Link.Worker.State);
                e.Link.Send(Encoding.ASCII.GetBytes(me.ToString()));
            };
            server.Disconnected += (s, e) => seen.Enqueue("disconnect " + me + " " + index(s));
            server.Start("127.0.0.1", 0);
        }
        GC.Collect();  // the Context handles are weak: the running servers must still be reachable
        GC.WaitForPendingFinalizers();
        for (int i = count - 1; i >= 0; i--)
            using (var client = Connect(list[i].Port))
            {
                Send(client, "who?");
                Assert(ReadText(client, 1) == i.ToString(), "server " + i + "'s own handler answered");
            }
        WaitFor(() => seen.Count(x => x.StartsWith("disconnect")) == count, "every link's Disconnected");
        foreach (var line in seen)
        {
            var words = line.Split(' ');
            Assert(words[1] == words[2], "the event reached the server it belongs to: " + line);
            if (words[0] == "receive") Assert(words[3] == words[1], "the worker's state is its own server's: " + line);
        }
        foreach (var what in new[] { "thread", "connect", "receive", "disconnect" })
            Assert(Enumerable.Range(0, count).All(i => seen.Contains(what + " " + i + " " + i) ||
                                                       seen.Any(x => x.StartsWith(what + " " + i + " " + i + " "))),
                   "every server got its " + what + " event");
    }

    static void DroppedServerIsFinalized()
    {
        // Made on a thread that ends, so no stack slot of ours keeps them. Mono scans stacks
        // conservatively, so a stray word may still pin one: it is enough that some are freed.
        var dropped = new List<KeyValuePair<WeakReference, IntPtr>>();
        OnOtherThread(() =>
        {
            for (int i = 0; i < 4; i++) dropped.Add(StartAndStopUnreferencedServer());
        });
        WaitFor(() =>
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            return dropped.Any(pair => !pair.Key.IsAlive);
        }, "a stopped, unreferenced server is collected");
        foreach (var pair in dropped.Where(pair => !pair.Key.IsAlive))
        {
            Assert(N.TcpServerGetOption(pair.Value, N.TS_OPT_MAX_LINKS) == -1 &&
                   N.GetLastErrorCode() == N.TS_ERR_INVALID_ARGUMENT, "its finalizer destroyed the engine server");
        }
        using (var next = NewServer())  // the finalizer destroyed it without disturbing the engine
        {
            next.Start("127.0.0.1", 0);
            using (var client = Connect(next.Port))
            {
                Send(client, "after");
                Assert(ReadText(client, 5) == "after", "a new server serves");
            }
        }
    }

    static KeyValuePair<WeakReference, IntPtr> StartAndStopUnreferencedServer()
    {
        var server = new TcpServer { WorkerThreads = 1, IdleTimeoutMs = 0 };
        server.Received += (s, e) => e.Link.Send(e.Data, e.Length);
        server.Start("127.0.0.1", 0);
        server.Stop();
        return new KeyValuePair<WeakReference, IntPtr>(new WeakReference(server), server.Handle);
    }

    static void FramingRoundTrip()
    {
        var sizes = new ConcurrentQueue<int>();
        var closes = new ConcurrentQueue<CloseReason>();
        using (var server = NewServer())
        {
            server.Framing = TcpFraming.LengthPrefixed;
            server.MaxMessageSize = 1 << 20;
            Assert(server.Framing == TcpFraming.LengthPrefixed && server.MaxMessageSize == 1 << 20, "options read back");
            server.Received += (s, e) =>
            {
                sizes.Enqueue(e.Length);
                e.Link.Send(e.Data, e.Length);  // the engine adds the header
            };
            server.Disconnected += (s, e) => closes.Enqueue(e.CloseReason);
            server.Start("127.0.0.1", 0);
            var messages = new[] { 1, 7, 2047, 2048, 2049, 5000, 300000, 1 << 20 }.Select((n, i) => Pattern(n, 40 + i)).ToArray();
            using (var client = Connect(server.Port))
            {
                // All messages as one stream cut at odd places: headers and payloads get split.
                var stream = messages.SelectMany(m => Header(m.Length).Concat(m)).ToArray();
                var writer = new Thread(() =>
                {
                    for (int offset = 0, cut = 3; offset < stream.Length; offset += cut, cut = cut * 7 % 10007 + 1)
                        client.GetStream().Write(stream, offset, Math.Min(cut, stream.Length - offset));
                });
                writer.Start();
                foreach (var message in messages)
                {
                    var header = ReadExactly(client, 4);
                    int length = header[0] << 24 | header[1] << 16 | header[2] << 8 | header[3];
                    Assert(length == message.Length, "echoed header announces " + message.Length + ", got " + length);
                    Assert(ReadExactly(client, length).SequenceEqual(message), "message of " + length + " bytes came back whole");
                }
                writer.Join();
                Assert(sizes.SequenceEqual(messages.Select(m => m.Length)), "Received got each message whole: " +
                       string.Join(",", sizes.Select(n => n.ToString()).ToArray()));
                client.GetStream().Write(Header((1 << 20) + 1), 0, 4);
                Assert(ClosedByServer(client), "a header over MaxMessageSize closes the link");
            }
            WaitFor(() => closes.Count == 1, "Disconnected for the bad header");
            Assert(closes.First() == CloseReason.FrameTooLarge, "reason FrameTooLarge, got " + closes.First());
            WaitFor(() => server.GetCounter(TcpServerCounter.FramingErrors) == 1, "counted as a framing error");
        }
    }

    static byte[] Header(int length)
    {
        return new[] { (byte)(length >> 24), (byte)(length >> 16), (byte)(length >> 8), (byte)length };
    }

    static void PauseAndResume()
    {
        var ids = new ConcurrentQueue<ulong>();
        using (var server = NewServer())
        {
            server.Received += (s, e) =>
            {
                ids.Enqueue(e.Link.Id);
                if (e.GetString() == "pause me")
                {
                    e.Link.PauseReceive();
                    e.Link.PauseReceive();  // pausing a paused link changes nothing
                }
                e.Link.Send(e.Data, e.Length);
            };
            server.Start("127.0.0.1", 0);
            using (var client = Connect(server.Port))
            {
                Send(client, "pause me");
                Assert(ReadText(client, 8) == "pause me", "echoed, then paused from the handler");
                Send(client, "waits");
                Assert(TestSockets.NothingArrives(client, 300), "nothing is read from a paused link");
                ulong id = ids.First();
                Assert(server.ResumeReceive(id), "ResumeReceive(id)");
                Assert(ReadText(client, 5) == "waits", "what waited is delivered after the resume");
                Assert(server.PauseReceive(id), "PauseReceive(id) from another thread");
                Send(client, "again");
                Assert(TestSockets.NothingArrives(client, 300), "paused by id");
                Assert(server.ResumeReceive(id) && server.ResumeReceive(id), "resuming twice is fine");
                Assert(ReadText(client, 5) == "again", "delivered in order after the resume");
                client.Close();
                // Wait without pausing: a paused link would not read the end of the stream
                // (it comes after any unread bytes), so polling with PauseReceive could keep
                // the link open for ever.
                WaitFor(() => server.LinkCount == 0, "the server noticed the close");
                Assert(!server.PauseReceive(id), "PauseReceive of a closed link returns false");
                Assert(!server.ResumeReceive(id), "ResumeReceive of a closed link returns false");
            }
        }
    }

    static void SendQueueBytes()
    {
        var ids = new ConcurrentQueue<ulong>();
        long insideEvent = -1;
        using (var server = NewServer())
        {
            server.SendQueueLimit = 0;  // no limit: the queue just grows
            server.Connecting += (s, e) =>
            {
                Volatile.Write(ref insideEvent, e.Link.SendQueueBytes);
                ids.Enqueue(e.Link.Id);  // after: the test reads insideEvent once the id is there
            };
            server.Start("127.0.0.1", 0);
            using (var client = Connect(server.Port))
            {
                WaitFor(() => ids.Count == 1, "link open");
                ulong id = ids.First();
                Assert(Volatile.Read(ref insideEvent) == 0 && server.GetSendQueueBytes(id) == 0, "nothing queued on a new link");
                const int size = 8 << 20;
                server.Send(id, new byte[size]);  // far more than the socket buffers hold
                long queued = server.GetSendQueueBytes(id);
                Assert(queued > 0 && queued <= size, "queued bytes while the peer does not read: " + queued);
                ReadExactly(client, size);
                WaitFor(() => server.GetSendQueueBytes(id) == 0, "the queue drains once the peer reads");
                client.Close();
                WaitFor(() => server.GetSendQueueBytes(id) == -1, "-1 for a closed link");
            }
        }
    }

    static void LinkIdsAndBroadcastExcept()
    {
        var opened = new ConcurrentQueue<ulong>();
        int closed = 0;
        using (var server = NewServer())
        {
            Assert(server.GetLinkIds().Length == 0, "no links yet");
            server.Connecting += (s, e) => opened.Enqueue(e.Link.Id);
            server.Disconnected += (s, e) => Interlocked.Increment(ref closed);
            server.Start("127.0.0.1", 0);
            var clients = Enumerable.Range(0, 3).Select(_ => Connect(server.Port)).ToList();
            try
            {
                WaitFor(() => opened.Count == 3, "three links open");
                WaitFor(() => new HashSet<ulong>(server.GetLinkIds()).SetEquals(opened), "GetLinkIds lists exactly the open links");
                var first = opened.First();
                int reached = server.BroadcastExcept(first, Encoding.ASCII.GetBytes("not for the first\n"));
                Assert(reached == 2, "queued to two links, got " + reached);
                var got = clients.Select(c => TestSockets.NothingArrives(c, 300) ? "" : ReadText(c, 18)).ToList();
                Assert(got.Count(x => x == "not for the first\n") == 2 && got.Count(x => x == "") == 1,
                       "two clients got it, one did not: " + string.Join("|", got.ToArray()));
                clients[0].Close();
                WaitFor(() => closed == 1, "one link closed");
                WaitFor(() => server.GetLinkIds().Length == 2 && server.LinkCount == 2, "two ids left");
            }
            finally
            {
                clients.ForEach(c => c.Close());
            }
        }
    }

    // ---- helpers -----------------------------------------------------------------------------

    /// <summary>A server with the options every check relies on (the engine keeps option
    /// values between servers, so each check states them).</summary>
    static TcpServer NewServer()
    {
        var server = new TcpServer();
        servers.Add(server);
        server.WorkerThreads = 2;
        server.IdleTimeoutMs = 0;
        return server;
    }

    static TcpClient Connect(int port)
    {
        var client = new TcpClient();
        client.ReceiveTimeout = DeadlineMs;
        client.SendTimeout = DeadlineMs;
        client.NoDelay = true;
        client.Connect(IPAddress.Loopback, port);
        return client;
    }

    static void Send(TcpClient client, string text)
    {
        var bytes = Encoding.ASCII.GetBytes(text);
        client.GetStream().Write(bytes, 0, bytes.Length);
    }

    static byte[] ReadExactly(TcpClient client, int count)
    {
        var result = new byte[count];
        int done = 0;
        while (done < count)
        {
            int n = client.GetStream().Read(result, done, count - done);  // throws on timeout
            if (n == 0) throw new Exception(string.Format("connection closed after {0} of {1} bytes", done, count));
            done += n;
        }
        return result;
    }

    static string ReadText(TcpClient client, int count) { return Encoding.ASCII.GetString(ReadExactly(client, count)); }

    /// <summary>Which of two clients receives exactly `text` next (the other must not).</summary>
    static TcpClient ReadLineFromEither(TcpClient a, TcpClient b, string text)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(DeadlineMs);
        while (DateTime.UtcNow < deadline)
        {
            foreach (var client in new[] { a, b })
                if (client.Available >= text.Length)
                    return ReadText(client, text.Length) == text ? client : null;
            Thread.Sleep(2);
        }
        return null;
    }

    /// <summary>True when the server closed the connection (EOF or reset) before any data.</summary>
    static bool ClosedByServer(TcpClient client)
    {
        try
        {
            return client.GetStream().Read(new byte[1], 0, 1) == 0;
        }
        catch (IOException ex)
        {
            var socketError = ex.InnerException as SocketException;
            if (socketError != null && socketError.SocketErrorCode == SocketError.TimedOut)
                throw new Exception("the server did not close the connection within " + DeadlineMs + " ms");
            return socketError != null && socketError.SocketErrorCode == SocketError.ConnectionReset;
        }
    }

    static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }

    /// <summary>Run action on a new thread and rethrow what it threw here.</summary>
    static void OnOtherThread(Action action)
    {
        Exception error = null;
        var thread = new Thread(() =>
        {
            try { action(); }
            catch (Exception ex) { error = ex; }
        });
        thread.Start();
        thread.Join();
        if (error != null) throw new Exception("on another thread: " + error.Message, error);
    }

    static void WaitFor(Func<bool> condition, string what, int timeoutMs = DeadlineMs)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new Exception("timed out waiting for: " + what);
            Thread.Sleep(2);
        }
    }

    static void Assert(bool condition, string what)
    {
        if (!condition) throw new Exception("assertion failed: " + what);
    }

    static T Throws<T>(Action action, string what) where T : Exception
    {
        try { action(); }
        catch (T expected) { return expected; }
        catch (Exception other) { throw new Exception(what + ": expected " + typeof(T).Name + ", got " + other); }
        throw new Exception(what + ": expected " + typeof(T).Name + ", nothing was thrown");
    }

    static void Run(string name, Action check)
    {
        // TS_CSHARP_ONLY=<text>|<text>... runs only the checks whose name contains one of them.
        string only = Environment.GetEnvironmentVariable("TS_CSHARP_ONLY");
        if (!string.IsNullOrEmpty(only) && !only.Split('|').Any(name.Contains)) return;
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
            // A failed check must not leave a server running for the next one.
            foreach (var server in servers)
            {
                try { server.Dispose(); }
                catch (Exception ex) { Console.WriteLine("  (cleanup: " + ex.Message + ")"); }
            }
            servers.Clear();
        }
    }

    static void StartWatchdog(int milliseconds)
    {
        var watchdog = new Thread(() =>
        {
            Thread.Sleep(milliseconds);
            Console.WriteLine("FAIL the tests took longer than {0} ms (stuck in: {1})", milliseconds, current);
            Console.WriteLine("{0} passed, {1} failed", passed, failed + 1);
            Environment.Exit(2);
        });
        watchdog.IsBackground = true;
        watchdog.Start();
    }
}
