"""The server's statistics agree with what the clients did (fresh server: counters start at 0)."""

from __future__ import annotations

import pytest
import tsharness

from server_process import HOST, parse_stats

CONNECTIONS = 20
SIZE = 50_000


@pytest.mark.tls_too
def test_statistics_agree_with_the_clients(start_server) -> None:
    server = start_server(buffer_count=2000)
    result = tsharness.echo_integrity(HOST, server.port, CONNECTIONS, SIZE, max_chunk=5000,
                                      seed=4, tls=server.tls)
    total = CONNECTIONS * SIZE
    assert result["bytes_sent"] == total

    # Closing is asynchronous: wait until the server has settled, every buffer back included.
    stats = server.wait_stats(
        lambda s: s["links"] == 0 and s["disconnects"] == CONNECTIONS and s["iomem_free"] == 2000,
        f"all {CONNECTIONS} links closed and every pool buffer free")
    assert stats["accepts"] == CONNECTIONS
    assert stats["closed"] == CONNECTIONS
    assert stats["bytes_in"] == total and stats["bytes_out"] == total
    assert stats["refused"] == 0 and stats["idle_closed"] == 0 and stats["idle"] == 0
    # Each OnReceive gets at most one buffer (2048 bytes by default), so at least this many.
    assert total // 2048 <= stats["msgs_in"] <= total
    assert CONNECTIONS <= stats["msgs_out"] <= total
    assert stats["workers"] == 2
    assert stats["iomem_count"] == 2000

    # The link command sees the same counters, its own 6 bytes included.
    client = tsharness.Client(HOST, server.port, tls=server.tls)
    line = client.command(b"STATS\n").decode()
    assert line.endswith("\n")
    seen = parse_stats(line)
    assert seen["links"] == 1 and seen["accepts"] == CONNECTIONS + 1
    assert seen["bytes_in"] == total + 6 and seen["bytes_out"] == total
    client.echo(b"x" * 100)
    server.wait_stats(lambda s: s["bytes_out"] == total + len(line) + 100,
                      "bytes_out to count the STATS reply and the echo")
    assert server.stats()["bytes_in"] == total + 6 + 100
