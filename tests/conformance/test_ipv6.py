"""--ip "" serves IPv4 and IPv6 peers (dual-stack), --ip ::1 serves IPv6, and --ipv6-only 1
refuses IPv4 peers. Skipped where the host has no IPv6 loopback."""

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


def test_empty_ip_is_dual_stack(start_server) -> None:
    server = start_server(ip="")
    v4 = tsharness.Client(HOST, server.port)
    v4.echo(b"over IPv4")
    v6 = tsharness.Client(HOST6, server.port)
    v6.echo(b"over IPv6")
    result = tsharness.echo_integrity(HOST6, server.port, connections=10, bytes_per_conn=20_000,
                                      max_chunk=3000, seed=21)
    assert result["bytes_received"] == 10 * 20_000
    stats = server.wait_stats(lambda s: s["links"] == 2, "the echo links closed, 2 left")
    assert stats["accepts"] == 12


def test_ipv6_loopback_serves_ipv6(start_server) -> None:
    server = start_server(ip=HOST6)
    tsharness.Client(HOST6, server.port).echo(b"over IPv6")
    assert_ipv4_not_served(server)  # nothing of ours listens on 127.0.0.1


def test_ipv6_only_refuses_ipv4(start_server) -> None:
    server = start_server(ip="", ipv6_only=1)
    v6 = tsharness.Client(HOST6, server.port)
    v6.echo(b"over IPv6")
    assert_ipv4_not_served(server)
    assert server.stats()["refused"] == 0, "an IPv4 peer is not even accepted to be refused"
