"""--framing 1: OnReceive gets whole messages whatever the TCP chunking, every reply and
broadcast leaves as one framed message, and a malformed header closes that link only, with
the right close reason, counted in framing_errors."""

from __future__ import annotations

import time

import pytest
import tsharness

from server_process import (CLOSE_BAD_FRAME, CLOSE_FRAME_TOO_LARGE, CLOSE_FRAME_TRUNCATED,
                            CLOSE_PEER_CLOSED, HOST, light, parse_stats)
from wire import link_id, link_ids

MiB = 1 << 20


def header(length: int) -> bytes:
    return length.to_bytes(4, "big")


def assert_all_echoed(result: dict, connections: int, messages: int) -> None:
    # framed_echo_integrity checked every byte, headers included; these guard its bookkeeping.
    assert result["connections"] == connections
    assert result["messages"] == connections * messages
    assert result["bytes_sent"] == result["bytes_received"] > 0


@pytest.mark.tls_too(light=True)
def test_whole_messages_of_random_sizes_across_connections(start_server) -> None:
    max_message = light(4 * MiB, 2 * MiB)
    server = start_server(framing=1, max_message=max_message)
    connections, messages = light(8, 3), light(40, 12)
    result = tsharness.framed_echo_integrity(HOST, server.port, connections, messages,
                                             max_message=max_message, max_chunk=256 * 1024,
                                             seed=11, timeout_s=light(60, 120), tls=server.tls)
    assert_all_echoed(result, connections, messages)
    assert result["largest"] == max_message, "a message of the largest allowed size went through"
    stats = server.wait_stats(lambda s: s["links"] == 0 and s["disconnects"] == connections,
                              "every link closed")
    assert stats["framing_errors"] == 0
    assert stats["closed_1"] == connections, "each link ended by the client's FIN"
    # Every message was one OnReceive (whole messages, not chunks).
    assert stats["msgs_in"] == connections * messages


@pytest.mark.tls_too
def test_split_headers_and_coalesced_messages(start_server) -> None:
    server = start_server(framing=1)
    # Writes of 1..3 bytes: headers and payloads arrive cut anywhere.
    split = tsharness.framed_echo_integrity(HOST, server.port, connections=4,
                                            messages_per_conn=light(150, 40), max_message=40,
                                            max_chunk=3, seed=12, timeout_s=60, tls=server.tls)
    assert_all_echoed(split, 4, light(150, 40))
    # Writes of up to 64 KiB holding many messages of at most 16 bytes each.
    coalesced = tsharness.framed_echo_integrity(HOST, server.port, connections=4,
                                                messages_per_conn=light(3000, 500), max_message=16,
                                                max_chunk=64 * 1024, seed=13, timeout_s=60, tls=server.tls)
    assert_all_echoed(coalesced, 4, light(3000, 500))
    assert coalesced["sends"] < coalesced["messages"], "writes should hold several messages"
    stats = server.wait_stats(lambda s: s["links"] == 0 and s["disconnects"] == 8,
                              "every link closed")
    assert stats["framing_errors"] == 0
    assert stats["msgs_in"] == split["messages"] + coalesced["messages"]


def test_message_of_exactly_max_message_passes(start_server) -> None:
    server = start_server(framing=1, max_message=1000)
    client = tsharness.Client(HOST, server.port, tls=server.tls)
    for size in (1, 999, 1000):
        payload = bytes(range(256)) * 3 + b"x" * (size - 768) if size > 768 else b"y" * size
        assert client.frame_command(payload) == payload
    assert server.stats()["framing_errors"] == 0


# (name, bytes the client sends, whether the client then closes its side, close reason)
MALFORMED = [
    ("one byte over max_message", header(1001) + b"z" * 10, False, CLOSE_FRAME_TOO_LARGE),
    ("far over max_message", header(0x7FFFFFFF), False, CLOSE_FRAME_TOO_LARGE),
    ("top bit set", header(0x80000005) + b"hello", False, CLOSE_BAD_FRAME),
    ("all ones", b"\xff\xff\xff\xff", False, CLOSE_BAD_FRAME),
    ("peer closes inside a payload", header(100) + b"p" * 10, True, CLOSE_FRAME_TRUNCATED),
    ("peer closes inside a header", b"\x00\x00", True, CLOSE_FRAME_TRUNCATED),
]


@pytest.mark.tls_too
@pytest.mark.parametrize("data,client_closes,reason", [case[1:] for case in MALFORMED],
                         ids=[case[0] for case in MALFORMED])
def test_malformed_frame_closes_that_link(start_server, data: bytes, client_closes: bool,
                                          reason: int) -> None:
    server = start_server(framing=1, max_message=1000)
    bystander = tsharness.Client(HOST, server.port, tls=server.tls)
    assert bystander.frame_command(b"before") == b"before"
    bad = tsharness.Client(HOST, server.port, tls=server.tls)
    assert bad.frame_command(b"a good message first") == b"a good message first"
    bad.send(data)
    if client_closes:
        bad.close()
    else:
        assert bad.wait_closed(5), "the server did not close the link that sent a bad header"
        assert bad.buffered == b"", "nothing of the bad message may be echoed"
    stats = server.wait_stats(lambda s: s["disconnects"] == 1 and s["links"] == 1,
                              "the bad link's OnDisconnect, the bystander still open")
    assert stats["framing_errors"] == 1
    assert stats[f"closed_{reason}"] == 1, f"close reason {reason} expected: {stats}"
    assert stats["msgs_in"] == 2, "only the two good messages were delivered"
    assert bystander.frame_command(b"after") == b"after"


@pytest.mark.tls_too(light=True)
def test_clean_close_between_messages_is_no_framing_error(start_server) -> None:
    server = start_server(framing=1)
    client = tsharness.Client(HOST, server.port, tls=server.tls)
    assert client.frame_command(b"one whole message") == b"one whole message"
    client.close()
    stats = server.wait_stats(lambda s: s["disconnects"] == 1, "the link's OnDisconnect")
    assert stats["framing_errors"] == 0 and stats[f"closed_{CLOSE_PEER_CLOSED}"] == 1


def test_heartbeats_are_not_delivered_but_keep_the_link_alive(start_server) -> None:
    idle_ms = 1000
    server = start_server(framing=1, idle_ms=idle_ms)
    silent = tsharness.Client(HOST, server.port, tls=server.tls)
    assert silent.frame_command(b"then silence") == b"then silence"
    beating = tsharness.Client(HOST, server.port, tls=server.tls)
    started = time.monotonic()
    # Zero-length messages only, for twice the idle timeout: the silent link goes, this stays.
    while time.monotonic() - started < 2 * idle_ms / 1000 or not silent.closed():
        assert time.monotonic() - started < 10, "the silent link was never closed for idling"
        beating.send(header(0))
        assert not beating.wait_closed(0.2), "a link sending heartbeats was closed"
    assert beating.available() == 0, "a heartbeat is not delivered, so nothing is echoed"
    assert beating.frame_command(b"still here") == b"still here"
    stats = server.wait_stats(lambda s: s["idle"] == 1 and s["links"] == 1,
                              "the silent link closed as idle, the beating one open")
    assert stats["framing_errors"] == 0
    assert stats["msgs_in"] == 2, "heartbeats never reach OnReceive"


@pytest.mark.tls_too
def test_commands_replies_and_broadcasts_are_framed(start_server) -> None:
    server = start_server(framing=1)
    a = tsharness.Client(HOST, server.port, tls=server.tls)
    b = tsharness.Client(HOST, server.port, tls=server.tls)
    ids = {link_id(a, framed=True), link_id(b, framed=True)}
    assert set(link_ids(a, framed=True)) == ids
    assert parse_stats(a.frame_command(b"STATS\n").decode())["links"] == 2
    # Keywords inside a message that does not end in '\n' are data.
    assert a.frame_command(b"STATS") == b"STATS"

    a.send_frame(b"BCAST to all\n")
    assert a.read_frame() == b"to all\n" and b.read_frame() == b"to all\n"
    a.send_frame(b"BCASTX to the others\n")
    assert b.read_frame() == b"to the others\n"
    assert a.frame_command(b"mine") == b"mine", "BCASTX must not reach its sender"
    assert b.available() == 0

    # A command cut across TCP writes is still one whole message, hence a command.
    line = b"BCAST split\n"
    a.send(header(len(line)) + line[:3])
    a.send(line[3:])
    assert a.read_frame() == b"split\n" and b.read_frame() == b"split\n"

    a.send_frame(b"FLOOD 300000\n")
    a.expect_flood(300_000, framed=True)
    a.send_frame(b"CLOSE\n")
    assert a.wait_closed(5)
    assert b.frame_command(b"served") == b"served"


@pytest.mark.tls_too
def test_broadcast_reaches_every_framed_link_once(start_server) -> None:
    server = start_server(framing=1)
    texts = [f"framed news {i}" for i in range(4)]
    expected = [(text + "\n").encode() for text in texts]
    result = tsharness.broadcast_collect(HOST, server.port, connections=40, texts=texts,
                                         timeout_s=15, framed=True, tls=server.tls)
    assert result["sender"] == expected
    for index, messages in enumerate(result["lines"]):
        assert messages == expected, f"listener #{index} got {messages!r}"
    server.wait_stats(lambda s: s["links"] == 0 and s["disconnects"] == 41, "41 links closed")
