"""Helpers of the cluster binding tests: a private redis-server on 127.0.0.1 (free port, bounded
start, stopped by the test), line clients, and waits with deadlines sized for a busy 2-core
machine. Called from the test's thread.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Callable, List, Optional

HOST = "127.0.0.1"
WAIT = 30.0  # seconds a condition may take before the test fails (several processes, 2 cores)


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT) -> None:
    """Poll `condition` every few ms until it is true; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.005)


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def redis_server_path() -> str:
    path = os.environ.get("TCPSERVER_REDIS_SERVER") or shutil.which("redis-server")
    if not path:
        raise AssertionError("redis-server is missing: install Debian's redis-server "
                             "(scripts/deps.sh lists it); the cluster tests start their own")
    return path


class RedisServer:
    """A redis-server of this test alone, with nothing saved to disk."""

    def __init__(self) -> None:
        self._dir = tempfile.mkdtemp(prefix="tcpcluster-redis-")
        self.port = 0
        self._process: Optional[subprocess.Popen] = None
        for _attempt in range(3):  # a free port may be taken between the probe and the bind
            self.port = free_port()
            if self._spawn():
                return
        raise AssertionError(f"redis-server did not start; see {self._dir}/redis.log")

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}"

    def _spawn(self) -> bool:
        self._process = subprocess.Popen(
            [redis_server_path(), "--port", str(self.port), "--bind", HOST, "--save", "",
             "--appendonly", "no", "--dir", self._dir, "--logfile",
             str(Path(self._dir) / "redis.log"), "--protected-mode", "yes"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return False
            try:
                if self.command("PING") == "PONG":
                    return True
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        return False

    def command(self, *words: str) -> str:
        """One command over RESP; the reply as text (integers in decimal, nil as "(nil)")."""
        request = f"*{len(words)}\r\n" + "".join(
            f"${len(w.encode())}\r\n{w}\r\n" for w in words)
        with socket.create_connection((HOST, self.port), timeout=5) as s:
            s.sendall(request.encode())
            reply = b""
            while True:
                text = _parse_reply(reply)
                if text is not None:
                    return text
                chunk = s.recv(4096)
                if not chunk:
                    raise AssertionError(f"redis closed the connection; reply so far {reply!r}")
                reply += chunk

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        shutil.rmtree(self._dir, ignore_errors=True)


def _parse_reply(reply: bytes) -> Optional[str]:
    """A whole simple reply (+status, -error, :integer, $bulk) as text; None if incomplete."""
    head, sep, rest = reply.partition(b"\r\n")
    if not sep:
        return None
    kind, value = head[:1], head[1:].decode()
    if kind == b"-":
        raise AssertionError(f"redis: {value}")
    if kind != b"$":
        return value
    size = int(value)
    if size < 0:
        return "(nil)"
    return rest[:size].decode() if len(rest) >= size + 2 else None


class LineClient:
    """A TCP client that collects the lines its server sends."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((HOST, port), timeout=WAIT)
        self._pending = b""
        self.lines: List[bytes] = []

    def _read(self, timeout: float) -> None:
        self.sock.settimeout(timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError(f"the server closed the link; lines so far: {self.lines}")
        self._pending += chunk
        *complete, self._pending = self._pending.split(b"\n")
        self.lines += complete

    def next_line(self, timeout: float = WAIT) -> bytes:
        """The next line (without its newline) not read before."""
        deadline = time.monotonic() + timeout
        while not self.lines:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no line arrived in time")
            try:
                self._read(left)
            except socket.timeout:
                raise AssertionError("no line arrived in time") from None
        return self.lines.pop(0)

    def close(self) -> None:
        self.sock.close()
