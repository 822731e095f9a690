"""Fixtures shared by every test module (helpers are in support.py)."""

from __future__ import annotations

from typing import Iterator

import pytest

import tcpserver.server


@pytest.fixture(autouse=True)
def no_server_left_running() -> Iterator[None]:
    """A failing test must not leave a server running for the next one."""
    yield
    for running in tcpserver.server._running_servers():
        running.stop()
