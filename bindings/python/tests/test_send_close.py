"""Sending, broadcasting and closing by link id, from outside the handlers."""

from __future__ import annotations

import threading

from support import HOST, Server, assert_closed_by_server, connect, options, recv_exactly, wait_for

from tcpserver import CloseReason, Link


class Tracker(Server):
    """Remembers the ids of open links and how each one closed."""

    def __init__(self) -> None:
        super().__init__(**options())
        self.ids = []
        self.closed = {}

    def on_connect(self, link: Link) -> bool:
        self.ids.append(link.id)
        return True

    def on_disconnect(self, link: Link) -> None:
        self.closed[link.id] = link.close_reason


def test_send_by_id_from_another_thread() -> None:
    with Tracker().start(HOST, 0) as server:
        client = connect(server)
        wait_for(lambda: server.ids, "on_connect")
        parts = [b"%03d;" % i for i in range(100)]
        sender = threading.Thread(target=lambda: [server.send(server.ids[0], p) for p in parts])
        sender.start()
        sender.join(10)
        assert recv_exactly(client, 400) == b"".join(parts)  # in call order, nothing lost
        client.close()


def test_close_by_id() -> None:
    with Tracker().start(HOST, 0) as server:
        client = connect(server)
        wait_for(lambda: server.ids, "on_connect")
        link_id = server.ids[0]
        server.send(link_id, b"last words")
        assert server.close(link_id) is True
        assert recv_exactly(client, 10) == b"last words"  # pending sends flush first
        assert_closed_by_server(client)
        wait_for(lambda: link_id in server.closed, "on_disconnect")
        assert server.closed[link_id] == CloseReason.BY_APP
        assert server.close(link_id) is False  # already closed
        client.close()


def test_broadcast_reaches_every_link() -> None:
    with Tracker().start(HOST, 0) as server:
        clients = [connect(server) for _ in range(3)]
        wait_for(lambda: len(server.ids) == 3, "three links")
        assert server.broadcast(memoryview(b"news\n")) == 3
        for client in clients:
            assert recv_exactly(client, 5) == b"news\n"
            client.close()
