"""REFUSE ON makes OnConnect refuse new links (closed at once, counted, no other callback);
REFUSE OFF lets them in again."""

from __future__ import annotations

import tsharness

from server_process import HOST


def test_onconnect_refusal(start_server) -> None:
    server = start_server()
    control = tsharness.Client(HOST, server.port)
    assert control.command(b"REFUSE ON\n") == b"OK\n"

    refused = [tsharness.Client(HOST, server.port) for _ in range(3)]
    for index, client in enumerate(refused):
        assert client.wait_closed(5), f"refused client #{index} was not closed by the server"
        assert client.buffered == b"", f"refused client #{index} got data: {client.buffered!r}"
    stats = server.wait_stats(lambda s: s["refused"] == 3 and s["links"] == 1,
                              "3 refused links counted and gone")
    assert stats["accepts"] == 1
    assert stats["disconnects"] == 0, "a refused link must get no OnDisconnect"

    control.echo(b"the control link still works")
    assert control.command(b"REFUSE OFF\n") == b"OK\n"
    welcome = tsharness.Client(HOST, server.port)
    welcome.echo(b"let in again")
    stats = server.stats()
    assert stats["accepts"] == 2 and stats["refused"] == 3 and stats["links"] == 2
