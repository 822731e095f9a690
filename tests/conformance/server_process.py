"""The conformance server under test, run as a child process and driven through its standard
input and output as PROTOCOL.md describes."""

from __future__ import annotations

import os
import queue
import shlex
import subprocess
import threading
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

HOST = "127.0.0.1"
START_TIMEOUT = 30.0  # mono or an interpreter starting on a busy 2-core CI machine
LINE_TIMEOUT = 10.0   # any reply on standard output
STOP_TIMEOUT = 15.0   # quit -> STOPPED -> exit

HOST6 = "::1"

# TS_CONFORMANCE_LIGHT=1 (set for conformance_c_valgrind): the sizes the heavy tests choose
# with light(big, small) shrink.
LIGHT = os.environ.get("TS_CONFORMANCE_LIGHT") == "1"


def light(big, small):
    """`small` in the light run (under valgrind), else `big`."""
    return small if LIGHT else big

# Every STATS key PROTOCOL.md names (closed_<r>: OnDisconnect/OnLinkIdleOvertime calls whose
# CloseReason was r).
STATS_KEYS = ("links", "accepts", "refused", "closed", "idle_closed", "bytes_in", "bytes_out",
              "msgs_in", "msgs_out", "iomem_free", "iomem_count", "workers", "disconnects",
              "idle", "framing_errors", "tls_handshakes", "tls_resumed",
              "tls_failures") + tuple(f"closed_{r}" for r in range(1, 16))

# TS_CLOSE_* (tcpserver.h), for the closed_<r> keys.
CLOSE_PEER_CLOSED = 1
CLOSE_PEER_RESET = 2
CLOSE_IDLE = 3
CLOSE_BY_APP = 4
CLOSE_SEND_QUEUE_FULL = 5
CLOSE_SERVER_STOP = 6
CLOSE_ERROR = 7
CLOSE_FRAME_TOO_LARGE = 8
CLOSE_BAD_FRAME = 9
CLOSE_FRAME_TRUNCATED = 10
CLOSE_MEMORY_BUDGET = 11
CLOSE_MESSAGE_TIMEOUT = 12
CLOSE_TLS_ERROR = 14
CLOSE_TLS_NO_CLOSE_NOTIFY = 15

Stats = Dict[str, int]


# TCPSERVER_TEST_BACKEND=epoll|io_uring: the sample serves on that backend (passed on as the
# library's TCPSERVER_BACKEND, which TS_BACKEND_AUTO follows), and every test checks it does, from
# the server process's descriptors (an io_uring ring is "anon_inode:[io_uring]" in
# /proc/<pid>/fd, an epoll loop "anon_inode:[eventpoll]"): so CI knows which backend each run of
# the suite used. Unset: the library's own choice, not checked.
TEST_BACKEND = os.environ.get("TCPSERVER_TEST_BACKEND", "").strip()
if TEST_BACKEND not in ("", "auto", "epoll", "io_uring"):
    raise RuntimeError(f"TCPSERVER_TEST_BACKEND={TEST_BACKEND!r} is not epoll, io_uring or auto")


def server_environment() -> Dict[str, str]:
    env = dict(os.environ)
    if TEST_BACKEND and TEST_BACKEND != "auto":
        env["TCPSERVER_BACKEND"] = TEST_BACKEND
    return env


def backend_descriptors(pid: int) -> Dict[str, int]:
    """How many io_uring rings and epoll instances the process `pid` has open."""
    kinds = {"io_uring": 0, "epoll": 0}
    fd_dir = Path(f"/proc/{pid}/fd")
    for entry in fd_dir.iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue  # closed meanwhile
        if target == "anon_inode:[io_uring]":
            kinds["io_uring"] += 1
        elif target == "anon_inode:[eventpoll]":
            kinds["epoll"] += 1
    return kinds


def server_command() -> List[str]:
    text = os.environ.get("TS_SERVER_CMD", "").strip()
    if not text:
        raise RuntimeError("TS_SERVER_CMD is not set: give the command line of the conformance "
                           "server to test, e.g. TS_SERVER_CMD=/path/bin/conformance_server_c")
    return shlex.split(text)


def parse_fields(line: str, keyword: str) -> Stats:
    """'STATS a=1 b=2' -> {'a': 1, 'b': 2}; raises AssertionError on anything malformed."""
    words = line.split()
    assert words and words[0] == keyword, f"expected a {keyword} line, got {line!r}"
    fields = {}
    for word in words[1:]:
        key, sep, value = word.partition("=")
        assert sep and value.lstrip("-").isdigit(), f"malformed field {word!r} in {line!r}"
        fields[key] = int(value)
    return fields


def parse_stats(line: str, keyword: str = "STATS") -> Stats:
    stats = parse_fields(line, keyword)
    missing = [key for key in STATS_KEYS if key not in stats]
    assert not missing, f"{keyword} line lacks {missing}: {line!r}"
    return stats


class ServerProcess:
    """One run of the server. Standard output is read by a thread into a queue, so every wait
    has a deadline; standard error goes to a file quoted in failure messages. `tls` is what the
    harness's clients pass as tls= to speak to it: None for a plain server, a
    tsharness.TlsConfig when it was started with --tls-cert."""

    def __init__(self, argv: List[str], stderr_path: Path, second_server: bool = False,
                 tls: Any = None) -> None:
        self.tls = tls
        self.argv = argv
        self.stderr_path = stderr_path
        self._stderr = open(stderr_path, "w+b")
        self.proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self._stderr, text=True, bufsize=1,
                                     env=server_environment())
        self._lines: "queue.Queue[Optional[str]]" = queue.Queue()
        self._reader = threading.Thread(target=self._read_stdout, daemon=True)
        self._reader.start()
        self.stopped: Optional[Stats] = None
        self.second_server = second_server
        self.port = 0
        self.port2 = 0  # the second server's, with --second-server

    def wait_ready(self) -> None:
        """Wait for the PORT line (the first thing the server prints), and PORT2 after it
        with --second-server."""
        self.port = self._wait_port("PORT", START_TIMEOUT)
        if self.second_server:
            self.port2 = self._wait_port("PORT2", LINE_TIMEOUT)
        self.check_backend()

    def check_backend(self) -> None:
        """The server runs on the backend TCPSERVER_TEST_BACKEND asks for (see above). Its
        workers made their rings or epoll loops before it printed PORT."""
        if TEST_BACKEND in ("", "auto") or not os.path.isdir(f"/proc/{self.proc.pid}/fd"):
            return
        kinds = backend_descriptors(self.proc.pid)
        if TEST_BACKEND == "io_uring":
            assert kinds["io_uring"] > 0, \
                f"TCPSERVER_TEST_BACKEND=io_uring but the server has no io_uring ring open " \
                f"({kinds}){self.stderr_tail()}"
        else:
            assert kinds["io_uring"] == 0 and kinds["epoll"] > 0, \
                f"TCPSERVER_TEST_BACKEND=epoll but the server has {kinds}{self.stderr_tail()}"

    def _wait_port(self, keyword: str, timeout: float) -> int:
        line = self.wait_line(keyword, timeout)
        words = line.split()
        assert len(words) == 2 and words[1].isdigit() and int(words[1]) > 0, \
            f"bad {keyword} line {line!r}{self.stderr_tail()}"
        return int(words[1])

    def _read_stdout(self) -> None:
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)  # end of output

    def stderr_tail(self, chars: int = 2000) -> str:
        """The end of what the server wrote to standard error, for failure messages. Read
        through our own descriptor: it works even if something cleans up the temp folder."""
        fd = self._stderr.fileno()
        size = os.fstat(fd).st_size
        text = os.pread(fd, chars, max(0, size - chars)).decode(errors="replace")
        return f"\n--- server stderr (last {chars} bytes) ---\n{text}" if text else ""

    def wait_line(self, keyword: str, timeout: float = LINE_TIMEOUT) -> str:
        """The next standard-output line, which must start with `keyword` (PROTOCOL.md: the
        server prints nothing else there)."""
        try:
            line = self._lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"no {keyword} line from the server within {timeout}s"
                                 f"{self.stderr_tail()}") from None
        if line is None:
            self._lines.put(None)  # keep the end-of-output mark for later waits
            code = self.proc.wait(STOP_TIMEOUT)
            raise AssertionError(f"the server ended its output (exit code {code}) while a "
                                 f"{keyword} line was expected{self.stderr_tail()}")
        assert line.split(" ", 1)[0].rstrip("\n") == keyword, \
            f"expected a {keyword} line on standard output, got {line!r}{self.stderr_tail()}"
        return line.rstrip("\n")

    def command(self, text: str) -> None:
        assert self.proc.poll() is None, \
            f"the server exited (code {self.proc.returncode}) unexpectedly{self.stderr_tail()}"
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stats(self) -> Stats:
        self.command("stats")
        return parse_stats(self.wait_line("STATS"))

    def stats2(self) -> Stats:
        """The second server's STATS2 line (--second-server)."""
        self.command("stats2")
        return parse_stats(self.wait_line("STATS2"), "STATS2")

    def stop2(self) -> Stats:
        """`stop2`: the second server stops and is destroyed; returns the STOPPED2 fields."""
        self.command("stop2")
        stopped = parse_fields(self.wait_line("STOPPED2", STOP_TIMEOUT), "STOPPED2")
        assert set(stopped) == {"disconnects"}, \
            f"the STOPPED2 line should carry disconnects, got {stopped}"
        return stopped

    def wait_stats2(self, condition: Callable[[Stats], bool], what: str,
                    timeout: float = LINE_TIMEOUT) -> Stats:
        """wait_stats for the second server."""
        return self.wait_stats(condition, what, timeout, self.stats2)

    def wait_stats(self, condition: Callable[[Stats], bool], what: str,
                   timeout: float = LINE_TIMEOUT,
                   read: Optional[Callable[[], Stats]] = None) -> Stats:
        """Poll `stats` every few ms until condition(stats) holds; fail after `timeout`."""
        deadline = time.monotonic() + timeout
        while True:
            stats = (read or self.stats)()
            if condition(stats):
                return stats
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                     f"last STATS: {stats}")
            time.sleep(0.01)

    def assert_running(self) -> None:
        assert self.proc.poll() is None, \
            f"the server exited (code {self.proc.returncode}){self.stderr_tail()}"

    def _finish(self, send: Callable[[], None]) -> Stats:
        send()
        self.stopped = parse_fields(self.wait_line("STOPPED", STOP_TIMEOUT), "STOPPED")
        try:
            code = self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"the server printed STOPPED but did not exit within "
                                 f"{STOP_TIMEOUT}s{self.stderr_tail()}") from None
        assert code == 0, f"the server exited with code {code} after STOPPED{self.stderr_tail()}"
        assert set(self.stopped) == {"disconnects", "idle"}, \
            f"the STOPPED line should carry disconnects and idle, got {self.stopped}"
        return self.stopped

    def quit(self) -> Stats:
        """Stop through `quit`: checks STOPPED and exit code 0; returns the STOPPED fields."""
        return self._finish(lambda: self.command("quit"))

    def close_stdin(self) -> Stats:
        """Stop through end of input, with the same checks as quit()."""
        return self._finish(self.proc.stdin.close)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def cleanup(self) -> None:
        self.kill()
        for stream in (self.proc.stdin, self.proc.stdout):
            try:
                stream.close()
            except (OSError, ValueError):
                pass  # a closed pipe to a dead process: nothing left to release
        self._reader.join(timeout=LINE_TIMEOUT)
        self._stderr.close()
