"""start / stop / restart, the context manager, one default server at a time, stop in a handler."""

from __future__ import annotations

import threading

import pytest
from support import (HOST, Server, assert_closed_by_server, connect, error_of, options,
                     recv_exactly, wait_for)

from tcpserver import CloseReason, DefaultServer, ErrorCode, Link, TcpServerError


def test_context_manager_stops_and_closes_links() -> None:
    server = Server(**options())
    reasons = []
    server.on_disconnect(lambda link: reasons.append(link.close_reason))
    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"x")
        assert recv_exactly(client, 1) == b"x"
    assert not server.active
    assert server.port == 0
    assert reasons == [CloseReason.SERVER_STOP]  # stop waited for every on_disconnect
    assert_closed_by_server(client)
    client.close()


def test_context_manager_stops_when_the_body_raises() -> None:
    server = Server(**options())
    with pytest.raises(ZeroDivisionError):
        with server.start(HOST, 0):
            1 / 0
    assert not server.active


def test_restart_same_instance() -> None:
    server = Server(**options())
    for round_ in range(3):
        server.start(HOST, 0)
        client = connect(server)
        message = f"round {round_}".encode()
        client.sendall(message)
        assert recv_exactly(client, len(message)) == message
        client.close()
        server.stop()
        assert not server.active
    server.stop()  # idempotent


def test_only_one_default_server_runs_at_a_time() -> None:
    first, second = DefaultServer(**options()), DefaultServer(**options())
    with first.start(HOST, 0):
        with pytest.raises(TcpServerError) as raised:
            second.start(HOST, 0)
        assert raised.value.code == ErrorCode.ALREADY_ACTIVE
        with pytest.raises(TcpServerError) as again:
            first.start(HOST, 0)
        assert again.value.code == ErrorCode.ALREADY_ACTIVE
        second.stop()  # stopping a server that is not running changes nothing
        assert first.active
        client = connect(first)  # the failed starts left the running one's handlers alone
        client.sendall(b"still echoing")
        assert recv_exactly(client, 13) == b"still echoing"
        client.close()
    with second.start(HOST, 0):  # once the first stopped, the second may run
        assert second.active


def test_a_server_cannot_start_twice() -> None:
    server = Server(**options())
    with server.start(HOST, 0):
        with pytest.raises(TcpServerError) as again:
            server.start(HOST, 0)
        assert again.value.code == ErrorCode.ALREADY_ACTIVE
        assert server.active


def test_stop_from_a_handler_raises_in_callback() -> None:
    server = Server(**options())
    outcome = {}
    done = threading.Event()

    @server.on_receive
    def try_to_stop(link: Link, data: memoryview) -> None:
        outcome["error"] = error_of(server.stop)
        done.set()
        link.send(data)

    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"stop?")
        assert done.wait(5)
        assert recv_exactly(client, 5) == b"stop?"  # the server is still serving
        assert server.active
        client.close()
    error = outcome["error"]
    assert isinstance(error, TcpServerError) and error.code == ErrorCode.IN_CALLBACK


def test_thread_handlers_pair_up_and_feed_worker_data() -> None:
    server = Server(**options(worker_threads=2))
    created, exited, seen = [], [], []

    @server.on_thread_create
    def create(is_worker: bool) -> object:
        token = object()
        created.append((is_worker, token))
        return token

    @server.on_thread_exit
    def exit_(is_worker: bool, data: object) -> None:
        exited.append((is_worker, data))

    @server.on_receive
    def echo(link: Link, data: memoryview) -> None:
        seen.append(link.worker.data)
        link.send(data)

    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"t")
        assert recv_exactly(client, 1) == b"t"
        client.close()
    workers = [c for c in created if c[0]]
    assert len(workers) == 2
    assert seen[0] in [token for _, token in workers]
    # Every thread that got data gives it back at exit, exactly once.
    assert sorted((w, id(d)) for w, d in exited) == sorted((w, id(t)) for w, t in created)
    assert not server._thread_data  # every token was returned


def test_idle_links_reach_on_idle() -> None:
    server = Server(**options(idle_timeout_ms=200))
    reasons = []
    server.on_idle(lambda link: reasons.append(link.close_reason))
    with server.start(HOST, 0):
        client = connect(server)
        wait_for(lambda: reasons, "on_idle")
        assert reasons == [CloseReason.IDLE]
        assert_closed_by_server(client)
        client.close()


def test_thread_local_state_persists_across_handler_calls() -> None:
    """One Python thread state per engine thread for its whole life (see _pin_thread_state)."""
    server = Server(**options(worker_threads=1))
    local = threading.local()

    @server.on_receive
    def count(link: Link, data: memoryview) -> None:
        local.calls = getattr(local, "calls", 0) + 1
        link.send(b"%d," % local.calls)

    with server.start(HOST, 0):
        client = connect(server)
        replies = b""
        for _ in range(3):
            client.sendall(b"x")
            replies += recv_exactly(client, 2)
        client.close()
    assert replies == b"1,2,3,"
