"""TLS through the Python binding, with Python's ssl module as the client: the ssl-shaped
settings (load_cert_chain in every form, load_verify_locations, verify_mode, set_alpn_protocols,
set_ciphers, tls_min_version), SNI certificates, link.tls_info(), resumption with tickets (and
shared ticket keys), close reasons, failure counts, and settings changed on a running server.
Runs on Server and on DefaultServer (support.Server); certificates come from the tls_certs
fixture (made with the openssl tool for this run)."""

from __future__ import annotations

import hashlib
import os
import socket
import ssl
import threading
from pathlib import Path
from typing import Any, Dict, List, Optional

import pytest
from support import HOST, TIMEOUT, Server, options, recv_exactly, wait_for

import tcpserver
from tcpserver import CloseReason, ErrorCode, Link, TcpServerError
from tcpserver import _native as n

PASSWORD = "test password"


class TlsEcho(Server):
    """Echoes; records each link's tls_info() in on_connect and its close reason."""

    def __init__(self, **overrides: Any) -> None:
        super().__init__(**options(tls=True, **overrides))
        self.infos: List[Dict[str, Any]] = []
        self.closed: List[CloseReason] = []
        self.lock = threading.Lock()

    def on_connect(self, link: Link) -> bool:
        info = link.tls_info()
        with self.lock:
            self.infos.append(info)
        return True

    def on_disconnect(self, link: Link) -> None:
        with self.lock:
            self.closed.append(link.close_reason)


@pytest.fixture
def certs(tls_certs: Path) -> Path:
    return tls_certs


@pytest.fixture(autouse=True)
def default_server_tls_reset() -> Any:
    """The default server keeps its TLS settings for the process: give it back its defaults."""
    yield
    if Server is tcpserver.DefaultServer:
        n.SetTlsAlpn(None)
        n.SetTlsClientCA(None, 0)
        n.SetTlsCiphers(None, None)
        n.SetTlsTicketKeys(None, 0)
        for name in ("one.test", "two.test", "*.wild.test"):
            n.AddTlsServerName(name.encode(), None, 0, None, 0, None)


def client_context(certs: Path, **settings: Any) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(certs / "ca.pem"))
    for name, value in settings.items():
        setattr(context, name, value)
    return context


def tls_connect(server: tcpserver.Server, context: ssl.SSLContext,
                hostname: Optional[str] = "localhost",
                session: Optional[ssl.SSLSession] = None) -> ssl.SSLSocket:
    raw = socket.create_connection((HOST, server.port), timeout=TIMEOUT)
    try:
        return context.wrap_socket(raw, server_hostname=hostname, session=session)
    except BaseException:
        raw.close()
        raise


def echo(client: ssl.SSLSocket, data: bytes = b"hello over TLS") -> None:
    client.sendall(data)
    assert recv_exactly(client, len(data)) == data


def peer_cn(client: ssl.SSLSocket) -> str:
    subject = dict(item[0] for item in client.getpeercert()["subject"])
    return subject["commonName"]


def refused(server: tcpserver.Server, context: ssl.SSLContext,
            hostname: Optional[str] = "localhost") -> bool:
    """True when the server refuses the handshake: it fails, or (TLS 1.3, where the client
    finishes first) the link closes without echoing."""
    try:
        client = tls_connect(server, context, hostname)
    except (ssl.SSLError, ConnectionError):
        return True
    with client:
        try:
            client.sendall(b"x")
            return client.recv(1) == b""
        except (ssl.SSLError, ConnectionError):
            return True


# -- certificates -------------------------------------------------------------------------------

def test_echo_and_link_tls_info(certs: Path) -> None:
    server = TlsEcho()
    server.load_cert_chain(certs / "server.pem", certs / "server.key")
    before = server.counters()["tls_handshakes"]
    with server.start(HOST, 0):
        with tls_connect(server, client_context(certs)) as client:
            echo(client)
            assert client.version() == "TLSv1.3" and peer_cn(client) == "localhost"
            wait_for(lambda: len(server.infos) == 1, "on_connect")
            info = server.infos[0]
            assert info == {"protocol": "TLSv1.3", "cipher": client.cipher()[0],
                            "server_name": "localhost", "alpn": "", "client_subject": "",
                            "client_issuer": "", "verify_result": "none", "resumed": False,
                            "client_fingerprint": "", "certificate_pattern": ""}
            (link_id,) = server.link_ids()
            assert server.tls_info(link_id) == info  # by id, from another thread
        assert server.counters()["tls_handshakes"] == before + 1


@pytest.mark.parametrize("form", ["pem pair", "one pem", "chain pem", "encrypted key str",
                                  "encrypted key bytes", "encrypted key callable", "pfx",
                                  "der data", "pem data text"])
def test_certificate_forms(certs: Path, form: str) -> None:
    server = TlsEcho()
    calls = []

    def password() -> str:
        calls.append(1)
        return PASSWORD

    if form == "pem pair":
        server.load_cert_chain(str(certs / "server.pem"), str(certs / "server.key"))
    elif form == "one pem":
        server.load_cert_chain(certs / "server-full.pem")
    elif form == "chain pem":
        server.load_cert_chain(os.fsencode(certs / "server-chain.pem"), certs / "server.key")
    elif form == "encrypted key str":
        server.load_cert_chain(certs / "server.pem", certs / "server-enc.key", PASSWORD)
    elif form == "encrypted key bytes":
        server.load_cert_chain(certs / "server.pem", certs / "server-enc.key",
                               PASSWORD.encode())
    elif form == "encrypted key callable":
        server.load_cert_chain(certs / "server.pem", certs / "server-enc.key", password)
        assert calls == [1], "the callable is called when the key needs a password"
    elif form == "pfx":
        server.load_cert_chain(certs / "server.pfx", password=PASSWORD)
    elif form == "der data":
        server.load_cert_data((certs / "server.der").read_bytes(),
                              (certs / "server-key.der").read_bytes())
    elif form == "pem data text":
        server.load_cert_data((certs / "server-full.pem").read_text())
    with server.start(HOST, 0):
        with tls_connect(server, client_context(certs)) as client:
            echo(client)
            assert peer_cn(client) == "localhost"


def test_password_callable_is_not_called_for_a_plain_key(certs: Path) -> None:
    server = Server(**options())
    server.load_cert_chain(certs / "server.pem", certs / "server.key",
                           lambda: pytest.fail("called without need"))


def test_certificate_errors_say_what_is_wrong(certs: Path) -> None:
    server = Server(**options())
    with pytest.raises(TcpServerError) as wrong:
        server.load_cert_chain(certs / "server.pem", certs / "server-enc.key", "not it")
    assert wrong.value.code == ErrorCode.TLS_CERTIFICATE and "password" in wrong.value.text
    assert "server-enc.key" in wrong.value.text, "the message names the files"
    with pytest.raises(TcpServerError) as missing_password:
        server.load_cert_chain(certs / "server.pem", certs / "server-enc.key")
    assert missing_password.value.code == ErrorCode.TLS_CERTIFICATE
    with pytest.raises(TcpServerError) as mismatch:
        server.load_cert_chain(certs / "server.pem", certs / "client.key")
    assert mismatch.value.code == ErrorCode.TLS_CERTIFICATE
    with pytest.raises(FileNotFoundError):
        server.load_cert_chain(certs / "no such file.pem")
    with pytest.raises(TypeError):
        server.load_cert_chain(certs / "server.pem", certs / "server-enc.key", 42)
    with pytest.raises(TypeError):
        server.load_cert_chain(certs / "server.pem", certs / "server-enc.key", lambda: 42)
    with pytest.raises(TcpServerError) as not_a_certificate:
        server.load_cert_data(b"this is no certificate")
    assert not_a_certificate.value.code == ErrorCode.TLS_CERTIFICATE


def test_tls_without_a_certificate_does_not_start() -> None:
    with tcpserver.Server(**options(tls=True)) as server:  # a fresh engine server: no certificate
        with pytest.raises(TcpServerError) as error:
            server.start(HOST, 0)
        assert error.value.code == ErrorCode.TLS_CONFIG
        assert not server.active


# -- options -----------------------------------------------------------------------------------

def test_min_version_and_the_ssl_constants(certs: Path) -> None:
    server = TlsEcho(tls_min_version=ssl.TLSVersion.TLSv1_3)
    assert server.tls_min_version == tcpserver.TlsVersion.TLS_1_3
    with pytest.raises(TcpServerError) as old:
        server.tls_min_version = ssl.TLSVersion.TLSv1_1
    assert old.value.code == ErrorCode.OPTION_RANGE
    server.load_cert_chain(certs / "server-full.pem")
    with server.start(HOST, 0):
        before = server.tls_failures()["version"]
        assert refused(server, client_context(certs, maximum_version=ssl.TLSVersion.TLSv1_2))
        wait_for(lambda: server.tls_failures()["version"] == before + 1, "a version failure")
        with tls_connect(server, client_context(certs)) as client:
            echo(client)


def test_tls_1_2_client(certs: Path) -> None:
    server = TlsEcho()
    server.load_cert_chain(certs / "server-full.pem")
    with server.start(HOST, 0):
        context = client_context(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
        with tls_connect(server, context) as client:
            echo(client)
            assert client.version() == "TLSv1.2"
            assert client.cipher()[0].startswith("ECDHE-ECDSA-")
        wait_for(lambda: server.infos, "on_connect")
        assert server.infos[0]["protocol"] == "TLSv1.2"


def test_verify_mode_is_the_client_cert_option() -> None:
    server = Server(**options())
    for mode, value in ((ssl.CERT_REQUIRED, 2), (ssl.CERT_OPTIONAL, 1), (ssl.CERT_NONE, 0)):
        server.verify_mode = mode
        assert server.tls_client_cert == value and server.verify_mode == mode
    server.tls_client_cert = tcpserver.TlsClientCert.REQUIRE
    assert server.verify_mode == ssl.CERT_REQUIRED
    with pytest.raises(ValueError):
        server.verify_mode = 7


# -- client certificates -------------------------------------------------------------------------

def client_with_cert(certs: Path, stem: str) -> ssl.SSLContext:
    context = client_context(certs)
    context.load_cert_chain(str(certs / f"{stem}.pem"), str(certs / f"{stem}.key"))
    return context


def fingerprint(pem: Path) -> str:
    digest = hashlib.sha256(ssl.PEM_cert_to_DER_cert(pem.read_text())).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def test_required_client_certificate(certs: Path) -> None:
    server = TlsEcho()
    server.verify_mode = ssl.CERT_REQUIRED
    server.load_cert_chain(certs / "server-full.pem")
    server.load_verify_locations(cafile=certs / "ca.pem")
    with server.start(HOST, 0):
        before = server.tls_failures()["client_certificate"]
        assert refused(server, client_context(certs)), "no certificate: refused"
        assert refused(server, client_with_cert(certs, "rogue-client")), "unknown CA: refused"
        wait_for(lambda: server.tls_failures()["client_certificate"] == before + 2,
                 "two client-certificate failures")
        assert server.infos == [], "a refused handshake reaches no handler"
        with tls_connect(server, client_with_cert(certs, "client")) as client:
            echo(client)
        wait_for(lambda: server.infos, "on_connect")
        info = server.infos[0]
        assert info["client_subject"] == "CN=client one,O=tcpserver tests"
        assert info["client_issuer"] == "CN=tcpserver test CA"
        assert info["verify_result"] == "ok"
        assert info["client_fingerprint"] == fingerprint(certs / "client.pem")


def test_optional_client_certificate_with_cadata(certs: Path) -> None:
    server = TlsEcho(tls_client_cert=tcpserver.TlsClientCert.REQUEST)
    assert server.verify_mode == ssl.CERT_OPTIONAL
    server.load_cert_chain(certs / "server-full.pem")
    # DER bytes, as ssl's cadata takes them (a rogue CA in PEM text first: both are trusted).
    server.load_verify_locations(cadata=(certs / "rogue-ca.pem").read_text())
    server.load_verify_locations(cadata=ssl.PEM_cert_to_DER_cert((certs / "ca.pem").read_text()))
    with server.start(HOST, 0):
        with tls_connect(server, client_context(certs)) as anonymous:
            echo(anonymous)
        with tls_connect(server, client_with_cert(certs, "client")) as known:
            echo(known)
        with tls_connect(server, client_with_cert(certs, "rogue-client")) as rogue:
            echo(rogue)
        wait_for(lambda: len(server.infos) == 3, "three links")
    assert [info["verify_result"] for info in server.infos] == ["none", "ok", "ok"]
    assert server.infos[2]["client_subject"] == "CN=rogue client"


def test_load_verify_locations_refuses_what_ssl_refuses(certs: Path) -> None:
    server = Server(**options())
    with pytest.raises(TypeError):
        server.load_verify_locations()
    with pytest.raises(TcpServerError) as capath:
        server.load_verify_locations(capath=certs)
    assert capath.value.code == ErrorCode.NOT_SUPPORTED
    with pytest.raises(FileNotFoundError):
        server.load_verify_locations(cafile=certs / "missing.pem")


# -- ALPN, SNI, ciphers --------------------------------------------------------------------------

def test_alpn(certs: Path) -> None:
    server = TlsEcho()
    server.load_cert_chain(certs / "server-full.pem")
    server.set_alpn_protocols(["h2", "http/1.1"])
    with server.start(HOST, 0):
        context = client_context(certs)
        context.set_alpn_protocols(["http/1.1", "h2"])
        with tls_connect(server, context) as both:
            echo(both)
            assert both.selected_alpn_protocol() == "h2", "the server's preference wins"
        context = client_context(certs)
        context.set_alpn_protocols(["http/1.1"])
        with tls_connect(server, context) as one:
            echo(one)
            assert one.selected_alpn_protocol() == "http/1.1"
        with tls_connect(server, client_context(certs)) as without:
            echo(without)  # a client without ALPN is served
        before = server.tls_failures()["alpn"]
        context = client_context(certs)
        context.set_alpn_protocols(["spdy/1"])
        assert refused(server, context)
        wait_for(lambda: server.tls_failures()["alpn"] == before + 1, "an ALPN failure")
        wait_for(lambda: len(server.infos) == 3, "three links")
    assert [info["alpn"] for info in server.infos] == ["h2", "http/1.1", ""]
    with pytest.raises(TcpServerError) as bad:
        server.set_alpn_protocols(["a,b"])
    assert bad.value.code == ErrorCode.TLS_CONFIG


def test_sni_certificates(certs: Path) -> None:
    server = TlsEcho()
    server.load_cert_chain(certs / "server-full.pem")
    server.add_server_name("one.test", certs / "one.test.pem", certs / "one.test.key")
    server.add_server_name("TWO.test", certdata=(certs / "two.test-full.pem").read_bytes())
    server.add_server_name("*.wild.test", certs / "wild.test-full.pem")
    with server.start(HOST, 0):
        seen = {}
        for name in ("one.test", "two.test", "a.wild.test", "localhost", "other.test"):
            with tls_connect(server, client_context(certs, check_hostname=False), name) as c:
                echo(c)
                seen[name] = peer_cn(c)
        assert seen == {"one.test": "one.test", "two.test": "two.test",
                        "a.wild.test": "*.wild.test", "localhost": "localhost",
                        "other.test": "localhost"}
        server.remove_server_name("one.test")
        with tls_connect(server, client_context(certs, check_hostname=False), "one.test") as c:
            assert peer_cn(c) == "localhost", "a removed name gets the default certificate"
        wait_for(lambda: len(server.infos) == 6, "six links")
    patterns = [(info["server_name"], info["certificate_pattern"]) for info in server.infos]
    assert patterns[:5] == [("one.test", "one.test"), ("two.test", "two.test"),
                            ("a.wild.test", "*.wild.test"), ("localhost", ""),
                            ("other.test", "")]


def test_set_ciphers(certs: Path) -> None:
    server = TlsEcho()
    server.load_cert_chain(certs / "server-full.pem")
    server.set_ciphers("ECDHE-ECDSA-CHACHA20-POLY1305", "TLS_AES_256_GCM_SHA384")
    with server.start(HOST, 0):
        with tls_connect(server, client_context(certs)) as tls13:
            echo(tls13)
            assert tls13.cipher()[0] == "TLS_AES_256_GCM_SHA384"
        context = client_context(certs, maximum_version=ssl.TLSVersion.TLSv1_2)
        with tls_connect(server, context) as tls12:
            echo(tls12)
            assert tls12.cipher()[0] == "ECDHE-ECDSA-CHACHA20-POLY1305"
    with pytest.raises(TcpServerError) as bad:
        server.set_ciphers("NO-SUCH-CIPHER")
    assert bad.value.code == ErrorCode.TLS_CONFIG
    with pytest.raises(TcpServerError) as weak:
        server.set_ciphers("RC4-SHA:NULL-SHA")  # nothing forward-secret is left
    assert weak.value.code == ErrorCode.TLS_CONFIG


# -- sessions ----------------------------------------------------------------------------------

def session_of(server: tcpserver.Server, context: ssl.SSLContext) -> ssl.SSLSession:
    """A TLS 1.3 session ticket: it arrives after the handshake, so read something first."""
    with tls_connect(server, context) as client:
        echo(client)
        assert not client.session_reused
        return client.session


def test_resumption_with_tickets(certs: Path) -> None:
    server = TlsEcho()
    server.load_cert_chain(certs / "server-full.pem")
    with server.start(HOST, 0):
        context = client_context(certs)
        session = session_of(server, context)
        before = server.counters()["tls_resumed"]
        with tls_connect(server, context, session=session) as again:
            echo(again)
            assert again.session_reused
        wait_for(lambda: len(server.infos) == 2, "two links")
        assert [info["resumed"] for info in server.infos] == [False, True]
        assert server.counters()["tls_resumed"] == before + 1


def test_no_resumption_without_tickets(certs: Path) -> None:
    server = TlsEcho(tls_session_tickets=False)
    server.load_cert_chain(certs / "server-full.pem")
    with server.start(HOST, 0):
        context = client_context(certs)
        with tls_connect(server, context) as first:
            echo(first)
            session = first.session
        with tls_connect(server, context, session=session) as second:
            echo(second)
            assert not second.session_reused


def test_shared_ticket_keys_resume_across_servers(certs: Path) -> None:
    keys = bytes(range(80)) + bytes(range(100, 180))
    servers = [tcpserver.Server(**options(tls=True)) for _ in range(2)]
    for server in servers:
        server.load_cert_chain(certs / "server-full.pem")
        server.set_ticket_keys([keys[:80], keys[80:]])
        server.start(HOST, 0)
    try:
        context = client_context(certs)
        session = session_of(servers[0], context)
        with tls_connect(servers[1], context, session=session) as other:
            echo(other)
            assert other.session_reused, "the second server decrypts the first one's ticket"
    finally:
        for server in servers:
            server.close()
    with pytest.raises(TcpServerError) as bad:
        servers[0].set_ticket_keys(b"short")
    assert bad.value.code == ErrorCode.TLS_CONFIG


# -- the life of a TLS link ----------------------------------------------------------------------

def test_close_notify_and_a_bare_fin(certs: Path) -> None:
    server = TlsEcho()
    server.load_cert_chain(certs / "server-full.pem")
    with server.start(HOST, 0):
        polite = tls_connect(server, client_context(certs))
        echo(polite)
        polite.unwrap().close()  # close_notify, then FIN
        wait_for(lambda: len(server.closed) == 1, "the first link's on_disconnect")
        rude = tls_connect(server, client_context(certs))
        echo(rude)
        socket.socket.close(rude)  # FIN without close_notify
        wait_for(lambda: len(server.closed) == 2, "the second link's on_disconnect")
    assert server.closed == [CloseReason.PEER_CLOSED, CloseReason.TLS_NO_CLOSE_NOTIFY]


def test_plain_client_never_becomes_a_link(certs: Path) -> None:
    server = TlsEcho()
    server.load_cert_chain(certs / "server-full.pem")
    with server.start(HOST, 0):
        before = server.tls_failures()["not_tls"]
        with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as plain:
            plain.sendall(b"GET / HTTP/1.0\r\n\r\n")
            try:
                plain.recv(100)  # an alert or nothing, then end of stream
            except ConnectionResetError:
                pass
        wait_for(lambda: server.tls_failures()["not_tls"] == before + 1, "a not-TLS failure")
        assert server.infos == [] and server.link_ids() == []


def test_broadcast_reaches_every_tls_link(certs: Path) -> None:
    server = TlsEcho()
    server.load_cert_chain(certs / "server-full.pem")
    with server.start(HOST, 0):
        clients = [tls_connect(server, client_context(certs)) for _ in range(3)]
        try:
            for client in clients:
                echo(client, b"ping")
            assert server.broadcast(b"news for all\n") == 3
            for client in clients:
                assert recv_exactly(client, 13) == b"news for all\n"
        finally:
            for client in clients:
                client.close()


def test_tls_info_of_a_plain_link_is_none() -> None:
    infos = []
    server = Server(**options(tls=False))
    server.on_connect = lambda link: infos.append(link.tls_info())
    with server.start(HOST, 0):
        with socket.create_connection((HOST, server.port), timeout=TIMEOUT) as plain:
            plain.sendall(b"x")
            assert recv_exactly(plain, 1) == b"x"
    assert infos == [None]


def test_settings_change_on_a_running_server(certs: Path) -> None:
    """New handshakes see the new certificate and ALPN; an open link keeps working."""
    server = TlsEcho()
    server.load_cert_chain(certs / "server-full.pem")
    with server.start(HOST, 0):
        old = tls_connect(server, client_context(certs))
        try:
            echo(old, b"before the reload")
            assert peer_cn(old) == "localhost"
            server.load_cert_chain(certs / "reloaded.pem", certs / "reloaded.key")
            server.set_alpn_protocols(["h2"])
            context = client_context(certs)
            context.set_alpn_protocols(["h2"])
            with tls_connect(server, context) as new:
                echo(new)
                assert peer_cn(new) == "reloaded.localhost"
                assert new.selected_alpn_protocol() == "h2"
            echo(old, b"after the reload")  # the open link keeps its session
            with pytest.raises(TcpServerError):
                server.load_cert_chain(certs / "server.pem", certs / "client.key")
            with tls_connect(server, client_context(certs)) as after_refused:
                assert peer_cn(after_refused) == "reloaded.localhost", \
                    "a refused setting changes nothing"
        finally:
            old.close()
        wait_for(lambda: len(server.infos) == 3, "three links")
        assert [info["alpn"] for info in server.infos] == ["", "h2", ""]


def test_settings_survive_close_and_restart(certs: Path) -> None:
    server = tcpserver.Server(**options(tls=True))
    server.load_cert_chain(certs / "reloaded.pem", certs / "reloaded.key")
    server.set_alpn_protocols(["h2"])
    server.start(HOST, 0)
    server.close()  # frees the engine server; the next start makes a new one
    with server.start(HOST, 0):
        context = client_context(certs)
        context.set_alpn_protocols(["h2"])
        with tls_connect(server, context) as client:
            echo(client)
            assert peer_cn(client) == "reloaded.localhost"
            assert client.selected_alpn_protocol() == "h2"
