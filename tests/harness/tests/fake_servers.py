"""Small in-process TCP servers (Python threads) that behave well or badly on purpose, to
prove the harness notices. They run while tsharness waits only if it releases the GIL."""

from __future__ import annotations

import socket
import socketserver
import threading
from typing import Callable, Iterator, List

HOST = "127.0.0.1"

# handler(sock, server) serves one connection until it returns; the socket is closed after.
Handler = Callable[[socket.socket, "FakeServer"], None]


class FakeServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.received = bytearray()  # everything any connection sent, for inspection
        self.lock = threading.Lock()
        self.clients: List[socket.socket] = []
        self.stopping = threading.Event()  # set when the server shuts down

        class Adapter(socketserver.BaseRequestHandler):
            def handle(inner) -> None:
                with self.lock:
                    self.clients.append(inner.request)
                try:
                    handler(inner.request, self)
                except OSError:
                    pass  # the harness closed its side: this connection is done

        super().__init__((HOST, 0), Adapter)
        self.port = self.server_address[1]
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.02},
                                       daemon=True)

    def __enter__(self) -> "FakeServer":
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)

    def record(self, data: bytes) -> None:
        with self.lock:
            self.received += data


def chunks(sock: socket.socket) -> Iterator[bytes]:
    while True:
        data = sock.recv(65536)
        if not data:
            return
        yield data


def echo(sock: socket.socket, server: FakeServer) -> None:
    for data in chunks(sock):
        server.record(data)
        sock.sendall(data)


def corrupt_at(offset: int) -> Handler:
    """Echoes, but flips one bit of the byte at `offset` of each connection's stream."""
    def handler(sock: socket.socket, server: FakeServer) -> None:
        position = 0
        for data in chunks(sock):
            block = bytearray(data)
            if position <= offset < position + len(block):
                block[offset - position] ^= 0x01
            position += len(block)
            sock.sendall(bytes(block))
    return handler


def close_after(limit: int) -> Handler:
    """Echoes the first `limit` bytes, then closes the connection."""
    def handler(sock: socket.socket, server: FakeServer) -> None:
        echoed = 0
        for data in chunks(sock):
            data = data[: limit - echoed]
            sock.sendall(data)
            echoed += len(data)
            if echoed >= limit:
                return
    return handler


def echo_twice(sock: socket.socket, server: FakeServer) -> None:
    for data in chunks(sock):
        sock.sendall(data + data)


def silent(sock: socket.socket, server: FakeServer) -> None:
    for data in chunks(sock):
        server.record(data)


def broadcaster(sock: socket.socket, server: FakeServer) -> None:
    """A tiny conformance-style server: echoes, and 'BCAST x\\n' sends 'x\\n' to everyone."""
    for data in chunks(sock):
        if data.startswith(b"BCAST ") and data.endswith(b"\n"):
            with server.lock:
                clients = list(server.clients)
            for client in clients:
                try:
                    client.sendall(data[6:])
                except OSError:
                    pass  # that client is gone
        else:
            sock.sendall(data)


def read_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        more = sock.recv(n - len(data))
        if not more:
            raise OSError("closed")
        data += more
    return data


def framed_echo_bumping(bump: int) -> Handler:
    """Framing mode: echoes each whole message with its header's length plus `bump` (0: a
    correct framed echo; otherwise a wrong header, the payload padded or cut to match)."""
    def handler(sock: socket.socket, server: FakeServer) -> None:
        while True:
            size = int.from_bytes(read_exact(sock, 4), "big")
            payload = read_exact(sock, size)
            server.record(payload)
            told = size + bump
            sock.sendall(told.to_bytes(4, "big") + (payload + b"\0" * bump)[:told])
    return handler


def send_on_connect(data: bytes) -> Handler:
    """Sends `data` at once, then reads until the client closes."""
    def handler(sock: socket.socket, server: FakeServer) -> None:
        sock.sendall(data)
        for _ in chunks(sock):
            pass
    return handler


def not_reading(sock: socket.socket, server: FakeServer) -> None:
    """Never reads, so the client's writes back up; returns when the server stops."""
    server.stopping.wait(30)


def flooder(corrupt_at_byte: int = -1, framed: bool = False) -> Handler:
    """Answers 'FLOOD <n>\\n' with the n bytes of PROTOCOL.md (byte i = i % 251), as one
    message if framed, one byte flipped at `corrupt_at_byte` if >= 0."""
    def handler(sock: socket.socket, server: FakeServer) -> None:
        for data in chunks(sock):
            if framed:
                data = data[4:]
            n = int(data.split()[1])
            block = bytearray(i % 251 for i in range(n))
            if 0 <= corrupt_at_byte < n:
                block[corrupt_at_byte] ^= 0x01
            sock.sendall((n.to_bytes(4, "big") if framed else b"") + bytes(block))
    return handler


def framed_broadcaster(sock: socket.socket, server: FakeServer) -> None:
    """broadcaster in framing mode: echoes each message; the message 'BCAST x\\n' sends the
    message 'x\\n' to everyone."""
    while True:
        payload = read_exact(sock, int.from_bytes(read_exact(sock, 4), "big"))
        if payload.startswith(b"BCAST ") and payload.endswith(b"\n"):
            with server.lock:
                clients = list(server.clients)
            text = payload[6:]
            for client in clients:
                try:
                    client.sendall(len(text).to_bytes(4, "big") + text)
                except OSError:
                    pass  # that client is gone
        else:
            sock.sendall(len(payload).to_bytes(4, "big") + payload)
