"""BCAST reaches every open link exactly once, in order, the sender included."""

from __future__ import annotations

import pytest
import tsharness

from server_process import HOST


@pytest.mark.tls_too(light=True)
def test_broadcast_reaches_every_link_exactly_once(start_server) -> None:
    server = start_server()
    texts = [f"news {i} for everyone" for i in range(5)]
    expected = [(text + "\n").encode() for text in texts]
    result = tsharness.broadcast_collect(HOST, server.port, connections=50, texts=texts,
                                         timeout_s=15, tls=server.tls)
    assert result["sender"] == expected
    assert len(result["lines"]) == 50
    for index, lines in enumerate(result["lines"]):
        assert lines == expected, f"listener #{index} got {lines!r}"
    # broadcast_collect closes its 51 links when it returns; each was a served link.
    server.wait_stats(lambda s: s["links"] == 0 and s["disconnects"] == 51, "51 links closed")


@pytest.mark.tls_too
def test_broadcast_skips_links_already_closed(start_server) -> None:
    server = start_server()
    with tsharness.open_idle(HOST, server.port, 5, tls=server.tls) as gone:
        gone.ping()
    server.wait_stats(lambda s: s["links"] == 0 and s["disconnects"] == 5, "5 links closed")
    result = tsharness.broadcast_collect(HOST, server.port, connections=3, texts=["only us"], tls=server.tls)
    assert result["lines"] == [[b"only us\n"]] * 3
