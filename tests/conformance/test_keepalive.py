"""--keepalive-idle/-interval/-count turn TCP keep-alive on for accepted links with those
settings. Linux only: the server-side socket is found in /proc/net/tcp{,6} (its 'tr' field
is 2 while the keep-alive timer runs, 'tm->when' the time left) and, where the kernel lets
us borrow it (pidfd_getfd on our own child), its socket options are read directly."""

from __future__ import annotations

import ctypes
import os
import socket
import sys
import time
from typing import Optional, Tuple

import pytest
import tsharness

from server_process import HOST

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="reads Linux's /proc/net/tcp")

TIMER_KEEPALIVE = 2
# TS_CONFORMANCE_WINDOWS=1: the server is a Windows program under Wine (scripts/windows/
# pascal.sh). Its DLL, built with Debian's MinGW-w64, sets idle time and interval
# (SIO_KEEPALIVE_VALS) but not the probe count: those headers lack TCP_KEEPCNT, so Windows'
# own count applies (README: Windows).
WINDOWS_SERVER = os.environ.get("TS_CONFORMANCE_WINDOWS") == "1"
SYS_PIDFD_GETFD = 438  # the same number on every Linux architecture


def server_socket_entry(server_port: int, client_port: int) -> Optional[Tuple[int, float, int]]:
    """(timer kind, seconds until it fires, inode) of the accepted connection
    server_port <-> client_port, or None if /proc lists no such socket."""
    ticks = os.sysconf("SC_CLK_TCK")
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                rows = f.read().splitlines()[1:]
        except OSError as error:
            pytest.skip(f"cannot read {table}: {error}")
        for row in rows:
            fields = row.split()
            local, remote = fields[1], fields[2]
            if int(local.rsplit(":", 1)[1], 16) == server_port and \
                    int(remote.rsplit(":", 1)[1], 16) == client_port:
                kind, when = fields[5].split(":")
                return int(kind, 16), int(when, 16) / ticks, int(fields[9])
    return None


def wait_timer(server_port: int, client_port: int, kind: int) -> float:
    """Wait until the accepted socket shows timer `kind`; returns the seconds it has left."""
    deadline = time.monotonic() + 5
    while True:
        entry = server_socket_entry(server_port, client_port)
        assert entry is not None or time.monotonic() < deadline, \
            f"no socket {server_port} <-> {client_port} in /proc/net/tcp or tcp6"
        if entry is not None and entry[0] == kind:
            return entry[1]
        assert time.monotonic() < deadline, \
            f"the accepted socket's timer is {entry[0]}, expected {kind} (2 = keep-alive)"
        time.sleep(0.02)


def borrow_socket(pid: int, inode: int) -> Optional[socket.socket]:
    """A duplicate of the server's socket with that inode (pidfd_getfd), or None where the
    kernel or its ptrace policy does not allow it."""
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return None
    for name in names:
        try:
            if os.readlink(f"/proc/{pid}/fd/{name}") != f"socket:[{inode}]":
                continue
        except OSError:
            continue
        try:
            pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            return None
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.syscall(SYS_PIDFD_GETFD, pidfd, int(name), 0)
        finally:
            os.close(pidfd)
        return socket.socket(fileno=fd) if fd >= 0 else None
    return None


def test_keepalive_flags_reach_accepted_links(start_server) -> None:
    server = start_server(keepalive_idle=7, keepalive_interval=3, keepalive_count=4)
    client = tsharness.Client(HOST, server.port)
    client.echo(b"hello")
    left = wait_timer(server.port, client.local_port, TIMER_KEEPALIVE)
    # The first probe is due within --keepalive-idle (not the 60 s default nor Linux's 2 h).
    assert 0 < left <= 7.5, f"keep-alive timer fires in {left:.2f}s, expected at most 7 s"
    _, _, inode = server_socket_entry(server.port, client.local_port)
    borrowed = borrow_socket(server.proc.pid, inode)
    if borrowed is None:
        return  # the timer above already proved keep-alive with our idle time
    with borrowed:
        assert borrowed.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0
        assert borrowed.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE) == 7
        assert borrowed.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL) == 3
        if not WINDOWS_SERVER:  # the MinGW-built DLL cannot set it: see WINDOWS_SERVER
            assert borrowed.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT) == 4


def test_no_keepalive_timer_without_the_flags(start_server) -> None:
    server = start_server()
    client = tsharness.Client(HOST, server.port)
    client.echo(b"hello")
    wait_timer(server.port, client.local_port, 0)  # no timer at all once the echo is acked
