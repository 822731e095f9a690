"""Fixtures of the conformance suite: each test starts its own server from TS_SERVER_CMD
(fresh counters) and the fixture stops it with `quit` at teardown, checking STOPPED and exit
code 0 — or kills it if the test left it unable to stop.

Tests marked @pytest.mark.tls_too run twice: [plain], and [tls] with the server started with
--tls-cert/--tls-key (a test PKI made for the session by tests/tls_interop/certs.py) and the
harness's clients speaking TLS (server.tls, passed as tls=). In the light run (valgrind) only
those marked tls_too(light=True) get their [tls] run: a TLS handshake costs much under memcheck."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Callable, Iterator, List, Optional

import pytest

from server_process import LIGHT, ServerProcess, server_command

_CERTS_SCRIPT = Path(__file__).resolve().parents[1] / "tls_interop" / "certs.py"

# Flags every test passes unless it says otherwise: a fixed worker count, and no idle timeout
# unless the test is about it (the library default of 60 s would not fire anyway).
DEFAULT_FLAGS = {"workers": 2, "idle_ms": 0}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "tls_too(light=False): run the test over plain TCP and "
                            "over TLS (light=True: in the light run too)")
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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("tls_too")
    if marker:
        tls = not LIGHT or marker.kwargs.get("light", False)
        metafunc.parametrize("transport", ["plain", "tls"] if tls else ["plain"], indirect=True)


@pytest.fixture
def transport(request: pytest.FixtureRequest) -> str:
    """"tls" for the [tls] run of a tls_too test, else "plain"."""
    return getattr(request, "param", "plain")


@pytest.fixture(scope="session")
def tls_certs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test PKI of this session (tests/tls_interop/certs.py lists its files)."""
    spec = importlib.util.spec_from_file_location("tls_test_certs", _CERTS_SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_test_certs(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls_flags(request: pytest.FixtureRequest, transport: str) -> Optional[dict]:
    """The flags that turn TLS on in a [tls] run (None in a plain one)."""
    if transport != "tls":
        return None
    certs = request.getfixturevalue("tls_certs")
    return {"tls_cert": certs / "server.pem", "tls_key": certs / "server.key"}


def tls_client_config(certs: Path) -> "tsharness.TlsConfig":
    import tsharness
    return tsharness.TlsConfig(cafile=str(certs / "ca.pem"), server_name="localhost")


@pytest.fixture
def start_server(tmp_path: Path, tls_flags: Optional[dict]) -> Iterator[Callable[..., ServerProcess]]:
    """start_server(idle_ms=1000, second_server=True, ...) -> a running ServerProcess (flags
    as PROTOCOL.md). In a [tls] run the server speaks TLS and server.tls is the harness's
    TlsConfig for it."""
    started: List[ServerProcess] = []

    def start(**flags: int) -> ServerProcess:
        merged = dict(DEFAULT_FLAGS, **(tls_flags or {}), **flags)
        argv = server_command() + flag_args(merged)
        tls = None
        if "tls_cert" in merged:
            tls = tls_client_config(Path(merged["tls_cert"]).parent)
        server = ServerProcess(argv, tmp_path / f"server{len(started)}.stderr",
                               second_server=merged.get("second_server") is True, tls=tls)
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
