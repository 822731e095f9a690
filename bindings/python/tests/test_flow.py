"""Flow control and enumeration: pause/resume reading, queued bytes, link ids, broadcast to
all but one."""

from __future__ import annotations

import socket
import threading
from typing import Dict, List

import pytest
from support import HOST, TIMEOUT, Server, connect, options, recv_exactly, wait_for

import tcpserver.server
from tcpserver import ErrorCode, Link, TcpServerError

CHUNK = bytes(range(256)) * 256  # 64 KiB
SEND_CAP = 512 * len(CHUNK)       # 32 MiB: far more than loopback buffers take unread


class Tracker(Server):
    """Native echo (no on_receive); remembers the ids of its links, and which is whose."""

    def __init__(self, **overrides: int) -> None:
        super().__init__(**options(**overrides))
        self.ids: List[int] = []
        self.closed: List[int] = []
        self.by_port: Dict[int, int] = {}

    def on_connect(self, link: Link) -> bool:
        self.by_port[link.remote_port] = link.id
        self.ids.append(link.id)
        return True

    def id_of(self, client: socket.socket) -> int:
        return self.by_port[client.getsockname()[1]]

    def on_disconnect(self, link: Link) -> None:
        self.closed.append(link.id)


def fill_until_blocked(client: socket.socket) -> int:
    """Send without blocking until the kernel refuses more; the bytes sent."""
    client.setblocking(False)
    sent = 0
    try:
        while sent < SEND_CAP:
            sent += client.send(CHUNK)
    except BlockingIOError:
        pass
    finally:
        client.settimeout(TIMEOUT)
    return sent


def test_a_paused_link_is_not_read_until_resumed() -> None:
    with Tracker().start(HOST, 0) as server:
        client = connect(server)
        client.sendall(b"before")
        assert recv_exactly(client, 6) == b"before"
        link_id = server.ids[0]
        read = server.counters()["bytes_in"]  # the default server's count from earlier tests too
        server.pause(link_id)
        server.pause(link_id)  # pausing a paused link changes nothing
        # Nothing is read while paused: the peer's sends block once the socket buffers are
        # full (TCP backpressure), and nothing is echoed.
        sent = fill_until_blocked(client)
        assert 0 < sent < SEND_CAP, "the server kept reading a paused link"
        assert server.counters()["bytes_in"] == read
        server.resume(link_id)
        echoed = recv_exactly(client, sent)
        assert echoed == (CHUNK * (sent // len(CHUNK) + 1))[:sent]
        client.close()


def test_a_handler_pauses_its_link_and_another_thread_resumes_it() -> None:
    server = Server(**options())
    paused = threading.Event()
    queued = []

    @server.on_receive
    def pause_on_request(link: Link, data: memoryview) -> None:
        if bytes(data) == b"pause":
            link.pause()
            link.pause()
            queued.append(link.queued_bytes)
            paused.set()
            link.send(b"paused;")
        else:
            link.send(data)

    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"pause")
        assert recv_exactly(client, 7) == b"paused;"
        assert paused.wait(TIMEOUT) and queued[0] >= 0
        sent = fill_until_blocked(client)
        assert 0 < sent < SEND_CAP
        (link_id,) = server.link_ids()
        server.resume(link_id)
        assert recv_exactly(client, sent) == (CHUNK * (sent // len(CHUNK) + 1))[:sent]
        client.close()


def test_queued_bytes_counts_what_the_peer_has_not_taken() -> None:
    server = Tracker(send_queue_limit=0)
    with server.start(HOST, 0):
        client = connect(server)
        wait_for(lambda: server.ids, "on_connect")
        link_id = server.ids[0]
        assert server.queued_bytes(link_id) == 0
        # The client reads nothing yet: what the socket buffers cannot take (they hold a few
        # MiB on loopback) stays queued in the engine.
        big = CHUNK * 512  # 32 MiB
        server.send(link_id, big)
        queued = server.queued_bytes(link_id)
        assert 0 < queued <= len(big)
        assert recv_exactly(client, len(big)) == big
        wait_for(lambda: server.queued_bytes(link_id) == 0, "the queue to drain")
        client.close()
        wait_for(lambda: server.closed, "on_disconnect")
        with pytest.raises(TcpServerError):
            server.queued_bytes(link_id)


def test_link_ids_follow_links_coming_and_going() -> None:
    with Tracker().start(HOST, 0) as server:
        assert server.link_ids() == []
        clients = [connect(server) for _ in range(3)]
        wait_for(lambda: len(server.ids) == 3, "three links")
        assert sorted(server.link_ids()) == sorted(server.ids)
        clients[1].close()
        wait_for(lambda: server.closed, "on_disconnect")
        assert sorted(server.link_ids()) == sorted(server.id_of(c) for c in clients[::2])
        for client in (clients[0], clients[2]):
            client.close()


def test_link_ids_grow_past_the_first_guess(monkeypatch) -> None:
    monkeypatch.setattr(tcpserver.server, "_LINK_IDS_FIRST_GUESS", 2)
    with Tracker().start(HOST, 0) as server:
        clients = [connect(server) for _ in range(5)]
        wait_for(lambda: len(server.ids) == 5, "five links")
        assert sorted(server.link_ids()) == sorted(server.ids)
        for client in clients:
            client.close()


def test_broadcast_except_skips_one_link() -> None:
    with Tracker().start(HOST, 0) as server:
        clients = [connect(server) for _ in range(3)]
        wait_for(lambda: len(server.ids) == 3, "three links")
        assert server.broadcast(b"news;", except_id=server.id_of(clients[0])) == 2
        for client in clients[1:]:
            assert recv_exactly(client, 5) == b"news;"
        # Sends on one link leave in call order: had the broadcast reached the first link,
        # it would arrive before this echo.
        clients[0].sendall(b"ping")
        assert recv_exactly(clients[0], 4) == b"ping"
        for client in clients:
            client.close()


def test_flow_control_on_a_link_that_is_gone() -> None:
    with Tracker().start(HOST, 0) as server:
        for call in (server.pause, server.resume, server.queued_bytes):
            with pytest.raises(TcpServerError) as raised:
                call(0xDEAD_BEEF)
            assert raised.value.code in (ErrorCode.LINK_CLOSED, ErrorCode.NOT_FOUND)
