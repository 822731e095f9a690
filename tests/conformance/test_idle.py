"""--idle-ms closes a silent link (and only a silent one); the sample counts it in `idle`."""

from __future__ import annotations

import time

import tsharness

from server_process import HOST

IDLE_MS = 1000


def test_idle_timeout_closes_a_silent_client(start_server) -> None:
    server = start_server(idle_ms=IDLE_MS)
    silent = tsharness.open_idle(HOST, server.port, 1)
    silent.ping()  # the last byte the server receives from it
    quiet_since = time.monotonic()
    chatty = tsharness.Client(HOST, server.port)
    closed_after = None
    deadline = quiet_since + 5 * IDLE_MS / 1000
    while time.monotonic() < deadline:
        chatty.echo(b"still here")  # well inside the timeout, so this link stays
        if silent.wait_closed(1, timeout_s=0.15) == 1:
            closed_after = time.monotonic() - quiet_since
            break
    assert closed_after is not None, f"the silent link was not closed within {5 * IDLE_MS} ms"
    assert closed_after >= 0.9 * IDLE_MS / 1000, \
        f"the silent link was closed after {closed_after:.3f}s, before the {IDLE_MS} ms timeout"
    chatty.echo(b"and still served")

    stats = server.wait_stats(lambda s: s["idle"] == 1 and s["links"] == 1,
                              "the sample to count one idle link, and that link gone")
    assert stats["idle_closed"] == 1
    assert stats["disconnects"] == 0, "an idle link gets OnLinkIdleOvertime, not OnDisconnect"
    chatty.close()
    server.wait_stats(lambda s: s["disconnects"] == 1 and s["links"] == 0, "the chatty link closed")
    assert server.quit() == {"disconnects": 1, "idle": 1}
