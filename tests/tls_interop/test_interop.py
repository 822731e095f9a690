"""Other TLS implementations against the engine, through the C conformance sample (its --tls-*
flags; TS_SERVER_CMD names it): OpenSSL's s_client (TLS 1.3 and 1.2, a client certificate),
GnuTLS's gnutls-cli (TLS 1.3 and 1.2, ALPN), and testssl.sh's JSON report (no version older
than TLS 1.2, no NULL/anonymous/export/low/3DES suite). Each client verifies the server against
the test CA (certs.py) and sees its line echoed; the server's STATS say what it counted.

The tools come from Debian's openssl, gnutls-bin and testssl.sh packages (scripts/deps.sh,
TEST_PACKAGES): a missing one fails its test saying which package to install. Every wait has a
deadline; the server binds 127.0.0.1 only and stops with `quit` at teardown."""

from __future__ import annotations

import importlib.util
import json
import queue
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "conformance"))
from server_process import (CLOSE_PEER_CLOSED, HOST, ServerProcess,  # noqa: E402
                            server_command)

TOOL_TIMEOUT = 30.0      # one client run on a busy 2-core machine
TESTSSL_TIMEOUT = 300.0  # testssl.sh -p -s: about 40 s here, with the machine busy
PACKAGES = {"openssl": "openssl", "gnutls-cli": "gnutls-bin", "testssl": "testssl.sh"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: apt-get install {PACKAGES[name]} (scripts/deps.sh "
                    "lists it in TEST_PACKAGES; CI installs from there)")
    return path


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    spec = importlib.util.spec_from_file_location("tls_test_certs", HERE / "certs.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.make_test_certs(tmp_path_factory.mktemp("pki"))


@pytest.fixture
def start_server(tmp_path: Path, pki: Path) -> Iterator[Callable[..., ServerProcess]]:
    """start_server("--tls-alpn", "h2", ...) -> the C sample serving TLS on 127.0.0.1."""
    started: List[ServerProcess] = []

    def start(*extra: str) -> ServerProcess:
        argv = server_command() + ["--ip", HOST, "--port", "0", "--workers", "2",
                                   "--idle-ms", "0", "--tls-cert", str(pki / "server.pem"),
                                   "--tls-key", str(pki / "server.key"), *extra]
        server = ServerProcess(argv, tmp_path / f"server{len(started)}.stderr")
        started.append(server)
        server.wait_ready()
        return server

    yield start
    for server in started:
        try:
            if server.stopped is None and server.proc.poll() is None:
                server.quit()
        finally:
            server.cleanup()


class ClientRun:
    """A command-line TLS client: a line written to it, its output read with a deadline."""

    def __init__(self, argv: List[str]) -> None:
        self.argv = argv
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, bufsize=1)
        self.lines: "queue.Queue[str | None]" = queue.Queue()
        self.seen: List[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, text: str, whole_line: bool = True, timeout: float = TOOL_TIMEOUT) -> None:
        """Until a line of output is `text` (the echo) or, whole_line=False, holds it; else a
        failure quoting the output."""
        try:
            while True:
                line = self.lines.get(timeout=timeout)
                if line is None:
                    break
                self.seen.append(line)
                if (line.rstrip("\r\n") == text) if whole_line else (text in line):
                    return
        except queue.Empty:
            pass
        raise AssertionError(f"{Path(self.argv[0]).name} printed no {text!r} within "
                             f"{timeout}s; its output:\n{''.join(self.seen)}")

    def finish(self) -> str:
        """End of input (the client closes), its exit awaited; the whole output."""
        self.proc.stdin.close()
        try:
            code = self.proc.wait(TOOL_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"{self.argv[0]} did not exit within {TOOL_TIMEOUT}s") from None
        while True:
            line = self.lines.get(timeout=TOOL_TIMEOUT)
            if line is None:
                break
            self.seen.append(line)
        output = "".join(self.seen)
        assert code == 0, f"{' '.join(self.argv)} exited with {code}:\n{output}"
        return output


def echo_through(argv: List[str], text: str) -> str:
    client = ClientRun(argv)
    client.proc.stdin.write(text + "\n")
    client.proc.stdin.flush()
    client.wait_for(text)
    return client.finish()


def s_client(pki: Path, port: int, *options: str) -> List[str]:
    return [tool("openssl"), "s_client", "-brief", "-connect", f"{HOST}:{port}",
            "-servername", "localhost", "-CAfile", str(pki / "ca.pem"), "-verify_return_error",
            *options]


def gnutls_cli(pki: Path, port: int, *options: str) -> List[str]:
    # The certificate names IP:127.0.0.1 too, so the address itself is verified.
    return [tool("gnutls-cli"), "--x509cafile", str(pki / "ca.pem"), "-p", str(port), *options,
            HOST]


@pytest.mark.parametrize("version,flag", [("TLSv1.3", "-tls1_3"), ("TLSv1.2", "-tls1_2")])
def test_openssl_s_client(start_server, pki: Path, version: str, flag: str) -> None:
    server = start_server()
    output = echo_through(s_client(pki, server.port, flag), f"s_client over {version}")
    assert f"Protocol version: {version}" in output and "Verification: OK" in output, output
    # s_client ends with close_notify: a clean close, as the peer's FIN after it.
    stats = server.wait_stats(lambda s: s["disconnects"] == 1, "s_client's link closed")
    assert stats["tls_handshakes"] == 1 and stats["tls_failures"] == 0
    assert stats[f"closed_{CLOSE_PEER_CLOSED}"] == 1


def test_openssl_s_client_with_a_required_client_certificate(start_server, pki: Path) -> None:
    server = start_server("--tls-client-ca", str(pki / "ca.pem"), "--tls-client-cert", "2")
    echo_through(s_client(pki, server.port, "-cert", str(pki / "client.pem"),
                          "-key", str(pki / "client.key")), "with a client certificate")
    # TLS 1.3: the client's side of the handshake ends before the server checks its (missing)
    # certificate, so the refusal is the alert that answers its first record.
    refused = ClientRun(s_client(pki, server.port))
    refused.proc.stdin.write("never echoed\n")
    refused.proc.stdin.flush()
    refused.wait_for("alert certificate required", whole_line=False)
    refused.proc.stdin.close()
    assert refused.proc.wait(TOOL_TIMEOUT) != 0, "s_client says the connection failed"
    assert "never echoed\n" not in refused.seen, "nothing was served without a certificate"
    stats = server.wait_stats(lambda s: s["tls_failures"] == 1 and s["disconnects"] == 1,
                              "the refused handshake counted, the accepted link closed")
    assert stats["tls_handshakes"] == 1 and stats["accepts"] == 1, "the refused one is no link"


@pytest.mark.parametrize("version,priority", [("TLS1.3", "NORMAL"),
                                              ("TLS1.2", "NORMAL:-VERS-ALL:+VERS-TLS1.2")])
def test_gnutls_cli(start_server, pki: Path, version: str, priority: str) -> None:
    server = start_server("--tls-alpn", "h2,http/1.1")
    output = echo_through(gnutls_cli(pki, server.port, "--priority", priority, "--alpn", "h2"),
                          f"gnutls-cli over {version}")
    assert "- Status: The certificate is trusted." in output, output
    assert f"- Description: ({version}-X.509)" in output, output
    assert "- Application protocol: h2" in output, output
    stats = server.wait_stats(lambda s: s["disconnects"] == 1, "gnutls-cli's link closed")
    assert stats["tls_handshakes"] == 1 and stats["tls_failures"] == 0


def test_testssl_finds_only_tls_1_2_and_1_3_and_no_weak_suites(start_server, pki: Path,
                                                               tmp_path: Path) -> None:
    server = start_server()
    report = tmp_path / "testssl.json"
    argv = [tool("testssl"), "--quiet", "--color", "0", "--warnings", "batch", "--ip", "one",
            "-p", "-s", "--jsonfile", str(report), f"{HOST}:{server.port}"]
    run = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         timeout=TESTSSL_TIMEOUT)
    assert report.exists(), f"testssl.sh wrote no report (exit {run.returncode}):\n{run.stdout}"
    findings: Dict[str, str] = {item["id"]: item["finding"]
                                for item in json.loads(report.read_text())}
    for old in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert findings.get(old) == "not offered", f"{old}: {findings.get(old)!r}"
    assert findings.get("TLS1_2") == "offered", findings.get("TLS1_2")
    assert str(findings.get("TLS1_3", "")).startswith("offered"), findings.get("TLS1_3")
    for weak in ("NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA"):
        assert findings.get(f"cipherlist_{weak}") == "not offered", \
            f"cipherlist_{weak}: {findings.get(f'cipherlist_{weak}')!r}"
    assert findings.get("cipherlist_STRONG") == "offered", findings.get("cipherlist_STRONG")
    server.assert_running()
    stats = server.stats()
    assert stats["tls_handshakes"] > 0 and stats["tls_failures"] > 0, \
        f"testssl's probes: the accepted handshakes and the refused old versions, {stats}"
