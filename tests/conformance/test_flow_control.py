"""PAUSE/RESUME stop and restart reading a link (from another link); QUEUED shows the bytes a
link has not taken; over --send-queue-limit the policy closes the link or refuses the send."""

from __future__ import annotations

import time

import tsharness

from server_process import CLOSE_IDLE, CLOSE_SEND_QUEUE_FULL, HOST
from wire import assert_pause_blocks_and_resume_delivers, link_id, pause, queued

MiB = 1 << 20
TS_ERR_LINK_CLOSED = 12  # tcpserver.h: the link is closed, or the id is stale


def test_pause_stops_the_echo_and_resume_delivers_everything_in_order(start_server) -> None:
    server = start_server()
    control = tsharness.Client(HOST, server.port)
    paused = tsharness.Client(HOST, server.port)
    bystander = tsharness.Client(HOST, server.port)
    assert_pause_blocks_and_resume_delivers(control, paused)
    bystander.echo(b"never paused")
    stats = server.stats()
    assert stats["links"] == 3 and stats["disconnects"] == 0


def test_pause_of_an_unknown_link_is_an_error(start_server) -> None:
    server = start_server()
    control = tsharness.Client(HOST, server.port)
    gone = tsharness.Client(HOST, server.port)
    gone_id = link_id(gone)
    gone.close()
    # Its OnDisconnect: "links == 1" alone may still be `gone` while `control`, accepted first,
    # waits to be opened by another worker (io_uring hands accepted links on).
    server.wait_stats(lambda s: s["disconnects"] == 1 and s["links"] == 1, "the closed link gone")
    for verb in (b"PAUSE", b"RESUME"):
        assert control.command(verb + b" %d\n" % gone_id) == b"ERR %d\n" % TS_ERR_LINK_CLOSED
    assert queued(control, gone_id) == -1
    control.echo(b"still served")


def test_queued_grows_for_a_client_that_floods_and_does_not_read(start_server) -> None:
    # Each FLOOD is more than the socket buffers on the way can take, so most of it queues.
    size = 16 * MiB
    # Both FLOODs queue before the client reads: no high-water mark, which would (rightly) stop
    # reading this link, and its second FLOOD command, once the first one queues.
    server = start_server(send_queue_limit=4 * size, send_high_water=0)
    control = tsharness.Client(HOST, server.port)
    flooded = tsharness.Client(HOST, server.port)
    target = link_id(flooded)
    # The ID reply is out (the client has it); on io_uring (as on IOCP) the queue still counts
    # it until the server has seen its send complete, an instant later.
    wait_queued(control, target, lambda q: q == 0, "the ID reply's send to complete")
    flooded.send(b"FLOOD %d\n" % size)
    first = wait_queued(control, target, lambda q: q > 0, "the first FLOOD to be queued")
    flooded.send(b"FLOOD %d\n" % size)
    second = wait_queued(control, target, lambda q: q > first, "the second FLOOD to queue more")
    assert second <= 2 * size
    flooded.expect_flood(size, timeout_s=30)
    flooded.expect_flood(size, timeout_s=30)
    wait_queued(control, target, lambda q: q == 0, "the queue to drain once the client read")
    flooded.echo(b"and the link goes on")
    assert server.stats()["closed_5"] == 0


def wait_queued(control: tsharness.Client, target: int, condition, what: str,
                 timeout_s: float = 10) -> int:
    """Poll QUEUED <target> until condition(bytes) holds; returns the bytes."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = queued(control, target)
        if condition(value):
            return value
        assert time.monotonic() < deadline, \
            f"timed out after {timeout_s}s waiting for {what}; QUEUED {target} = {value}"
        time.sleep(0.01)


def test_send_queue_limit_with_policy_close_closes_that_link(start_server) -> None:
    limit = 1 * MiB
    server = start_server(send_queue_limit=limit, send_queue_policy=0)
    bystander = tsharness.Client(HOST, server.port)
    flooded = tsharness.Client(HOST, server.port)
    flooded.echo(b"hello")
    flooded.send(b"FLOOD %d\n" % (2 * limit))
    assert flooded.wait_closed(5), "FLOOD beyond the send-queue limit did not close the link"
    stats = server.wait_stats(lambda s: s["disconnects"] == 1 and s["links"] == 1,
                              "the flooded link's OnDisconnect, the bystander still open")
    assert stats[f"closed_{CLOSE_SEND_QUEUE_FULL}"] == 1
    # Within the limit a FLOOD is delivered whole.
    bystander.send(b"FLOOD %d\n" % (limit // 2))
    bystander.expect_flood(limit // 2)
    bystander.echo(b"still served")


def test_send_queue_limit_with_policy_refuse_keeps_the_link(start_server) -> None:
    limit = 1 * MiB
    server = start_server(send_queue_limit=limit, send_queue_policy=1)
    flooded = tsharness.Client(HOST, server.port)
    flooded.send(b"FLOOD %d\n" % (2 * limit))  # refused whole: nothing is sent, no reply
    # Its only trace: OnReceive ran (the next write must not join the command's chunk).
    server.wait_stats(lambda s: s["msgs_in"] == 1, "the FLOOD command received")
    flooded.echo(b"the link stays open")
    flooded.send(b"FLOOD %d\n" % (limit // 2))
    flooded.expect_flood(limit // 2)
    stats = server.stats()
    assert stats["links"] == 1 and stats["disconnects"] == 0
    assert stats[f"closed_{CLOSE_SEND_QUEUE_FULL}"] == 0


def test_a_paused_link_still_times_out_for_idling(start_server) -> None:
    # tcpserver.h: while paused "the idle clock still runs" (nothing is received).
    idle_ms = 1000
    server = start_server(idle_ms=idle_ms)
    control = tsharness.Client(HOST, server.port)
    paused = tsharness.Client(HOST, server.port)
    paused.echo(b"last thing received")
    pause(control, link_id(paused))
    started = time.monotonic()
    while not paused.wait_closed(0.1):
        control.echo(b"keeps the control link busy")
        try:
            paused.send(b"unread")  # sent, but never received while paused
        except tsharness.PeerClosed:
            break  # the idle close came after wait_closed looked: the stats say why, below
        assert time.monotonic() - started < 10, "the paused link was never closed for idling"
    stats = server.wait_stats(lambda s: s["idle"] == 1 and s["links"] == 1,
                              "the paused link closed as idle, the control link open")
    assert stats[f"closed_{CLOSE_IDLE}"] == 1
