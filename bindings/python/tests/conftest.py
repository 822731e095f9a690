"""Fixtures shared by every test module (helpers are in support.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Iterator

import pytest

import tcpserver.server

_CERTS_SCRIPT = Path(__file__).resolve().parents[3] / "tests" / "tls_interop" / "certs.py"


@pytest.fixture(autouse=True)
def no_server_left_running() -> Iterator[None]:
    """A failing test must not leave a server running for the next one."""
    yield
    for running in tcpserver.server._running_servers():
        running.stop()


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A test PKI made for this run with the openssl tool (tests/tls_interop/certs.py lists
    the files): never a committed key."""
    spec = importlib.util.spec_from_file_location("tls_test_certs", _CERTS_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_test_certs(tmp_path_factory.mktemp("tls"))
