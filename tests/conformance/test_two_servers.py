"""--second-server: a second server (CreateTcpServer, callbacks through the Context) runs
beside the first with its own links and counters; LINKS and the broadcasts stay within one
server, PAUSE reaches a link of either; stop2 stops the second while the first serves on."""

from __future__ import annotations

import pytest
import tsharness

from server_process import HOST, parse_stats
from wire import assert_pause_blocks_and_resume_delivers, link_id, link_ids


def test_both_servers_echo_with_their_own_links_and_counters(start_server) -> None:
    server = start_server(second_server=True)
    assert server.port2 != server.port
    first = tsharness.echo_integrity(HOST, server.port, connections=5, bytes_per_conn=10_000,
                                     max_chunk=2000, seed=31)
    second = tsharness.echo_integrity(HOST, server.port2, connections=3, bytes_per_conn=20_000,
                                      max_chunk=2000, seed=32)
    assert first["bytes_received"] == 50_000 and second["bytes_received"] == 60_000
    one = server.wait_stats(lambda s: s["disconnects"] == 5 and s["links"] == 0,
                            "the first server's 5 links closed")
    two = server.wait_stats2(lambda s: s["disconnects"] == 3 and s["links"] == 0,
                             "the second server's 3 closed")
    assert one["accepts"] == 5 and two["accepts"] == 3
    assert one["bytes_in"] == 50_000 and two["bytes_in"] == 60_000
    assert two["closed_1"] == 3 and one["closed_1"] == 5
    # The wire's STATS reports the server of the link that asks.
    on_second = tsharness.Client(HOST, server.port2)
    wire = parse_stats(on_second.command(b"STATS\n").decode())
    assert wire["accepts"] == 4 and wire["links"] == 1
    assert wire["bytes_in"] == 60_000 + len(b"STATS\n")


def test_links_and_broadcasts_stay_within_one_server(start_server) -> None:
    server = start_server(second_server=True)
    a1, a2 = (tsharness.Client(HOST, server.port) for _ in range(2))
    b1, b2 = (tsharness.Client(HOST, server.port2) for _ in range(2))
    ids_a = sorted(link_id(c) for c in (a1, a2))
    ids_b = sorted(link_id(c) for c in (b1, b2))
    assert not set(ids_a) & set(ids_b), "ids are unique across the servers of a process"
    assert sorted(link_ids(a1)) == ids_a and sorted(link_ids(b2)) == ids_b

    b1.send(b"BCAST second only\n")
    assert b1.readline() == b"second only\n" and b2.readline() == b"second only\n"
    a1.send(b"BCASTX first only\n")
    assert a2.readline() == b"first only\n"
    # Both broadcasts are done (every addressee has its copy): none crossed over.
    for client in (a1, a2):
        client.echo(b"no news from the second server")
    for client in (b1, b2):
        client.echo(b"no news from the first server")


def test_pause_reaches_a_link_of_the_other_server(start_server) -> None:
    server = start_server(second_server=True)
    control = tsharness.Client(HOST, server.port)
    paused = tsharness.Client(HOST, server.port2)
    assert_pause_blocks_and_resume_delivers(control, paused)


def test_stop2_stops_the_second_while_the_first_keeps_serving(start_server) -> None:
    server = start_server(second_server=True)
    first = tsharness.Client(HOST, server.port)
    first.echo(b"before stop2")
    on_second = tsharness.open_idle(HOST, server.port2, 4)
    on_second.ping()
    server.wait_stats2(lambda s: s["links"] == 4, "4 links on the second server")

    assert server.stop2() == {"disconnects": 4}
    assert on_second.wait_closed(4, timeout_s=5) == 4
    with pytest.raises(tsharness.HarnessError, match=r"connect #0"):
        tsharness.Client(HOST, server.port2, timeout_s=5)  # nothing listens there any more

    first.echo(b"after stop2")
    result = tsharness.echo_integrity(HOST, server.port, connections=20, bytes_per_conn=20_000,
                                      max_chunk=4000, seed=33)
    assert result["bytes_received"] == 20 * 20_000
    stats = server.wait_stats(lambda s: s["disconnects"] == 20 and s["links"] == 1,
                              "the 20 echo links closed, the first client still open")
    assert stats["accepts"] == 21
    assert server.quit() == {"disconnects": 21, "idle": 0}
    assert first.wait_closed(5)


def test_refuse_acts_on_one_server(start_server) -> None:
    server = start_server(second_server=True)
    b = tsharness.Client(HOST, server.port2)
    assert b.command(b"REFUSE ON\n") == b"OK\n"
    refused = tsharness.Client(HOST, server.port2)
    assert refused.wait_closed(5), "REFUSE ON on the second server did not refuse its new link"
    welcome = tsharness.Client(HOST, server.port)
    welcome.echo(b"the first server still lets links in")
    server.wait_stats2(lambda s: s["refused"] == 1, "the second server counting the refusal")
    assert server.stats()["refused"] == 0
