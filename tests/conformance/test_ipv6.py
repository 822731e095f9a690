"""Dual-stack (the default) serves IPv4 peers on an IPv6 listener, --ip ::1 serves IPv6, and
--ipv6-only 1 takes IPv4 away. Tests bind loopback only, so the dual-stack switch is shown on
the IPv4-mapped loopback ::ffff:127.0.0.1 (an empty --ip is the same switch on "::", all
interfaces). Skipped where the host has no IPv6 loopback."""

from __future__ import annotations

import socket

import pytest
import tsharness

from server_process import HOST, HOST6


def has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind((HOST6, 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not has_ipv6_loopback(),
                                reason="this host has no IPv6 loopback (::1)")


def assert_ipv4_not_served(server) -> None:
    """An IPv4 connect to the server's port is refused, or at least never reaches our server:
    the IPv4 port of that number is a different port, which another program on this busy
    machine may have taken meanwhile."""
    accepts = server.stats()["accepts"]
    try:
        stray = tsharness.Client(HOST, server.port, timeout_s=5)
    except tsharness.HarnessError as error:
        assert "connect #0" in str(error), f"unexpected failure: {error}"
        return
    # Connected to someone. Had our server taken it, it would have accepted it before a later
    # link on the same listener; so a later IPv6 link must be the only new accept.
    later = tsharness.Client(HOST6, server.port)
    later.echo(b"served after the IPv4 attempt")
    stats = server.stats()
    assert stats["accepts"] == accepts + 1, "our server accepted an IPv4 connection"
    stray.close()
    later.close()


MAPPED_LOOPBACK = "::ffff:127.0.0.1"


def test_dual_stack_listener_serves_ipv4(start_server) -> None:
    server = start_server(ip=MAPPED_LOOPBACK)
    v4 = tsharness.Client(HOST, server.port)
    v4.echo(b"over IPv4 through an IPv6 listener")
    result = tsharness.echo_integrity(HOST, server.port, connections=10, bytes_per_conn=20_000,
                                      max_chunk=3000, seed=21)
    assert result["bytes_received"] == 10 * 20_000
    stats = server.wait_stats(lambda s: s["links"] == 1, "the echo links closed, 1 left")
    assert stats["accepts"] == 11


def test_ipv6_loopback_serves_ipv6(start_server) -> None:
    server = start_server(ip=HOST6)
    tsharness.Client(HOST6, server.port).echo(b"over IPv6")
    assert_ipv4_not_served(server)  # nothing of ours listens on 127.0.0.1


def test_ipv6_only_refuses_ipv4(start_server) -> None:
    with pytest.raises(AssertionError, match="ended its output"):
        start_server(ip=MAPPED_LOOPBACK, ipv6_only=1)  # an IPv6-only socket has no IPv4 side
    server = start_server(ip=HOST6, ipv6_only=1)
    tsharness.Client(HOST6, server.port).echo(b"over IPv6")
    assert_ipv4_not_served(server)
