"""LINKS lists exactly the open links (by the ids ID reports); ids are unique and never 0;
BCASTX reaches every open link but its sender."""

from __future__ import annotations

import tsharness

from server_process import HOST
from wire import link_id, link_ids


def test_links_lists_exactly_the_open_links(start_server) -> None:
    server = start_server()
    clients = [tsharness.Client(HOST, server.port) for _ in range(8)]
    ids = [link_id(c) for c in clients]
    assert len(set(ids)) == 8, f"ids must be unique: {ids}"
    listed = link_ids(clients[0])
    assert sorted(listed) == sorted(ids), "LINKS must list each open link once"

    for client in clients[2:6]:
        client.close()
    server.wait_stats(lambda s: s["links"] == 4 and s["disconnects"] == 4, "4 links left")
    newcomer = tsharness.Client(HOST, server.port)
    open_ids = ids[:2] + ids[6:] + [link_id(newcomer)]
    assert sorted(link_ids(clients[7])) == sorted(open_ids)
    assert sorted(link_ids(newcomer)) == sorted(open_ids)


def test_links_lists_hundreds_of_links(start_server) -> None:
    # A reply longer than one IO buffer, and a list read while links keep arriving.
    server = start_server(buffer_size=1024)
    crowd = tsharness.open_idle(HOST, server.port, 300)
    crowd.ping(timeout_s=30)  # 300 accepts: seconds under Wine on a busy machine
    asker = tsharness.Client(HOST, server.port)
    listed = link_ids(asker)
    assert len(listed) == len(set(listed)) == 301 and link_id(asker) in listed
    late = tsharness.open_idle(HOST, server.port, 50)  # connecting while we ask again
    listed = link_ids(asker)
    assert 301 <= len(listed) == len(set(listed)) <= 351
    late.ping(timeout_s=30)
    assert len(set(link_ids(asker))) == 351
    crowd.close()
    late.close()


def test_ids_are_never_reused(start_server) -> None:
    server = start_server()
    seen = []
    for _ in range(20):  # each link closes before the next opens: its slot gets recycled
        with tsharness.Client(HOST, server.port) as client:
            seen.append(link_id(client))
        server.wait_stats(lambda s: s["links"] == 0, "the link closed")
    assert len(set(seen)) == 20, f"an id came back: {seen}"


def test_bcastx_reaches_all_but_the_sender(start_server) -> None:
    server = start_server()
    listeners = tsharness.open_idle(HOST, server.port, 20)
    listeners.ping()
    sender = tsharness.Client(HOST, server.port)
    sender.send(b"BCASTX not for the sender\n")
    assert listeners.read_lines(b"not for the sender\n") == [[b"not for the sender\n"]] * 20
    # Every listener has it, so it was queued to every link it was going to: none for us.
    sender.echo(b"nothing before this echo")
    # A plain BCAST after it still reaches the sender (and the listeners, once).
    sender.send(b"BCAST for everyone\n")
    assert sender.readline() == b"for everyone\n"
    assert listeners.read_lines(b"for everyone\n") == [[b"for everyone\n"]] * 20
    stats = server.stats()
    assert stats["links"] == 21 and stats["disconnects"] == 0
