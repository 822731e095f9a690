"""Server.stats() and worker_stats() come from the engine, per server (API 1.2): two servers
with different options each report their own figures, and a freed engine server raises."""

from __future__ import annotations

from typing import List

import pytest
from support import HOST, connect, error_of, options, recv_exactly, wait_for

from tcpserver import ErrorCode, Server
from tcpserver import _native as n

# Two shapes that differ in every figure the test compares.
SHAPES = [dict(max_links=16, io_buffer_count=64, io_buffer_size=1024, worker_threads=2),
          dict(max_links=48, io_buffer_count=200, io_buffer_size=4096, worker_threads=3)]


def total_events(server: Server) -> int:
    return sum(worker.events for worker in server.worker_stats())


def check_pool(server: Server, shape: dict) -> None:
    """Pool size and use follow this server's options: holding one of its buffers moves its
    use by one buffer's share."""
    before = server.stats()
    stride = before.iomem_size / shape["io_buffer_count"]
    assert before.iomem_size % shape["io_buffer_count"] == 0
    assert shape["io_buffer_size"] <= stride <= shape["io_buffer_size"] + 256  # + header
    handle = server._engine_server.handle
    buffer = n.TcpServerGetIOMem(handle)
    assert buffer, "the server's pool gave no buffer"
    try:
        held = server.stats()
        assert held.iomem_free == before.iomem_free - 1
        assert held.iomem_use == pytest.approx(before.iomem_use
                                               + 100.0 / shape["io_buffer_count"])
        assert held.iomem_size == before.iomem_size
    finally:
        assert n.FreeIOMem(buffer)


def check_links(server: Server, shape: dict, clients: int) -> None:
    wait_for(lambda: server.stats().links == clients, f"{clients} links to open")
    stats = server.stats()
    assert stats.link_free == shape["max_links"] - clients
    assert stats.link_use == pytest.approx(100.0 * clients / shape["max_links"])
    assert stats.link_size > 0 and stats.link_size % shape["max_links"] == 0


def test_two_servers_report_their_own_engine_statistics() -> None:
    servers = [Server(**options(**shape)) for shape in SHAPES]
    sockets: List = []
    try:
        for server in servers:
            server.start(HOST, 0)  # no on_receive: the engine echoes
        for server, shape in zip(servers, SHAPES):
            check_pool(server, shape)
        # The link table holds max_links records of one size: per-link bytes agree.
        sizes = [server.stats().link_size // shape["max_links"]
                 for server, shape in zip(servers, SHAPES)]
        assert sizes[0] == sizes[1]

        thread_ids = []
        for server, shape in zip(servers, SHAPES):
            wait_for(lambda: all(w.thread_id for w in server.worker_stats()),
                     "every worker to have an OS thread id")
            workers = server.worker_stats()
            assert [w.index for w in workers] == list(range(1, shape["worker_threads"] + 1))
            ids = [w.thread_id for w in workers]
            assert len(set(ids)) == len(ids)
            thread_ids += ids
            assert server.stats().workers == shape["worker_threads"]
        assert len(set(thread_ids)) == len(thread_ids), "two servers share a worker thread"

        for count, (server, shape) in enumerate(zip(servers, SHAPES), start=2):
            own = [connect(server) for _ in range(count)]
            sockets += own
            check_links(server, shape, count)
            # Sequential round trips: each one is at least one event on some worker.
            before = total_events(server)
            rounds = 20
            for i in range(rounds):
                message = b"ping %d" % i
                own[i % count].sendall(message)
                assert recv_exactly(own[i % count], len(message)) == message
            after = total_events(server)
            assert after >= before + rounds

        for server in servers:
            # The service thread runs a pass every 100 ms from start.
            wait_for(lambda: server.stats().server_exec_count >= 1, "a service thread pass")
            assert server.stats().server_exec_long >= 0
    finally:
        for client in sockets:
            client.close()
        for server in servers:
            server.close()


def test_statistics_of_a_stopped_server_work_and_of_a_closed_one_raise() -> None:
    server = Server(**options())
    server.start(HOST, 0)
    server.stop()
    assert server.worker_stats() == []  # no workers while stopped
    assert server.stats().link_free == options()["max_links"]
    server.close()  # frees the engine server: its handle is dead from here
    for call in (server.stats, server.worker_stats, server.counters):
        error = error_of(call)
        assert error is not None, f"{call.__name__} after close() must raise"
        assert error.code == ErrorCode.INVALID_ARGUMENT
        # The engine's own text, naming the call that met the dead handle.
        assert "TcpServerGet" in error.text, error.text
        assert "is not a live server handle" in error.text, error.text
    # A later start() makes a new engine server whose statistics work again.
    with server.start(HOST, 0):
        assert server.stats().link_free == options()["max_links"]
        assert len(server.worker_stats()) == options()["worker_threads"]
