"""Received data is a zero-copy memoryview, valid only during the handler."""

from __future__ import annotations

import threading

import pytest
from support import HOST, Server, connect, options, recv_exactly

from tcpserver import Link


def test_data_is_a_byte_memoryview_with_the_sent_content() -> None:
    server = Server(**options())
    views, copies = [], []
    done = threading.Event()

    @server.on_receive
    def inspect(link: Link, data: memoryview) -> None:
        views.append(data)
        copies.append((data.format, data.ndim, len(data), bytes(data), data == b"\x00\xffABC",
                       data[1], bytes(data[2:4])))
        link.send(b"ok")
        done.set()

    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"\x00\xffABC")
        assert recv_exactly(client, 2) == b"ok"
        assert done.wait(5)
        client.close()
    assert copies == [("B", 1, 5, b"\x00\xffABC", True, 255, b"AB")]
    # The view over the engine's buffer was released when the handler returned.
    with pytest.raises(ValueError, match="released"):
        bytes(views[0])


def test_sending_the_view_and_slices_of_it() -> None:
    """link.send and server.broadcast take the view itself (bytes-like), no copy needed."""
    server = Server(**options())

    @server.on_receive
    def halves(link: Link, data: memoryview) -> None:
        middle = len(data) // 2
        link.send(data[middle:])
        link.send(data[:middle])
        link.send(bytearray(b"|"))

    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"abcdef")
        assert recv_exactly(client, 7) == b"defabc|"
        client.close()
