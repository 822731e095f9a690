// TcpServerTls.cs — TLS for one TcpServer (server.Tls): the options (applied at Start, like
// every option) and the settings the engine applies at once — on a running server to new
// handshakes, links already open keep theirs — and LinkTlsInfo, what a link's TLS session
// reports. Certificates come from a file, from bytes (PFX, PEM, DER) or from an
// X509Certificate2 with its private key (exported as PKCS#12 under a one-time password). Any
// thread; a refused setting throws TcpServerException (TlsCertificate or TlsConfig, the text
// says what to fix) and changes nothing.
using System;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using N = TcpServerLib.TcpServerNative;

namespace TcpServerLib
{
    /// <summary>The TLS settings of one TcpServer: see TcpServer.Tls.</summary>
    public sealed class TcpServerTls
    {
        readonly TcpServer server;

        internal TcpServerTls(TcpServer server) { this.server = server; }

        // ---- options (kept by the TcpServer, applied at Start) --------------------------------

        /// <summary>Every link speaks TLS: a connection becomes a link (Connecting is raised) once
        /// its handshake completes. Start throws TcpServerException(TlsConfig) without a
        /// certificate.</summary>
        public bool Enabled
        {
            get { return server.GetOption(TcpServerOption.Tls) != 0; }
            set { server.SetOption(TcpServerOption.Tls, value ? 1 : 0); }
        }

        /// <summary>The lowest version offered (Tls12, the default, or Tls13); older ones never.</summary>
        public TlsVersion MinVersion
        {
            get { return (TlsVersion)server.GetOption(TcpServerOption.TlsMinVersion); }
            set { server.SetOption(TcpServerOption.TlsMinVersion, (long)value); }
        }

        /// <summary>Client certificates: None (the default), Request (a client may send none; one
        /// it sends must verify) or Require. The CAs come from SetClientCA.</summary>
        public TlsClientCertMode ClientCertificate
        {
            get { return (TlsClientCertMode)server.GetOption(TcpServerOption.TlsClientCert); }
            set { server.SetOption(TcpServerOption.TlsClientCert, (long)value); }
        }

        /// <summary>A handshake not complete by then is closed, counted and logged (no event).</summary>
        public int HandshakeTimeoutMs
        {
            get { return (int)server.GetOption(TcpServerOption.TlsHandshakeTimeoutMs); }
            set { server.SetOption(TcpServerOption.TlsHandshakeTimeoutMs, value); }
        }

        /// <summary>Handshakes in progress at once; at the cap the oldest is dropped for the new one.</summary>
        public int MaxHandshakes
        {
            get { return (int)server.GetOption(TcpServerOption.TlsMaxHandshakes); }
            set { server.SetOption(TcpServerOption.TlsMaxHandshakes, value); }
        }

        /// <summary>Resumption with stateless session tickets (on by default).</summary>
        public bool SessionTickets
        {
            get { return server.GetOption(TcpServerOption.TlsSessionTickets) != 0; }
            set { server.SetOption(TcpServerOption.TlsSessionTickets, value ? 1 : 0); }
        }

        // ---- the server's certificate --------------------------------------------------------------

        /// <summary>The certificate and key from files: PEM (a chain and the key, in one file or
        /// two), DER, or PKCS#12/PFX (keyFile null: the key is inside). password opens an
        /// encrypted key or a PFX.</summary>
        public void SetCertificate(string certFile, string keyFile = null, string password = null)
        {
            if (certFile == null) throw new ArgumentNullException("certFile");
            Check(server.Call(h => N.TcpServerSetTlsCertificateFile(h, N.Utf8z(certFile), N.Utf8z(keyFile),
                                                                    N.Utf8z(password))),
                  "TLS certificate from " + certFile);
        }

        /// <summary>The certificate from memory: a PFX (PKCS#12, what Windows and .NET export), or
        /// PEM holding the chain and the key.</summary>
        public void SetCertificate(byte[] data, string password = null)
        {
            SetCertificate(data, null, password);
        }

        /// <summary>The certificate and its key from memory (PEM or DER each; keyData null: the
        /// key is in certData).</summary>
        public unsafe void SetCertificate(byte[] certData, byte[] keyData, string password)
        {
            NotEmpty(certData, "certData");
            fixed (byte* cert = certData)
            fixed (byte* key = keyData)
            {
                IntPtr certAt = (IntPtr)cert, keyAt = (IntPtr)key;
                Check(server.Call(h => N.TcpServerSetTlsCertificate(h, certAt, certData.Length, keyAt,
                                                                    keyData == null ? 0 : keyData.Length, N.Utf8z(password))),
                      "TLS certificate");
            }
        }

        /// <summary>The certificate of an X509Certificate2 with its private key (loaded with
        /// X509KeyStorageFlags.Exportable, or from a store that allows the export): exported as
        /// PKCS#12 under a one-time password and handed to the engine.</summary>
        public void SetCertificate(X509Certificate2 certificate)
        {
            string password;
            byte[] pfx = ExportWithKey(certificate, out password);
            SetCertificate(pfx, password);
        }

        // ---- SNI -------------------------------------------------------------------------------------

        /// <summary>SNI: clients asking for hostPattern (a name, or "*.example.com": one label)
        /// get this certificate; an exact name wins over a wildcard, other names and clients
        /// without SNI get SetCertificate's. The same pattern again replaces its certificate.</summary>
        public unsafe void AddServerName(string hostPattern, byte[] certData, byte[] keyData = null, string password = null)
        {
            if (hostPattern == null) throw new ArgumentNullException("hostPattern");
            NotEmpty(certData, "certData");
            fixed (byte* cert = certData)
            fixed (byte* key = keyData)
            {
                IntPtr certAt = (IntPtr)cert, keyAt = (IntPtr)key;
                Check(server.Call(h => N.TcpServerAddTlsServerName(h, N.Utf8z(hostPattern), certAt, certData.Length,
                                                                   keyAt, keyData == null ? 0 : keyData.Length, N.Utf8z(password))),
                      "TLS server name " + hostPattern);
            }
        }

        /// <summary>AddServerName with an X509Certificate2 that has its private key.</summary>
        public void AddServerName(string hostPattern, X509Certificate2 certificate)
        {
            string password;
            byte[] pfx = ExportWithKey(certificate, out password);
            AddServerName(hostPattern, pfx, null, password);
        }

        /// <summary>Forget the certificate of hostPattern.</summary>
        public void RemoveServerName(string hostPattern)
        {
            if (hostPattern == null) throw new ArgumentNullException("hostPattern");
            Check(server.Call(h => N.TcpServerAddTlsServerName(h, N.Utf8z(hostPattern), IntPtr.Zero, 0, IntPtr.Zero, 0, null)),
                  "removing TLS server name " + hostPattern);
        }

        // ---- ALPN, client certificates, ciphers, ticket keys -----------------------------------------

        /// <summary>ALPN protocols in order of preference ("h2", "http/1.1"); none turns ALPN off.
        /// A client offering ALPN with nothing in common is refused; Link.GetTlsInfo(TlsInfo.Alpn)
        /// tells the choice.</summary>
        public void SetAlpn(params string[] protocols)
        {
            foreach (var protocol in protocols ?? new string[0])
                if (string.IsNullOrEmpty(protocol) || protocol.Contains(","))
                    throw new ArgumentException("an ALPN protocol is a non-empty name without commas: '" + protocol + "'",
                                                "protocols");
            string list = protocols == null ? "" : string.Join(",", protocols);
            Check(server.Call(h => N.TcpServerSetTlsAlpn(h, N.Utf8z(list))), "TLS ALPN '" + list + "'");
        }

        /// <summary>The CA certificates client certificates must chain to (see ClientCertificate):
        /// a PEM bundle, DER, or PKCS#12 without a password. null removes them.</summary>
        public unsafe void SetClientCA(byte[] caData)
        {
            fixed (byte* ca = caData)
            {
                IntPtr caAt = (IntPtr)ca;
                Check(server.Call(h => N.TcpServerSetTlsClientCA(h, caAt, caData == null ? 0 : caData.Length)),
                      "TLS client CA");
            }
        }

        /// <summary>SetClientCA from certificates (their public part).</summary>
        public void SetClientCA(params X509Certificate2[] authorities)
        {
            if (authorities == null || authorities.Length == 0)
                throw new ArgumentException("give at least one CA certificate (SetClientCA((byte[])null) removes them)",
                                            "authorities");
            var pem = new StringBuilder();
            foreach (var ca in authorities)
            {
                if (ca == null) throw new ArgumentNullException("authorities");
                pem.Append("-----BEGIN CERTIFICATE-----\n")
                   .Append(Convert.ToBase64String(ca.RawData, Base64FormattingOptions.InsertLineBreaks))
                   .Append("\n-----END CERTIFICATE-----\n");
            }
            SetClientCA(Encoding.ASCII.GetBytes(pem.ToString()));
        }

        /// <summary>OpenSSL cipher list for TLS 1.2 and the TLS 1.3 suites; null or "" keeps the
        /// safe default of that one. NULL, export, RC4, 3DES, anonymous and non-forward-secret
        /// suites are never enabled.</summary>
        public void SetCiphers(string tls12List, string tls13Suites = null)
        {
            Check(server.Call(h => N.TcpServerSetTlsCiphers(h, N.Utf8z(tls12List), N.Utf8z(tls13Suites))),
                  "TLS ciphers");
        }

        /// <summary>Session-ticket keys shared by servers behind one balancer: 1 to 16 keys of 80
        /// bytes (nginx's ssl_session_ticket_key format), the first encrypts, all decrypt. null =
        /// a new random key.</summary>
        public unsafe void SetTicketKeys(byte[] keys)
        {
            fixed (byte* data = keys)
            {
                IntPtr dataAt = (IntPtr)data;
                Check(server.Call(h => N.TcpServerSetTlsTicketKeys(h, dataAt, keys == null ? 0 : keys.Length)),
                      "TLS ticket keys");
            }
        }

        /// <summary>Handshakes of this server that failed for one cause, since it was created.</summary>
        public long GetFailureCount(TlsFailureCause cause)
        {
            long count = server.Call(h => N.TcpServerGetTlsFailureCount(h, (int)cause));
            if (count < 0) throw TcpServerException.Last("TLS failure count " + cause);
            return count;
        }

        // ---- helpers ------------------------------------------------------------------------------

        static void Check(int result, string what)
        {
            if (result == 0) throw TcpServerException.Last(what);
        }

        static void NotEmpty(byte[] data, string name)
        {
            if (data == null) throw new ArgumentNullException(name);
            if (data.Length == 0) throw new ArgumentException(name + " is empty", name);
        }

        /// <summary>The certificate and its private key as PKCS#12, under a new random password.</summary>
        static byte[] ExportWithKey(X509Certificate2 certificate, out string password)
        {
            if (certificate == null) throw new ArgumentNullException("certificate");
            if (!certificate.HasPrivateKey)
                throw new ArgumentException("the certificate '" + certificate.Subject + "' has no private key: a " +
                                            "server needs one (load it from a PFX, or with its key)", "certificate");
            var secret = new byte[18];
            using (var random = RandomNumberGenerator.Create()) random.GetBytes(secret);
            password = Convert.ToBase64String(secret);
            try
            {
                return certificate.Export(X509ContentType.Pkcs12, password);
            }
            catch (CryptographicException error)
            {
                throw new ArgumentException("the private key of '" + certificate.Subject + "' cannot be exported (load " +
                                            "the certificate with X509KeyStorageFlags.Exportable): " + error.Message,
                                            "certificate", error);
            }
        }
    }

    /// <summary>What a link's TLS session reported when it was read (Link.Tls,
    /// TcpServer.GetTlsInfo): a snapshot, still readable after the event.</summary>
    public sealed class LinkTlsInfo
    {
        /// <summary>"TLSv1.3", "TLSv1.2".</summary>
        public string Protocol { get; private set; }
        /// <summary>OpenSSL's name of the suite: "TLS_AES_128_GCM_SHA256".</summary>
        public string Cipher { get; private set; }
        /// <summary>The SNI name the client sent, "" if none.</summary>
        public string ServerName { get; private set; }
        /// <summary>The ALPN protocol chosen, "" if none.</summary>
        public string Alpn { get; private set; }
        /// <summary>The client certificate's subject (RFC 2253: "CN=client one,O=Example"), "" without one.</summary>
        public string ClientSubject { get; private set; }
        public string ClientIssuer { get; private set; }
        /// <summary>"ok", "none" (no client certificate), or why it did not verify.</summary>
        public string VerifyResult { get; private set; }
        /// <summary>True when the session was resumed from a ticket.</summary>
        public bool Resumed { get; private set; }
        /// <summary>SHA-256 of the client certificate, "AB:CD:...", "" without one.</summary>
        public string ClientFingerprint { get; private set; }
        /// <summary>The AddServerName pattern whose certificate was used, "" = SetCertificate's.</summary>
        public string CertificatePattern { get; private set; }

        /// <summary>Reads every field through fetch (GetLinkTlsInfo of one link); null when the
        /// link is not a TLS link.</summary>
        internal static LinkTlsInfo Read(Func<TlsInfo, string> fetch)
        {
            string protocol = fetch(TlsInfo.Protocol);
            if (protocol == null) return null;
            return new LinkTlsInfo
            {
                Protocol = protocol, Cipher = fetch(TlsInfo.Cipher), ServerName = fetch(TlsInfo.ServerName),
                Alpn = fetch(TlsInfo.Alpn), ClientSubject = fetch(TlsInfo.ClientSubject),
                ClientIssuer = fetch(TlsInfo.ClientIssuer), VerifyResult = fetch(TlsInfo.VerifyResult),
                Resumed = fetch(TlsInfo.Resumed) == "1", ClientFingerprint = fetch(TlsInfo.ClientFingerprint),
                CertificatePattern = fetch(TlsInfo.CertificatePattern),
            };
        }

        /// <summary>One fact through call(what, buffer, size) (GetLinkTlsInfo or ...ById); null
        /// for a link that is not a TLS link; throws TcpServerException otherwise.</summary>
        internal static string Fetch(Func<int, byte[], int, int> call, TlsInfo what, string link)
        {
            var buffer = new byte[256];
            while (true)
            {
                int length = call((int)what, buffer, buffer.Length);
                if (length >= 0) return Encoding.UTF8.GetString(buffer, 0, length);
                var error = TcpServerException.Last("TLS " + what + " of " + link);
                if (error.Code == TcpServerErrorCode.TlsNotEstablished) return null;
                if (error.Code != TcpServerErrorCode.BufferTooSmall || buffer.Length > (1 << 20)) throw error;
                buffer = new byte[buffer.Length * 4];
            }
        }

        public override string ToString()
        {
            return string.Format("{0} {1}{2}{3}{4}", Protocol, Cipher,
                                 ServerName != "" ? " sni=" + ServerName : "", Alpn != "" ? " alpn=" + Alpn : "",
                                 ClientSubject != "" ? " client=" + ClientSubject : "");
        }
    }
}
