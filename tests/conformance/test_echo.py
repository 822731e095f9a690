"""Every byte a link sends comes back to it, in order — many links at once, and messages
larger than one IO buffer (also with a pool too small for what is in flight)."""

from __future__ import annotations

import pytest
import tsharness

from server_process import HOST


def assert_all_echoed(result: dict, connections: int, size: int) -> None:
    # echo_integrity already checked every byte; these guard the harness's own bookkeeping.
    assert result["connections"] == connections
    assert result["bytes_sent"] == result["bytes_received"] == connections * size


@pytest.mark.tls_too
def test_echo_integrity_200_connections(start_server) -> None:
    server = start_server()
    result = tsharness.echo_integrity(HOST, server.port, connections=200, bytes_per_conn=64_000,
                                      max_chunk=6000, seed=1, timeout_s=40, tls=server.tls)
    assert_all_echoed(result, 200, 64_000)


@pytest.mark.tls_too(light=True)
def test_messages_larger_than_one_io_buffer(start_server) -> None:
    server = start_server(buffer_size=1024)
    # Single writes of up to 256 KiB: the server receives each in many chunks of <= 1 KiB.
    result = tsharness.echo_integrity(HOST, server.port, connections=8,
                                      bytes_per_conn=1_000_000, max_chunk=256 * 1024, seed=2,
                                      timeout_s=40, tls=server.tls)
    assert_all_echoed(result, 8, 1_000_000)
    assert result["sends"] < 8 * 1_000_000 / 1024, "the writes should be larger than a buffer"


def test_small_pool_loses_no_bytes(start_server) -> None:
    # 64 buffers of 512 bytes cannot hold what 16 busy links have in flight: receives must
    # pause (backpressure) and sends wait, but no byte may be lost or reordered.
    server = start_server(buffer_size=512, buffer_count=64)
    result = tsharness.echo_integrity(HOST, server.port, connections=16, bytes_per_conn=300_000,
                                      max_chunk=64 * 1024, seed=3, timeout_s=40, tls=server.tls)
    assert_all_echoed(result, 16, 300_000)
    # Every pool buffer comes back once the links are gone.
    server.wait_stats(lambda s: s["links"] == 0 and s["iomem_free"] == s["iomem_count"] == 64,
                      "every link closed and all 64 pool buffers free")
