"""Smoke test of samples/python/conformance_server.py (the full suite is tests/conformance)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from support import HOST, TIMEOUT, assert_closed_by_server, recv_exactly, recv_line

SAMPLE = Path(__file__).resolve().parents[3] / "samples" / "python" / "conformance_server.py"


def test_sample_speaks_the_protocol() -> None:
    server = subprocess.Popen(
        [sys.executable, str(SAMPLE), "--workers", "2", "--idle-ms", "0"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env=os.environ.copy())
    try:
        first = server.stdout.readline().split()
        assert first[0] == "PORT" and int(first[1]) > 0
        port = int(first[1])

        def client() -> socket.socket:
            return socket.create_connection((HOST, port), timeout=TIMEOUT)

        a, b = client(), client()
        a.sendall(b"echo me")
        assert recv_exactly(a, 7) == b"echo me"
        # A broadcast reaches the links open at the call: b's echo proves the server opened it.
        b.sendall(b"me too")
        assert recv_exactly(b, 6) == b"me too"
        a.sendall(b"BCAST hello\n")
        assert recv_exactly(a, 6) == b"hello\n" and recv_exactly(b, 6) == b"hello\n"
        a.sendall(b"STATS\n")
        stats = recv_line(a).decode()
        assert stats.startswith("STATS links=2 ") and stats.endswith("\n")
        b.sendall(b"THROW\n")
        assert_closed_by_server(b)
        a.sendall(b"CLOSE\n")
        assert_closed_by_server(a)
        server.stdin.write("stats\n")
        server.stdin.flush()
        line = server.stdout.readline()
        assert line.startswith("STATS ") and " workers=2 " in line
        server.stdin.write("quit\n")
        server.stdin.flush()
        assert server.stdout.readline() == "STOPPED disconnects=2 idle=0\n"
        assert server.wait(TIMEOUT) == 0
        assert "THROW requested" in server.stderr.read()  # the exception was logged
        a.close()
        b.close()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
