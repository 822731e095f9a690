"""An exception in a handler is logged, closes the link, and never reaches the engine."""

from __future__ import annotations

import logging

from support import HOST, Server, assert_closed_by_server, connect, options, recv_exactly, wait_for

from tcpserver import CloseReason, Link


class Fragile(Server):
    """Echoes, but raises on a chunk that says "boom"."""

    def __init__(self) -> None:
        super().__init__(**options())
        self.reasons = []

    def on_receive(self, link: Link, data: memoryview) -> None:
        if bytes(data) == b"boom":
            raise RuntimeError("the handler failed on purpose")
        link.send(data)

    def on_disconnect(self, link: Link) -> None:
        self.reasons.append(link.close_reason)


def test_raising_handler_closes_link_and_server_keeps_serving(caplog) -> None:
    caplog.set_level(logging.ERROR, logger="tcpserver")
    with Fragile().start(HOST, 0) as server:
        bystander = connect(server)
        victim = connect(server)
        victim.sendall(b"boom")
        assert_closed_by_server(victim)
        wait_for(lambda: server.reasons == [CloseReason.BY_APP], "on_disconnect of the victim")

        # The other link and new links are served as before.
        bystander.sendall(b"still there?")
        assert recv_exactly(bystander, 12) == b"still there?"
        newcomer = connect(server)
        newcomer.sendall(b"hi")
        assert recv_exactly(newcomer, 2) == b"hi"
        for client in (victim, bystander, newcomer):
            client.close()

    logged = [r for r in caplog.records if "on_receive raised" in r.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info[0] is RuntimeError


def test_false_from_on_receive_closes_the_link_after_pending_sends() -> None:
    server = Server(**options())

    @server.on_receive
    def last_word(link: Link, data: memoryview) -> bool:
        link.send(b"goodbye")
        return False

    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"hello")
        assert recv_exactly(client, 7) == b"goodbye"
        assert_closed_by_server(client)
        client.close()


def test_raising_disconnect_and_thread_handlers_are_logged_only(caplog) -> None:
    server = Server(**options())
    seen_worker_data = []

    @server.on_thread_create
    def make(is_worker: bool) -> object:
        raise KeyError("no thread data")

    @server.on_receive
    def echo(link: Link, data: memoryview) -> None:
        seen_worker_data.append(link.worker.data)
        link.send(data)

    @server.on_disconnect
    def broken(link: Link) -> None:
        raise ValueError("disconnect handler failed")

    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"ping")
        assert recv_exactly(client, 4) == b"ping"
        client.close()
        wait_for(lambda: any("on_disconnect raised" in r.getMessage() for r in caplog.records),
                 "the logged on_disconnect exception")
        # The server still works after both failures.
        again = connect(server)
        again.sendall(b"pong")
        assert recv_exactly(again, 4) == b"pong"
        again.close()
    assert seen_worker_data == [None, None]
    assert any("on_thread_create raised" in r.getMessage() for r in caplog.records)
