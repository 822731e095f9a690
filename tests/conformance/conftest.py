"""Fixtures of the conformance suite: each test starts its own server from TS_SERVER_CMD
(fresh counters) and the fixture stops it with `quit` at teardown, checking STOPPED and exit
code 0 — or kills it if the test left it unable to stop."""

from __future__ import annotations

from pathlib import Path
from typing import Callable, Iterator, List

import pytest

from server_process import ServerProcess, server_command

# Flags every test passes unless it says otherwise: a fixed worker count, and no idle timeout
# unless the test is about it (the library default of 60 s would not fire anyway).
DEFAULT_FLAGS = {"workers": 2, "idle_ms": 0}


def pytest_configure(config: pytest.Config) -> None:
    try:
        server_command()
    except RuntimeError as error:
        raise pytest.UsageError(str(error)) from None
    try:
        import tsharness
        del tsharness  # imported only to fail early, with a clear message, if it is missing
    except ImportError as error:
        raise pytest.UsageError(f"cannot import the native harness tsharness ({error}): build "
                                "the project and put <build>/bin on PYTHONPATH") from None


def flag_args(flags: dict) -> List[str]:
    """{"idle_ms": 0, "ip": "", "second_server": True} -> --idle-ms 0 --ip "" --second-server
    (True: a flag without a value)."""
    args = []
    for name, value in flags.items():
        flag = "--" + name.replace("_", "-")
        args += [flag] if value is True else [flag, str(value)]
    return args


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """start_server(idle_ms=1000, second_server=True, ...) -> a running ServerProcess (flags
    as PROTOCOL.md)."""
    started: List[ServerProcess] = []

    def start(**flags: int) -> ServerProcess:
        merged = dict(DEFAULT_FLAGS, **flags)
        argv = server_command() + flag_args(merged)
        server = ServerProcess(argv, tmp_path / f"server{len(started)}.stderr",
                               second_server=merged.get("second_server") is True)
        started.append(server)  # cleaned up at teardown even if it never gets ready
        server.wait_ready()
        return server

    yield start
    for server in started:
        try:
            if server.stopped is None and server.proc.poll() is None:
                server.quit()  # every test also proves a graceful stop
        finally:
            server.cleanup()
