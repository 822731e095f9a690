// TlsTests.cs — the TLS checks of the C# binding (server.Tls, Link.Tls, TcpServerException for
// TLS errors), with Mono's SslStream as the client (TLS 1.2 there). They run when the test
// program is given the path of tests/tls_interop/certs.py, which writes a test PKI into a temp
// folder first (CTest: csharp_tls); without it they are skipped.
using System;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using TcpServerLib;

static partial class BindingTests
{
    const string CertPassword = "test password";  // certs.py's PASSWORD
    static string certs;

    static void RunTlsChecks(string certsScript)
    {
        certs = Path.Combine(Path.GetTempPath(), "tcpserver-cs-tls-" + Process.GetCurrentProcess().Id);
        MakeCertificates(certsScript, certs);
        try
        {
            Run("TLS: a PFX file, an echo over SslStream, the link's TLS info in Connecting and by id", TlsEchoAndInfo);
            Run("TLS: certificates from PEM files, a byte[] PFX and an X509Certificate2", TlsCertificateSources);
            Run("TLS: bad certificates and a start without one throw TcpServerException", TlsErrors);
            Run("TLS: a required client certificate: refused without, accepted with", TlsClientCertificates);
            Run("TLS: SNI names get their own certificates", TlsServerNames);
            Run("TLS: a plain client is counted and never becomes a link", TlsPlainClientRefused);
            Run("TLS: a new certificate on a running server; the open link keeps working", TlsReloadWhileRunning);
        }
        finally
        {
            Directory.Delete(certs, true);
        }
    }

    static void MakeCertificates(string script, string folder)
    {
        var start = new ProcessStartInfo("/usr/bin/python3", "\"" + script + "\" \"" + folder + "\"")
        {
            UseShellExecute = false, RedirectStandardError = true,
        };
        using (var process = Process.Start(start))
        {
            string errors = process.StandardError.ReadToEnd();
            if (!process.WaitForExit(60000) || process.ExitCode != 0)
                throw new Exception("certs.py failed: " + errors);
        }
    }

    static string Cert(string name) { return Path.Combine(certs, name); }

    /// <summary>A TLS server echoing with Received, recording each link's Tls in Connecting.</summary>
    static TcpServer NewTlsServer(ConcurrentQueue<LinkTlsInfo> seen)
    {
        var server = NewServer();
        server.Tls.Enabled = true;
        server.Tls.ClientCertificate = TlsClientCertMode.None;
        server.Tls.MinVersion = TlsVersion.Tls12;
        server.Connecting += (s, e) => seen.Enqueue(e.Link.Tls);
        server.Received += (s, e) => e.Link.Send(e.Data, e.Length);
        return server;
    }

    sealed class TlsClient : IDisposable
    {
        public readonly TcpClient Tcp;
        public readonly SslStream Stream;
        public string PeerSubject;  // read in the callback: Mono disposes the certificate after it

        public TlsClient(int port, string host, X509Certificate2 clientCertificate = null)
        {
            Tcp = Connect(port);
            // The test CA is not in Mono's trust store: the subject is checked by the tests.
            Stream = new SslStream(Tcp.GetStream(), false, (s, certificate, chain, errors) =>
            {
                PeerSubject = certificate.Subject;
                return true;
            }, (s, host2, local, remote, issuers) => clientCertificate);
            var clientCertificates = new X509CertificateCollection();
            if (clientCertificate != null) clientCertificates.Add(clientCertificate);
            Stream.AuthenticateAsClient(host, clientCertificates, SslProtocols.Tls12, false);
        }

        public void Echo(string text)
        {
            var bytes = Encoding.ASCII.GetBytes(text);
            Stream.Write(bytes, 0, bytes.Length);
            var back = new byte[bytes.Length];
            for (int done = 0; done < back.Length;)
            {
                int n = Stream.Read(back, done, back.Length - done);
                if (n == 0) throw new Exception("the server closed the TLS link after " + done + " bytes");
                done += n;
            }
            Assert(back.SequenceEqual(bytes), "'" + text + "' came back over TLS");
        }

        public void Dispose()
        {
            Stream.Dispose();
            Tcp.Close();
        }
    }

    /// <summary>True when the server refuses the handshake: it fails, or the first read after
    /// it ends the stream.</summary>
    static bool TlsRefused(int port, X509Certificate2 clientCertificate = null)
    {
        try
        {
            using (var client = new TlsClient(port, "localhost", clientCertificate))
            {
                var bytes = Encoding.ASCII.GetBytes("x");
                client.Stream.Write(bytes, 0, 1);
                return client.Stream.Read(bytes, 0, 1) == 0;
            }
        }
        catch (AuthenticationException) { return true; }
        catch (IOException) { return true; }
    }

    static void TlsEchoAndInfo()
    {
        var seen = new ConcurrentQueue<LinkTlsInfo>();
        var server = NewTlsServer(seen);
        server.Tls.SetCertificate(Cert("server.pfx"), null, CertPassword);
        long before = server.GetStats().TlsHandshakes;
        server.Start("127.0.0.1", 0);
        using (var client = new TlsClient(server.Port, "localhost"))
        {
            client.Echo("hello over TLS");
            Assert(client.PeerSubject == "CN=localhost", "the server presented its certificate: " + client.PeerSubject);
            WaitFor(() => seen.Count == 1, "Connecting");
            LinkTlsInfo info;
            seen.TryPeek(out info);
            Assert(info != null && info.Protocol == "TLSv1.2" && info.Cipher.StartsWith("ECDHE-ECDSA-"),
                   "Link.Tls in Connecting: " + info);
            Assert(info.ServerName == "localhost" && info.Alpn == "" && info.ClientSubject == "" &&
                   info.VerifyResult == "none" && !info.Resumed && info.CertificatePattern == "", "the rest: " + info);
            ulong id = server.GetLinkIds().Single();
            var byId = TcpServer.GetTlsInfo(id);
            Assert(byId.Protocol == info.Protocol && byId.Cipher == info.Cipher, "TcpServer.GetTlsInfo(id) agrees");
        }
        Assert(server.GetStats().TlsHandshakes == before + 1, "one handshake counted");
    }

    static void TlsCertificateSources()
    {
        var seen = new ConcurrentQueue<LinkTlsInfo>();
        var server = NewTlsServer(seen);
        server.Tls.SetCertificate(Cert("reloaded.pem"), Cert("reloaded.key"));
        server.Start("127.0.0.1", 0);  // a running server: each certificate applies at once
        Action<string, string> handshake = (what, subject) =>
        {
            using (var client = new TlsClient(server.Port, "localhost"))
            {
                client.Echo(what);
                Assert(client.PeerSubject == subject, what + ": subject " + client.PeerSubject);
            }
        };
        var withKey = new X509Certificate2(Cert("server-rsa-legacy.pfx"), CertPassword, X509KeyStorageFlags.Exportable);
        var sources = new[]
        {
            Tuple.Create("PEM files", (Action)(() => server.Tls.SetCertificate(Cert("server.pem"), Cert("server.key")))),
            Tuple.Create("a byte[] PFX", (Action)(() => server.Tls.SetCertificate(File.ReadAllBytes(Cert("server-rsa.pfx")),
                                                                                   CertPassword))),
            Tuple.Create("an X509Certificate2", (Action)(() => server.Tls.SetCertificate(withKey))),
            Tuple.Create("PEM bytes with the key inside",
                         (Action)(() => server.Tls.SetCertificate(File.ReadAllBytes(Cert("server-full.pem")), null, null))),
        };
        foreach (var source in sources)
        {
            // Back to the other certificate between two: each source must take effect itself.
            server.Tls.SetCertificate(Cert("reloaded.pem"), Cert("reloaded.key"));
            handshake("before " + source.Item1, "CN=reloaded.localhost");
            source.Item2();
            handshake(source.Item1, "CN=localhost");
        }
    }

    static void TlsErrors()
    {
        var server = NewServer();
        var wrong = Throws<TcpServerException>(() => server.Tls.SetCertificate(Cert("server.pfx"), null, "not it"),
                                               "a wrong PFX password");
        Assert(wrong.Code == TcpServerErrorCode.TlsCertificate && wrong.Message.Contains("password"),
               "TlsCertificate naming the password: " + wrong.Message);
        var missing = Throws<TcpServerException>(() => server.Tls.SetCertificate(Cert("missing.pem")), "a missing file");
        Assert(missing.Code == TcpServerErrorCode.TlsCertificate && missing.Message.Contains("missing.pem"),
               "TlsCertificate naming the file: " + missing.Message);
        var mismatch = Throws<TcpServerException>(() => server.Tls.SetCertificate(Cert("server.pem"), Cert("client.key")),
                                                  "a key of another certificate");
        Assert(mismatch.Code == TcpServerErrorCode.TlsCertificate, "mismatch: " + mismatch.Message);
        var publicOnly = new X509Certificate2(File.ReadAllBytes(Cert("server.der")));
        Throws<ArgumentException>(() => server.Tls.SetCertificate(publicOnly), "an X509Certificate2 without its key");
        Throws<ArgumentException>(() => server.Tls.SetAlpn("h2", "a,b"), "an ALPN name with a comma");
        var ciphers = Throws<TcpServerException>(() => server.Tls.SetCiphers("NO-SUCH-CIPHER"), "an unknown cipher list");
        Assert(ciphers.Code == TcpServerErrorCode.TlsConfig, "TlsConfig: " + ciphers.Message);
        server.Tls.Enabled = true;
        var start = Throws<TcpServerException>(() => server.Start("127.0.0.1", 0), "TLS on, no certificate");
        Assert(start.Code == TcpServerErrorCode.TlsConfig && !server.IsActive, "Start fails with TlsConfig: " + start.Message);
        Throws<ArgumentOutOfRangeException>(() => server.Tls.MinVersion = (TlsVersion)11, "TLS 1.1 as the minimum");
    }

    static void TlsClientCertificates()
    {
        var seen = new ConcurrentQueue<LinkTlsInfo>();
        var server = NewTlsServer(seen);
        server.Tls.SetCertificate(Cert("server-full.pem"));
        server.Tls.ClientCertificate = TlsClientCertMode.Require;
        server.Tls.SetClientCA(new X509Certificate2(File.ReadAllBytes(Cert("ca.pem"))));
        server.Start("127.0.0.1", 0);
        Assert(TlsRefused(server.Port), "no client certificate: refused");
        WaitFor(() => server.Tls.GetFailureCount(TlsFailureCause.ClientCertificate) == 1, "a client-certificate failure");
        Assert(seen.IsEmpty, "a refused handshake raises no event");
        var clientCertificate = new X509Certificate2(Cert("client-legacy.pfx"), CertPassword);
        using (var client = new TlsClient(server.Port, "localhost", clientCertificate))
            client.Echo("with a certificate");
        WaitFor(() => seen.Count == 1, "Connecting");
        LinkTlsInfo info;
        seen.TryPeek(out info);
        Assert(info.ClientSubject == "CN=client one,O=tcpserver tests" && info.VerifyResult == "ok" &&
               info.ClientIssuer == "CN=tcpserver test CA", "the client certificate in Link.Tls: " + info.ClientSubject);
        Assert(info.ClientFingerprint.Replace(":", "") == BitConverter.ToString(
                   System.Security.Cryptography.SHA256.Create().ComputeHash(clientCertificate.RawData)).Replace("-", ""),
               "the fingerprint is the certificate's SHA-256: " + info.ClientFingerprint);
    }

    static void TlsServerNames()
    {
        var seen = new ConcurrentQueue<LinkTlsInfo>();
        var server = NewTlsServer(seen);
        server.Tls.SetCertificate(Cert("server-full.pem"));
        server.Tls.AddServerName("one.test", File.ReadAllBytes(Cert("one.test.pem")), File.ReadAllBytes(Cert("one.test.key")));
        server.Tls.AddServerName("*.wild.test", File.ReadAllBytes(Cert("wild.test-full.pem")));
        server.Start("127.0.0.1", 0);
        foreach (var pair in new[] { Tuple.Create("one.test", "CN=one.test"), Tuple.Create("a.wild.test", "CN=*.wild.test"),
                                     Tuple.Create("other.test", "CN=localhost") })
            using (var client = new TlsClient(server.Port, pair.Item1))
            {
                client.Echo("sni");
                Assert(client.PeerSubject == pair.Item2, pair.Item1 + " got " + client.PeerSubject);
            }
        server.Tls.RemoveServerName("one.test");
        using (var client = new TlsClient(server.Port, "one.test"))
            Assert(client.PeerSubject == "CN=localhost", "a removed name gets the default certificate");
        WaitFor(() => seen.Count == 4, "four links");
        Assert(string.Join(",", seen.Select(i => i.CertificatePattern).ToArray()) == "one.test,*.wild.test,,",
               "Link.Tls.CertificatePattern: " + string.Join(",", seen.Select(i => i.CertificatePattern).ToArray()));
    }

    static void TlsPlainClientRefused()
    {
        var seen = new ConcurrentQueue<LinkTlsInfo>();
        var server = NewTlsServer(seen);
        server.Tls.SetCertificate(Cert("server-full.pem"));
        server.Start("127.0.0.1", 0);
        using (var plain = Connect(server.Port))
        {
            Send(plain, "GET / HTTP/1.0\r\n\r\n");
            WaitFor(() => server.Tls.GetFailureCount(TlsFailureCause.NotTls) == 1, "a not-TLS failure");
        }
        Assert(seen.IsEmpty && server.GetLinkIds().Length == 0, "no link, no event");
        Assert(server.GetStats().TlsNotTls == 1, "TcpServerStats.TlsNotTls");
    }

    static void TlsReloadWhileRunning()
    {
        var seen = new ConcurrentQueue<LinkTlsInfo>();
        var server = NewTlsServer(seen);
        server.Tls.SetCertificate(Cert("server-full.pem"));
        server.Start("127.0.0.1", 0);
        using (var old = new TlsClient(server.Port, "localhost"))
        {
            old.Echo("before the reload");
            server.Tls.SetCertificate(Cert("reloaded.pem"), Cert("reloaded.key"));
            using (var fresh = new TlsClient(server.Port, "localhost"))
            {
                fresh.Echo("new handshake");
                Assert(fresh.PeerSubject == "CN=reloaded.localhost", "a new handshake sees the new certificate: " +
                       fresh.PeerSubject);
            }
            old.Echo("after the reload");
            Assert(old.PeerSubject == "CN=localhost", "the open link kept its session");
            Throws<TcpServerException>(() => server.Tls.SetCertificate(Cert("server.pem"), Cert("client.key")),
                                       "a refused certificate");
            using (var after = new TlsClient(server.Port, "localhost"))
                Assert(after.PeerSubject == "CN=reloaded.localhost", "a refused setting changed nothing");
        }
    }
}
