"""Framing.LENGTH_PREFIXED: on_receive gets whole messages whatever the reads, sends and
broadcasts get their header, bad frames close the link with their reason."""

from __future__ import annotations

import threading
from typing import Dict, List

from support import (HOST, Server, assert_closed_by_server, connect, frame, options,
                     recv_exactly, recv_frame, wait_for)

from tcpserver import CloseReason, Framing, Link


class FramedEcho(Server):
    """Echoes each message and records the sizes on_receive saw."""

    def __init__(self, **overrides: int) -> None:
        super().__init__(**options(framing=Framing.LENGTH_PREFIXED, **overrides))
        self.sizes: List[int] = []
        self.reasons: List[CloseReason] = []
        self.lock = threading.Lock()

    def on_receive(self, link: Link, data: memoryview) -> None:
        with self.lock:
            self.sizes.append(len(data))
        link.send(data)

    def on_disconnect(self, link: Link) -> None:
        self.reasons.append(link.close_reason)


def test_messages_of_any_size_round_trip_whole() -> None:
    # Larger than an IO buffer (2048), split across writes at awkward places, and a heartbeat.
    payloads = [b"a", bytes(range(256)) * 20, b"", b"x" * 100_000, b"end\n"]
    stream = b"".join(frame(p) for p in payloads)
    with FramedEcho(max_message_size=1 << 20).start(HOST, 0) as server:
        assert server.framing == Framing.LENGTH_PREFIXED
        client = connect(server)
        for start in range(0, len(stream), 3001):
            client.sendall(stream[start:start + 3001])
        for payload in payloads:
            if payload:  # a zero-length message is a heartbeat: not delivered, not echoed
                assert recv_frame(client) == payload
        assert server.sizes == [len(p) for p in payloads if p]
        client.close()


def test_broadcast_and_send_by_id_are_framed() -> None:
    server = FramedEcho()
    ids: Dict[int, int] = {}  # the client's port -> its link id
    server.on_connect = lambda link: ids.setdefault(link.remote_port, link.id) and True
    with server.start(HOST, 0):
        a, b = connect(server), connect(server)
        wait_for(lambda: len(ids) == 2, "two links")
        assert server.broadcast(b"to all") == 2
        assert recv_frame(a) == b"to all" and recv_frame(b) == b"to all"
        server.send(ids[b.getsockname()[1]], b"just b")
        assert recv_frame(b) == b"just b"
        a.close()
        b.close()


def test_a_frame_over_the_maximum_closes_the_link_and_is_counted() -> None:
    with FramedEcho(max_message_size=1000).start(HOST, 0) as server:
        client = connect(server)
        client.sendall(frame(b"ok"))
        assert recv_frame(client) == b"ok"
        client.sendall((1001).to_bytes(4, "big"))
        assert_closed_by_server(client)
        wait_for(lambda: server.reasons, "on_disconnect")
        assert server.reasons == [CloseReason.FRAME_TOO_LARGE]
        assert server.counters()["framing_errors"] == 1
        client.close()


def test_a_message_cut_by_the_peer_is_never_delivered() -> None:
    with FramedEcho().start(HOST, 0) as server:
        client = connect(server)
        client.sendall(frame(b"whole"))
        assert recv_frame(client) == b"whole"
        client.sendall(frame(b"cut short")[:7])
        client.close()
        wait_for(lambda: server.reasons, "on_disconnect")
        assert server.reasons == [CloseReason.FRAME_TRUNCATED]
        assert server.sizes == [5]


def test_raw_stream_is_the_default() -> None:
    server = Server(**options())
    with server.start(HOST, 0):
        assert server.framing == Framing.RAW
        client = connect(server)
        client.sendall(frame(b"raw"))
        assert recv_exactly(client, 7) == frame(b"raw")  # echoed as bytes, header and all
        client.close()
