"""Self-test of the native harness: it passes a correct server and raises, with a useful
message, on each kind of misbehaviour the conformance suite relies on it to catch."""

from __future__ import annotations

import socket
import time

import pytest
import tsharness

from fake_servers import (HOST, FakeServer, broadcaster, close_after, corrupt_at, echo,
                          echo_twice, flooder, framed_broadcaster, framed_echo_bumping,
                          not_reading, send_on_connect, silent)


def unused_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def test_exception_hierarchy() -> None:
    assert issubclass(tsharness.HarnessError, RuntimeError)
    assert issubclass(tsharness.HarnessTimeout, tsharness.HarnessError)
    assert issubclass(tsharness.PeerClosed, tsharness.HarnessError)


def test_echo_integrity_passes_a_correct_echo() -> None:
    with FakeServer(echo) as server:
        result = tsharness.echo_integrity(HOST, server.port, connections=10,
                                          bytes_per_conn=20_000, max_chunk=3000, seed=9,
                                          timeout_s=20)
    assert result["connections"] == 10
    assert result["bytes_sent"] == result["bytes_received"] == 200_000
    assert result["sends"] >= 200_000 // 3000
    assert 0 < result["elapsed_s"] < 20
    assert len(server.received) == 200_000
    assert b"\n" not in server.received, "payload must never contain a newline (commands do)"


def test_same_seed_same_payload() -> None:
    payloads = []
    for _ in range(2):
        with FakeServer(echo) as server:
            tsharness.echo_integrity(HOST, server.port, 1, 5000, max_chunk=100, seed=42)
        payloads.append(bytes(server.received))
    assert payloads[0] == payloads[1]
    with FakeServer(echo) as server:
        tsharness.echo_integrity(HOST, server.port, 1, 5000, max_chunk=100, seed=43)
    assert bytes(server.received) != payloads[0]


def test_echo_integrity_names_the_wrong_byte() -> None:
    with FakeServer(corrupt_at(1234)) as server:
        with pytest.raises(tsharness.HarnessError, match=r"offset 1234 is 0x[0-9A-F]{2}, expected"):
            tsharness.echo_integrity(HOST, server.port, 3, 5000, max_chunk=700, timeout_s=10)


def test_echo_integrity_raises_on_early_close() -> None:
    with FakeServer(close_after(1000)) as server:
        # Whether a read or a write notices first, the message says how far the echo got.
        with pytest.raises(tsharness.PeerClosed,
                           match=r"connection #\d: the server (closed|reset) the connection "
                                 r"after echoing \d+ of 5000 bytes"):
            tsharness.echo_integrity(HOST, server.port, 2, 5000, max_chunk=500, timeout_s=10)


def test_echo_integrity_raises_on_extra_bytes() -> None:
    with FakeServer(echo_twice) as server:
        with pytest.raises(tsharness.HarnessError):
            tsharness.echo_integrity(HOST, server.port, 1, 5000, max_chunk=500, timeout_s=10)


def test_echo_integrity_times_out_on_a_silent_server() -> None:
    with FakeServer(silent) as server:
        started = time.monotonic()
        with pytest.raises(tsharness.HarnessTimeout, match=r"1 of 1 connections unfinished"):
            tsharness.echo_integrity(HOST, server.port, 1, 1000, max_chunk=100, timeout_s=0.5)
        assert time.monotonic() - started < 5


def test_connect_to_a_closed_port_raises() -> None:
    with pytest.raises(tsharness.HarnessError, match=r"connect #0"):
        tsharness.Client(HOST, unused_port(), timeout_s=2)


def test_client_lines_echo_and_close() -> None:
    with FakeServer(echo) as server:
        client = tsharness.Client(HOST, server.port)
        assert client.command(b"one\n") == b"one\n"
        client.echo(b"\x00\xffbinary")
        client.send(b"partial")
        with pytest.raises(tsharness.HarnessTimeout, match=r"no complete line.*'partial'"):
            client.readline(timeout_s=0.2)
        assert not client.wait_closed(0.05), "the echo server did not close the connection"
        assert client.buffered == b"partial"
        assert not client.closed()


def test_client_echo_mismatch_raises() -> None:
    with FakeServer(echo_twice) as server:
        client = tsharness.Client(HOST, server.port)
        with pytest.raises(tsharness.HarnessError, match=r"followed by 'abc'|echo was 'abc'"):
            client.echo(b"abc")  # the duplicate is either already here ...
            client.echo(b"xyz")  # ... or spoils the next echo


def test_client_sees_the_server_close() -> None:
    with FakeServer(close_after(3)) as server:
        client = tsharness.Client(HOST, server.port)
        client.send(b"abcdef")
        assert client.wait_closed(5)
        assert client.closed()
        assert client.buffered == b"abc"
        with pytest.raises(tsharness.PeerClosed, match=r"before a complete line; got 'abc'"):
            client.readline()


def test_link_group_ping_and_closed_counts() -> None:
    with FakeServer(close_after(len("ping-0."))) as server:
        links = tsharness.open_idle(HOST, server.port, 4)
        assert len(links) == 4 and links.closed_count() == 0
        links.ping()  # every link is echoed its token, then closed by this server
        assert links.wait_closed(4, timeout_s=5) == 4
        assert links.closed_flags() == [True] * 4
    with FakeServer(echo) as server:
        links = tsharness.open_idle(HOST, server.port, 3)
        assert links.wait_closed(1, timeout_s=0.1) == 0, "nothing closed them"


def test_broadcast_collect_and_duplicates() -> None:
    with FakeServer(broadcaster) as server:
        result = tsharness.broadcast_collect(HOST, server.port, 5, ["a", "b"], timeout_s=10)
        assert result["sender"] == [b"a\n", b"b\n"]
        assert result["lines"] == [[b"a\n", b"b\n"]] * 5
        # A line arriving twice is reported, not swallowed.
        links = tsharness.open_idle(HOST, server.port, 2)
        links.ping()
        sender = tsharness.Client(HOST, server.port)
        for text in (b"x", b"end", b"end"):
            sender.send(b"BCAST " + text + b"\n")
            assert sender.readline() == text + b"\n"
        lines = links.read_lines(b"end\n", timeout_s=5)
        assert all(got[:2] == [b"x\n", b"end\n"] for got in lines)
        with pytest.raises(tsharness.HarnessTimeout, match=r"2 of 2 links did not receive 'never"):
            links.read_lines(b"never\n", timeout_s=0.2)


def test_read_lines_raises_when_a_link_is_closed() -> None:
    with FakeServer(close_after(len("ping-0."))) as server:
        links = tsharness.open_idle(HOST, server.port, 2)
        links.ping()
        with pytest.raises(tsharness.PeerClosed):
            links.read_lines(b"end\n", timeout_s=5)


# ---- framing mode, flow control, FLOOD ----

def test_framed_echo_integrity_passes_a_message_echo() -> None:
    with FakeServer(framed_echo_bumping(0)) as server:
        result = tsharness.framed_echo_integrity(HOST, server.port, connections=4,
                                                 messages_per_conn=30, max_message=300_000,
                                                 max_chunk=5000, seed=3, timeout_s=20)
    assert result["messages"] == 120 and result["largest"] == 300_000
    assert result["bytes_sent"] == result["bytes_received"] == len(server.received) + 4 * 120


def test_framed_echo_integrity_catches_a_wrong_header() -> None:
    with FakeServer(framed_echo_bumping(1)) as server:
        with pytest.raises(tsharness.HarnessError, match=r"offset 3 is 0x[0-9A-F]{2}, expected"):
            tsharness.framed_echo_integrity(HOST, server.port, 1, 5, max_message=1000,
                                            timeout_s=10)


def test_frames_round_trip_and_a_top_bit_header_is_refused() -> None:
    with FakeServer(framed_echo_bumping(0)) as server:
        client = tsharness.Client(HOST, server.port)
        assert client.frame_command(b"STATS\n") == b"STATS\n"
        client.send_frame(b"")
        client.send_frame(b"x" * 70_000)
        assert client.read_frame() == b""
        assert client.read_frame() == b"x" * 70_000
    with FakeServer(send_on_connect(b"\x80\x00\x00\x01z")) as server:
        with pytest.raises(tsharness.HarnessError, match=r"top bit set"):
            tsharness.Client(HOST, server.port).read_frame()


def test_fill_until_blocked_stops_where_the_server_stops_reading() -> None:
    with FakeServer(not_reading) as server:
        client = tsharness.Client(HOST, server.port)
        sent = client.fill_until_blocked(max_bytes=256 << 20, stall_s=0.3, timeout_s=20)
        assert 0 < sent < 256 << 20
    with FakeServer(silent) as server:  # reads everything: never backs up
        client = tsharness.Client(HOST, server.port)
        with pytest.raises(tsharness.HarnessError, match=r"never backed up"):
            client.fill_until_blocked(max_bytes=4 << 20, stall_s=0.5, timeout_s=20)


def test_expect_pattern_checks_the_echo_of_the_filled_stream() -> None:
    with FakeServer(echo) as server:
        client = tsharness.Client(HOST, server.port)
        # The echo backs up once we do not read it; then all of it comes back, in order.
        sent = client.fill_until_blocked(stall_s=0.3, timeout_s=20)
        client.expect_pattern(sent, timeout_s=20)
        assert client.available() == 0
    with FakeServer(corrupt_at(1000)) as server:
        client = tsharness.Client(HOST, server.port)
        sent = client.fill_until_blocked(stall_s=0.3, timeout_s=20)
        with pytest.raises(tsharness.HarnessError, match=r"pattern byte at offset 1000 is"):
            client.expect_pattern(sent, timeout_s=20)


@pytest.mark.parametrize("framed", [False, True])
def test_expect_flood_checks_every_byte(framed: bool) -> None:
    def flood(client: tsharness.Client, n: int) -> None:
        line = b"FLOOD %d\n" % n
        client.send_frame(line) if framed else client.send(line)
        client.expect_flood(n, framed=framed)

    with FakeServer(flooder(framed=framed)) as server:
        flood(tsharness.Client(HOST, server.port), 100_000)
    with FakeServer(flooder(corrupt_at_byte=777, framed=framed)) as server:
        with pytest.raises(tsharness.HarnessError, match=r"FLOOD byte 777 of 100000"):
            flood(tsharness.Client(HOST, server.port), 100_000)


def test_framed_broadcast_collect_and_duplicates() -> None:
    with FakeServer(framed_broadcaster) as server:
        result = tsharness.broadcast_collect(HOST, server.port, 4, ["a", "b"], timeout_s=10,
                                             framed=True)
        assert result["sender"] == [b"a\n", b"b\n"]
        assert result["lines"] == [[b"a\n", b"b\n"]] * 4
        links = tsharness.open_idle(HOST, server.port, 2, framed=True)
        links.ping()
        sender = tsharness.Client(HOST, server.port)
        for text in (b"end", b"end"):
            assert sender.frame_command(b"BCAST " + text + b"\n") == text + b"\n"
        assert links.read_lines(b"end\n", timeout_s=5) == [[b"end\n", b"end\n"]] * 2
    with FakeServer(send_on_connect(b"\x80\x00\x00\x01z")) as server:
        links = tsharness.open_idle(HOST, server.port, 1, framed=True)
        with pytest.raises(tsharness.HarnessError, match=r"top bit set"):
            links.read_lines(b"x\n", timeout_s=5)
