// TestSockets.cs — socket checks shared by the binding's tests and the sample's smoke test.
using System;
using System.Net.Sockets;
using System.Threading;

static class TestSockets
{
    /// <summary>True if no byte arrives within ms: a bounded wait for something that must not
    /// happen (a paused link's echo, a broadcast that skips this client).</summary>
    public static bool NothingArrives(TcpClient client, int ms)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(ms);
        while (DateTime.UtcNow < deadline)
        {
            if (client.Available > 0) return false;
            Thread.Sleep(5);
        }
        return client.Available == 0;
    }
}
