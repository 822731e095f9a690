"""The command-line flags reach the library's options (PROTOCOL.md, Command line)."""

from __future__ import annotations

import tsharness

from server_process import HOST, STATS_KEYS, parse_stats


def test_stats_line_reports_every_key_and_the_flags(start_server) -> None:
    server = start_server(workers=3, buffer_count=777, buffer_size=1024)
    stats = server.stats()
    assert set(STATS_KEYS) <= set(stats)
    assert stats["workers"] == 3 and stats["iomem_count"] == 777
    assert stats["iomem_free"] == 777 and stats["links"] == 0 and stats["accepts"] == 0
    client = tsharness.Client(HOST, server.port)
    assert parse_stats(client.command(b"STATS\n").decode())["workers"] == 3


def test_max_links_refuses_the_extra_link(start_server) -> None:
    server = start_server(max_links=3)
    links = tsharness.open_idle(HOST, server.port, 3)
    links.ping()
    extra = tsharness.Client(HOST, server.port)
    assert extra.wait_closed(5), "a 4th link over --max-links 3 was not closed"
    stats = server.wait_stats(lambda s: s["refused"] == 1 and s["links"] == 3,
                              "the extra link counted as refused, 3 links left")
    assert stats["accepts"] == 3 and stats["disconnects"] == 0
    assert links.closed_count() == 0
