"""What only a TLS server does (--tls-cert): a close_notify ends a link cleanly and a bare FIN
does not; the link reports its session through the binding (TLS <what>); a TLS 1.2 client is
served; a client that does not speak TLS never becomes a link. (The echo, framing, broadcast and
close cases run over TLS too: the tests marked tls_too.)"""

from __future__ import annotations

from pathlib import Path

import tsharness

from server_process import CLOSE_PEER_CLOSED, CLOSE_TLS_NO_CLOSE_NOTIFY, HOST

TLS_NOT_ESTABLISHED = 29  # TS_ERR_TLS_NOT_ESTABLISHED


def start_tls(start_server, certs: Path, **flags):
    return start_server(tls_cert=certs / "server.pem", tls_key=certs / "server.key", **flags)


def tls_info(client: tsharness.Client, what: int) -> str:
    """TLS <what> (a TS_TLS_INFO_*): the text, or "ERR <code>"."""
    reply = client.command(b"TLS %d\n" % what).decode()
    assert reply.endswith("\n") and reply.split(" ", 1)[0] in ("TLS", "ERR"), \
        f"bad TLS reply {reply!r}"
    return reply[4:-1] if reply.startswith("TLS ") else reply[:-1]


def test_close_notify_is_a_clean_close_a_bare_fin_is_not(start_server, tls_certs) -> None:
    server = start_tls(start_server, tls_certs)
    polite = tsharness.Client(HOST, server.port, tls=server.tls)
    polite.echo(b"bye soon")
    polite.close()  # close_notify, then FIN
    server.wait_stats(lambda s: s["disconnects"] == 1, "the first link's OnDisconnect")
    rude = tsharness.Client(HOST, server.port, tls=server.tls)
    rude.echo(b"gone soon")
    rude.close(notify=False)  # FIN without close_notify: what it sent may be cut short
    stats = server.wait_stats(lambda s: s["disconnects"] == 2, "the second link's OnDisconnect")
    assert stats[f"closed_{CLOSE_PEER_CLOSED}"] == 1
    assert stats[f"closed_{CLOSE_TLS_NO_CLOSE_NOTIFY}"] == 1
    assert stats["tls_handshakes"] == 2 and stats["tls_failures"] == 0


def test_the_link_reports_its_tls_session(start_server, tls_certs) -> None:
    server = start_tls(start_server, tls_certs)
    client = tsharness.Client(HOST, server.port, tls=server.tls)
    assert tls_info(client, 0) == "TLSv1.3"            # TS_TLS_INFO_PROTOCOL
    assert tls_info(client, 1).startswith("TLS_")      # TS_TLS_INFO_CIPHER, a TLS 1.3 suite
    assert tls_info(client, 2) == "localhost"          # TS_TLS_INFO_SERVER_NAME (SNI)
    assert tls_info(client, 3) == ""                   # TS_TLS_INFO_ALPN: none offered
    assert tls_info(client, 6) == "none"               # TS_TLS_INFO_VERIFY_RESULT: no client cert
    assert tls_info(client, 7) == "0"                  # TS_TLS_INFO_RESUMED
    assert tls_info(client, 99).startswith("ERR ")     # an unknown fact is an error
    client.echo(b"still an echo")


def test_a_plain_server_has_no_tls_session(start_server) -> None:
    server = start_server()
    client = tsharness.Client(HOST, server.port)
    assert tls_info(client, 0) == f"ERR {TLS_NOT_ESTABLISHED}"


def test_a_tls_1_2_client_is_served(start_server, tls_certs) -> None:
    server = start_tls(start_server, tls_certs)
    tls12 = tsharness.TlsConfig(cafile=str(tls_certs / "ca.pem"), server_name="localhost",
                                max_version="1.2")
    client = tsharness.Client(HOST, server.port, tls=tls12)
    client.echo(b"over TLS 1.2")
    assert tls_info(client, 0) == "TLSv1.2"
    assert tls_info(client, 1).startswith("ECDHE-ECDSA-"), "forward secret, the ECDSA key's"


def test_a_client_without_tls_never_becomes_a_link(start_server, tls_certs) -> None:
    server = start_tls(start_server, tls_certs)
    plain = tsharness.Client(HOST, server.port)
    plain.send(b"GET / HTTP/1.0\r\n\r\n")
    assert plain.wait_closed(10), "the server closes a connection that does not speak TLS"
    served = tsharness.Client(HOST, server.port, tls=server.tls)
    served.echo(b"the next client is served")
    stats = server.wait_stats(lambda s: s["tls_failures"] == 1, "the failed handshake counted")
    assert stats["links"] == 1 and stats["disconnects"] == 0, "no callback for the failed one"
    assert stats["tls_handshakes"] == 1
