"""Test helpers: servers on 127.0.0.1 port 0, socket clients, bounded waits."""

from __future__ import annotations

import os
import socket
import time
from typing import Callable, Optional

import tcpserver

HOST = "127.0.0.1"
TIMEOUT = 5.0  # seconds any single wait may take before the test fails

# The suite runs twice (CMakeLists.txt): on Server, whose engine server is its own (the
# handle family), and with TCPSERVER_TEST_DEFAULT_SERVER=1 on DefaultServer (the flat API).
# Tests about one of the two import it from tcpserver instead.
Server = (tcpserver.DefaultServer if os.environ.get("TCPSERVER_TEST_DEFAULT_SERVER") == "1"
          else tcpserver.Server)


def options(**overrides: int) -> dict:
    """Explicit options for a test server. The default server keeps options between starts,
    so every test states the ones its assertions depend on."""
    base = dict(worker_threads=2, idle_timeout_ms=0, max_links=64, io_buffer_count=256,
                io_buffer_size=2048, framing=0, send_queue_limit=16 << 20, tls=0,
                tls_client_cert=0, tls_min_version=tcpserver.TlsVersion.TLS_1_2,
                tls_session_tickets=1)
    base.update(overrides)
    return base


def error_of(call: Callable[[], object]) -> Optional[tcpserver.TcpServerError]:
    """The TcpServerError `call` raises, or None when it succeeds."""
    try:
        call()
    except tcpserver.TcpServerError as error:
        return error
    return None


def wait_for(condition: Callable[[], object], what: str, timeout: float = TIMEOUT) -> None:
    """Poll `condition` every few ms until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def connect(server: tcpserver.Server) -> socket.socket:
    client = socket.create_connection((HOST, server.port), timeout=TIMEOUT)
    client.settimeout(TIMEOUT)
    return client


def recv_exactly(client: socket.socket, size: int) -> bytes:
    chunks, received = [], 0
    while received < size:
        chunk = client.recv(min(65536, size - received))
        if not chunk:
            raise AssertionError(f"connection closed after {received} of {size} bytes")
        chunks.append(chunk)
        received += len(chunk)
    return b"".join(chunks)


def assert_closed_by_server(client: socket.socket) -> None:
    """The server closed the connection: the next read sees end of stream (or a reset)."""
    try:
        data = client.recv(1024)
    except ConnectionResetError:
        return
    assert data == b"", f"expected the server to close the link, got {data!r}"


def recv_line(client: socket.socket, limit: int = 4096) -> bytes:
    """Bytes up to and including the next newline."""
    line = b""
    while not line.endswith(b"\n"):
        chunk = client.recv(1)
        if not chunk or len(line) >= limit:
            raise AssertionError(f"no complete line, got {line!r}")
        line += chunk
    return line


def frame(payload: bytes) -> bytes:
    """A length-prefixed message (Framing.LENGTH_PREFIXED): 4-byte big-endian length first."""
    return len(payload).to_bytes(4, "big") + payload


def recv_frame(client: socket.socket) -> bytes:
    """The payload of the next length-prefixed message."""
    return recv_exactly(client, int.from_bytes(recv_exactly(client, 4), "big"))
