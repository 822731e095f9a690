"""Several servers in one process: each Server owns an engine server, its callbacks come back
through the Context to the right object, and close() / garbage collection free it."""

from __future__ import annotations

import gc
import os
import socket
import subprocess
import sys
import threading
from typing import Dict, List, Tuple

import pytest
from support import (HOST, TIMEOUT, assert_closed_by_server, connect, error_of, options,
                     recv_exactly)

import tcpserver.server
from tcpserver import CloseReason, DefaultServer, ErrorCode, Link, Server, TcpServerError
from tcpserver import _native as n


@pytest.fixture
def destroyed(monkeypatch) -> List[int]:
    """The handles DestroyTcpServer is called with during the test."""
    handles: List[int] = []
    real_destroy = n.DestroyTcpServer
    monkeypatch.setattr(n, "DestroyTcpServer",
                        lambda handle: handles.append(handle) or real_destroy(handle))
    return handles


class Tagged(Server):
    """Replies "<tag>:<data>" and records which object each handler ran on."""

    def __init__(self, tag: bytes, seen: List[Tuple[bytes, str, int]]) -> None:
        super().__init__(**options())
        self.tag = tag
        self.seen = seen
        self.threads = 0
        self.lock = threading.Lock()

    def on_thread_create(self, is_worker: bool) -> bytes:
        with self.lock:
            self.threads += 1
        return self.tag

    def on_connect(self, link: Link) -> bool:
        self.seen.append((self.tag, "connect", link.id))
        return True

    def on_receive(self, link: Link, data: memoryview) -> None:
        self.seen.append((self.tag, "receive", link.id))
        link.send(self.tag + b":" + bytes(data) + b":" + link.worker.data)

    def on_disconnect(self, link: Link) -> None:
        self.seen.append((self.tag, "disconnect", link.id))


def test_three_servers_at_once_each_with_its_handlers_threads_and_counters() -> None:
    seen: List[Tuple[bytes, str, int]] = []
    servers = [Tagged(tag, seen) for tag in (b"A", b"B", b"C")]
    for server in servers:
        server.start(HOST, 0)
    try:
        assert len({server.port for server in servers}) == 3
        clients: Dict[bytes, list] = {}
        for server in servers:
            clients[server.tag] = [connect(server) for _ in range(server.tag[0] - 64)]  # 1,2,3
        for server in servers:
            for client in clients[server.tag]:
                client.sendall(b"hi")
                # The reply proves on_receive and on_thread_create ran on this very object.
                expected = server.tag + b":hi:" + server.tag
                assert recv_exactly(client, len(expected)) == expected
        for server in servers:
            own = {link_id for tag, what, link_id in seen if tag == server.tag}
            assert set(server.link_ids()) == own and len(own) == server.tag[0] - 64
            counters = server.counters()
            assert counters["accepts"] == len(own) and counters["msgs_in"] == len(own)
            assert server.stats().links == len(own)
            assert server.threads >= 2  # its own workers (and service thread), not another's
        # Stopping one leaves the others serving.
        servers[0].stop()
        assert_closed_by_server(clients[b"A"][0])
        for client in clients[b"C"]:
            client.sendall(b"still")
            assert recv_exactly(client, 9) == b"C:still:C"
    finally:
        for server in servers:
            server.close()
    # Every link of every server got exactly one on_disconnect, on its own server's object.
    for tag in (b"A", b"B", b"C"):
        connects = sorted(i for t, what, i in seen if t == tag and what == "connect")
        disconnects = sorted(i for t, what, i in seen if t == tag and what == "disconnect")
        assert connects == disconnects and len(connects) == tag[0] - 64


def test_the_context_of_each_engine_server_is_its_key() -> None:
    first, second = Server(**options()), Server(**options())
    with first.start(HOST, 0), second.start(HOST, 0):
        for server in (first, second):
            context = n.TcpServerGetContext(server._engine_server.handle)
            assert context == server._context
            assert tcpserver.server._by_context[context] is server
    # Stopped servers are no longer reachable from the callbacks' map.
    assert first._context not in tcpserver.server._by_context
    assert n.TcpServerGetContext(n.GetDefaultTcpServer()) is None


def test_default_server_and_a_server_run_side_by_side() -> None:
    flat = DefaultServer(**options())
    flat.on_receive = lambda link, data: link.send(b"flat")
    own = Server(**options())
    own.on_receive = lambda link, data: link.send(b"own")
    with flat.start(HOST, 0), own.start(HOST, 0):
        a, b = connect(flat), connect(own)
        a.sendall(b"?")
        b.sendall(b"?")
        assert recv_exactly(a, 4) == b"flat" and recv_exactly(b, 3) == b"own"
        assert flat.stats().links == 1 and own.stats().links == 1
        a.close()
        b.close()


def test_close_frees_the_engine_server_and_a_later_start_makes_a_new_one(
        destroyed: List[int]) -> None:
    server = Server(**options())
    reasons = []
    server.on_disconnect(lambda link: reasons.append(link.close_reason))
    with server.start(HOST, 0):
        first_handle = server._engine_server.handle
        client = connect(server)
        client.sendall(b"x")
        assert recv_exactly(client, 1) == b"x"
    # Leaving `with` stopped the server (its link got on_disconnect) and freed it.
    assert reasons == [CloseReason.SERVER_STOP]
    assert destroyed == [first_handle] and server._engine_server is None
    assert not server.active and server.port == 0
    client.close()
    with server.start(HOST, 0):  # the options kept by the object apply to the new one
        assert server.max_links == 64 and server.active
        again = connect(server)
        again.sendall(b"y")
        assert recv_exactly(again, 1) == b"y"
        again.close()
    assert len(destroyed) == 2


def test_a_collected_server_frees_its_engine_server(destroyed: List[int]) -> None:
    server = Server(**options())
    server.start(HOST, 0)
    server.stop()
    handle = server._engine_server.handle
    del server
    gc.collect()
    assert destroyed == [handle]


def test_a_running_server_is_kept_alive_without_references() -> None:
    server = Server(**options())
    port = server.start(HOST, 0).port
    del server
    gc.collect()
    client = socket.create_connection((HOST, port), timeout=TIMEOUT)
    client.sendall(b"alive")
    assert recv_exactly(client, 5) == b"alive"
    client.close()


def test_stop_from_a_handler_of_another_server_works() -> None:
    """IN_CALLBACK guards a server against its own handlers only."""
    victim = Server(**options())
    controller = Server(**options())
    outcome = {}

    @controller.on_receive
    def stop_the_other(link: Link, data: memoryview) -> None:
        outcome["error"] = error_of(victim.stop)
        link.send(b"done")

    with victim.start(HOST, 0), controller.start(HOST, 0):
        client = connect(controller)
        client.sendall(b"stop it")
        assert recv_exactly(client, 4) == b"done"
        assert outcome["error"] is None and not victim.active
        client.close()


def test_start_failure_leaves_the_server_unregistered() -> None:
    server = Server(**options())
    with pytest.raises(TcpServerError) as raised:
        server.start("not-an-ip", 0)
    assert raised.value.code == ErrorCode.BAD_ADDRESS
    assert server._context not in tcpserver.server._by_context
    server.close()


def test_exit_with_several_servers_running_is_clean(tmp_path) -> None:
    """A program that forgets stop() still exits cleanly: the binding stops every server at
    exit, before the interpreter goes away under their threads."""
    script = tmp_path / "forgetful.py"
    script.write_text(
        "import socket, tcpserver\n"
        "servers = [tcpserver.Server(worker_threads=1), tcpserver.Server(worker_threads=1),\n"
        "           tcpserver.DefaultServer(worker_threads=1)]\n"
        "clients = []\n"
        "for i, server in enumerate(servers):\n"
        "    server.on_disconnect(lambda link, i=i: print('disconnect', i,\n"
        "                                                  link.close_reason.name, flush=True))\n"
        "    server.start('127.0.0.1', 0)\n"
        "    clients.append(socket.create_connection(('127.0.0.1', server.port)))\n"
        "    clients[-1].sendall(b'x'); assert clients[-1].recv(1) == b'x'\n"
        "print('exiting', flush=True)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=30, env=os.environ.copy())
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    assert lines[0] == "exiting"
    assert sorted(lines[1:4]) == [f"disconnect {i} SERVER_STOP" for i in range(3)]
    assert "Traceback" not in result.stderr
