"""Failures become TcpServerError(code, text) and change nothing."""

from __future__ import annotations

import socket
import threading

import pytest
from support import HOST, Server, connect, options, recv_exactly

from tcpserver import ErrorCode, Link, TcpServerError


def test_bad_address() -> None:
    server = Server(**options())
    with pytest.raises(TcpServerError) as raised:
        server.start("not-an-ip", 0)
    assert raised.value.code == ErrorCode.BAD_ADDRESS
    assert "not-an-ip" in str(raised.value) or raised.value.text
    assert not server.active


def test_port_in_use() -> None:
    holder = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        holder.bind((HOST, 0))
        holder.listen(1)
        server = Server(**options())
        with pytest.raises(TcpServerError) as raised:
            server.start(HOST, holder.getsockname()[1])
        assert raised.value.code == ErrorCode.ADDRESS_IN_USE
        assert not server.active
        server.start(HOST, 0)  # a failed start leaves nothing behind
        server.stop()
    finally:
        holder.close()


def test_option_out_of_range_and_option_while_running() -> None:
    with pytest.raises(TcpServerError) as raised:
        Server(io_buffer_size=1)
    assert raised.value.code == ErrorCode.OPTION_RANGE
    assert "io_buffer_size" in str(raised.value)

    server = Server(**options(max_links=10))
    assert server.max_links == 10
    with server.start(HOST, 0):
        with pytest.raises(TcpServerError) as running:
            server.max_links = 20
        assert running.value.code == ErrorCode.ALREADY_ACTIVE
        with pytest.raises(TcpServerError):
            server.on_receive(lambda link, data: None)  # handlers are wired at start
    assert server.max_links == 10


def test_send_and_close_on_unknown_links() -> None:
    with Server(**options()).start(HOST, 0) as server:
        with pytest.raises(TcpServerError) as raised:
            server.send(0xDEAD_BEEF, b"anyone?")
        assert raised.value.code == ErrorCode.LINK_CLOSED
        assert server.close(0xDEAD_BEEF) is False


def test_calls_on_a_stopped_server() -> None:
    server = Server(**options())
    with pytest.raises(TcpServerError) as raised:
        server.send(1, b"x")
    assert raised.value.code in (ErrorCode.NOT_ACTIVE, ErrorCode.LINK_CLOSED)
    with pytest.raises(TcpServerError) as broadcast:
        server.broadcast(b"x")
    assert broadcast.value.code == ErrorCode.NOT_ACTIVE


def test_link_used_after_its_handler_returns() -> None:
    server = Server(**options())
    kept = []
    returned = threading.Event()

    @server.on_receive
    def keep(link: Link, data: memoryview) -> None:
        kept.append(link)
        link.send(data)
        returned.set()

    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"k")
        assert recv_exactly(client, 1) == b"k"
        assert returned.wait(5)
        link = kept[0]
        assert not link.valid and link.id > 0  # the id stays readable
        with pytest.raises(RuntimeError, match="only valid during the callback"):
            link.remote_port
        with pytest.raises(RuntimeError):
            link.send(b"late")
        server.send(link.id, b"by id")  # the right way, from any thread
        assert recv_exactly(client, 5) == b"by id"
        client.close()
