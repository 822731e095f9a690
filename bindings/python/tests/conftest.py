"""Fixtures shared by every test module (helpers are in support.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

import tcpserver.server


@pytest.fixture(autouse=True)
def no_server_left_running() -> Iterator[None]:
    """A failing test must not leave the process-wide engine running for the next one."""
    yield
    running = tcpserver.server._running
    if running is not None:
        running.stop()
