"""A graceful stop closes every link, prints STOPPED with the sample's counts and exits 0."""

from __future__ import annotations

import tsharness

from server_process import HOST


def test_quit_closes_every_link(start_server) -> None:
    server = start_server()
    links = tsharness.open_idle(HOST, server.port, 30)
    links.ping()
    busy = tsharness.Client(HOST, server.port)
    busy.echo(b"working")
    server.wait_stats(lambda s: s["links"] == 31, "31 open links")

    assert server.quit() == {"disconnects": 31, "idle": 0}
    assert links.wait_closed(30, timeout_s=5) == 30
    assert busy.wait_closed(5)


def test_end_of_input_stops_too(start_server) -> None:
    server = start_server()
    client = tsharness.Client(HOST, server.port)
    client.echo(b"hello")
    assert server.close_stdin() == {"disconnects": 1, "idle": 0}
    assert client.wait_closed(5)
