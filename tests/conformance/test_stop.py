"""A graceful stop closes every link, prints STOPPED with the sample's counts and exits 0."""

from __future__ import annotations

import pytest
import tsharness

from server_process import HOST


@pytest.mark.tls_too(light=True)
def test_quit_closes_every_link(start_server) -> None:
    server = start_server()
    links = tsharness.open_idle(HOST, server.port, 30, tls=server.tls)
    links.ping()
    busy = tsharness.Client(HOST, server.port, tls=server.tls)
    busy.echo(b"working")
    server.wait_stats(lambda s: s["links"] == 31, "31 open links")

    assert server.quit() == {"disconnects": 31, "idle": 0}
    assert links.wait_closed(30, timeout_s=5) == 30
    assert busy.wait_closed(5)


def test_end_of_input_stops_too(start_server) -> None:
    server = start_server()
    client = tsharness.Client(HOST, server.port, tls=server.tls)
    client.echo(b"hello")
    assert server.close_stdin() == {"disconnects": 1, "idle": 0}
    assert client.wait_closed(5)
