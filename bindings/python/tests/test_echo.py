"""Echo round trips with handlers as subclass methods, as decorators, and with none."""

from __future__ import annotations

import os
import threading

from support import HOST, Server, connect, options, recv_exactly, wait_for

from tcpserver import Link


class EchoServer(Server):
    def __init__(self) -> None:
        super().__init__(**options())
        self.received = 0

    def on_receive(self, link: Link, data: memoryview) -> None:
        self.received += len(data)  # one link only: no race on the counter
        link.send(data)


def test_echo_with_handler_methods() -> None:
    with EchoServer().start(HOST, 0) as server:
        assert server.active and server.port > 0
        client = connect(server)
        client.sendall(b"hello, tcpserver")
        assert recv_exactly(client, 16) == b"hello, tcpserver"
        assert server.received == 16
        client.close()


def test_echo_with_decorators() -> None:
    server = Server(**options())
    events = []

    @server.on_connect
    def accept(link: Link) -> bool:
        events.append(("connect", link.id))
        return True

    @server.on_receive
    def shout(link: Link, data: memoryview) -> None:
        link.send(bytes(data).upper())

    @server.on_disconnect
    def gone(link: Link) -> None:
        events.append(("disconnect", link.id))

    assert accept is not None  # the decorator hands the function back
    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"quiet please")
        assert recv_exactly(client, 12) == b"QUIET PLEASE"
        client.close()
        wait_for(lambda: len(events) == 2, "on_disconnect")
    assert events[0][0] == "connect" and events[1][0] == "disconnect"
    assert events[0][1] == events[1][1]


def test_handler_set_by_assignment() -> None:
    server = Server(**options())
    server.on_receive = lambda link, data: link.send(b"<" + bytes(data) + b">")
    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"x")
        assert recv_exactly(client, 3) == b"<x>"
        client.close()


def test_no_handler_echoes_natively() -> None:
    with Server(**options()).start(HOST, 0) as server:
        client = connect(server)
        client.sendall(b"native echo")
        assert recv_exactly(client, 11) == b"native echo"
        client.close()


def test_large_payloads_on_several_links_arrive_intact() -> None:
    """Bytes larger than one IO buffer, on concurrent links, come back in order."""
    size, links = 256 * 1024, 4
    with EchoServer().start(HOST, 0) as server:
        clients = [connect(server) for _ in range(links)]
        payloads = [os.urandom(size) for _ in range(links)]
        results: list = [None] * links

        def exchange(index: int) -> None:
            writer = threading.Thread(target=clients[index].sendall, args=(payloads[index],))
            writer.start()
            results[index] = recv_exactly(clients[index], size)
            writer.join()

        threads = [threading.Thread(target=exchange, args=(i,)) for i in range(links)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=30)
        assert all(result == payload for result, payload in zip(results, payloads))
        for client in clients:
            client.close()
