"""THROW (a handler that fails) and CLOSE close that link only; the server keeps serving."""

from __future__ import annotations

import pytest
import tsharness

from server_process import HOST


@pytest.mark.tls_too
def test_throwing_handler_closes_only_its_link(start_server) -> None:
    server = start_server()
    thrower = tsharness.Client(HOST, server.port, tls=server.tls)
    other = tsharness.Client(HOST, server.port, tls=server.tls)
    thrower.echo(b"before")
    other.echo(b"before")

    thrower.send(b"THROW\n")
    assert thrower.wait_closed(5), "the link whose handler failed was not closed"
    assert thrower.buffered == b"", "THROW is a command, not data to echo"
    server.assert_running()
    other.echo(b"still served")
    newcomer = tsharness.Client(HOST, server.port, tls=server.tls)
    newcomer.echo(b"new links too")
    stats = server.wait_stats(lambda s: s["disconnects"] == 1 and s["links"] == 2,
                              "the failed link's OnDisconnect, two links left")
    assert stats["accepts"] == 3


def test_throw_on_many_links_while_others_echo(start_server) -> None:
    server = start_server()
    throwers = [tsharness.Client(HOST, server.port, tls=server.tls) for _ in range(10)]
    for client in throwers:
        client.send(b"THROW\n")
    result = tsharness.echo_integrity(HOST, server.port, 20, 20_000, max_chunk=2000, seed=5, tls=server.tls)
    assert result["bytes_received"] == 20 * 20_000
    for index, client in enumerate(throwers):
        assert client.wait_closed(5), f"thrower #{index} was not closed"
    server.wait_stats(lambda s: s["links"] == 0 and s["disconnects"] == 30, "all 30 links closed")


@pytest.mark.tls_too(light=True)
def test_close_command_closes_the_link(start_server) -> None:
    server = start_server()
    client = tsharness.Client(HOST, server.port, tls=server.tls)
    client.echo(b"hello")
    client.send(b"CLOSE\n")
    assert client.wait_closed(5), "CLOSE did not close the link"
    assert client.buffered == b""
    stats = server.wait_stats(lambda s: s["disconnects"] == 1 and s["links"] == 0,
                              "the closed link's OnDisconnect, no link left")
    assert stats["closed"] == 1 and stats["accepts"] == 1


def test_keywords_without_newline_are_echoed(start_server) -> None:
    # PROTOCOL.md: only a chunk that starts with a keyword *and ends in '\n'* is a command.
    server = start_server()
    listener = tsharness.Client(HOST, server.port, tls=server.tls)
    listener.echo(b"listening")
    client = tsharness.Client(HOST, server.port, tls=server.tls)
    for data in (b"BCAST not a command", b"THROW", b"CLOSE", b"REFUSE ON", b"STATS"):
        client.echo(data)
    late = tsharness.Client(HOST, server.port, tls=server.tls)
    late.echo(b"REFUSE ON was not a command: I got in")
    assert not client.closed() and not listener.closed()
    assert listener.buffered == b"", "nothing was broadcast"
    stats = server.stats()
    assert stats["links"] == 3 and stats["refused"] == 0 and stats["disconnects"] == 0
