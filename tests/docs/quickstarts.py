#!/usr/bin/env python3
"""The README quick starts, compiled and run as pasted (CTest label docs).

A quick start is a fenced block whose info string is `<language> quickstart <file name>`,
followed (before the next quick start) by a `sh quickstart-run` block: the commands a reader
types to build and run it, with $SRC standing for the clone and $LIB for the folder holding
the built library. For example, in a README:

    ```c quickstart echo.c
    ...the program...
    ```
    ```sh quickstart-run
    cc -I$SRC/dll/include echo.c -L$LIB -ltcpserver -Wl,-rpath,$LIB -o echo && ./echo
    ```

Every quick start is a server that prints "listening on <port>" and stops when Enter is
pressed. The runner writes the block to <work>/<id>/<file name>, runs the commands there with
bash in a pseudo-terminal (so output and Enter behave as in a terminal), waits for the line,
connects to 127.0.0.1:<port>, checks an echo, presses Enter and expects exit status 0. Every
wait has a deadline. Two things are stricter than a plain run:
  - `cc` and `c++` are wrappers that turn what GCC 14 rejects into errors on the older GCC
    here (implicit declarations, implicit int, int and pointer conversions), so a snippet that
    forgets a header fails now, not on a reader's newer compiler;
  - nothing may appear in the clone's dll/ and bindings/ folders (a compiler writing its units
    beside the binding's sources, as fpc without -FU does).

    quickstarts.py list  <repo>                        ids, one a line: <id> <language> <where>
    quickstarts.py check <repo>                        the conventions hold (see check_all)
    quickstarts.py run   <repo> <id> --lib <dir> --work <dir>
"""
import argparse
import os
import pty
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional

READMES = ["README.md", "bindings/python/README.md", "bindings/pascal/README.md",
           "bindings/csharp/README.md"]
LANGUAGES = {"c", "cpp", "python", "pascal", "csharp"}
BUILD_AND_START_TIMEOUT = 300.0  # fpc or mcs on a busy 2-core machine, then start-up
ECHO_TIMEOUT = 30.0
EXIT_TIMEOUT = 60.0
FENCE = re.compile(r"^```(\S*)(.*)$")


@dataclass
class QuickStart:
    id: str
    language: str
    file_name: str
    readme: str
    line: int
    code: str
    run: Optional[str]


def fenced_blocks(text):
    """(line number, info words, body) of every fenced block."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if match and match.group(1):
            start = i
            info = [match.group(1)] + match.group(2).split()
            body = []
            i += 1
            while i < len(lines) and not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            yield start + 1, info, "\n".join(body) + "\n"
        i += 1


def find_all(repo: Path) -> List[QuickStart]:
    found = []
    for readme in READMES:
        path = repo / readme
        if not path.exists():
            continue
        stem = readme.replace("/README.md", "").replace("README.md", "top").replace("/", "_")
        current = None
        for line, info, body in fenced_blocks(path.read_text()):
            if len(info) >= 2 and info[1] == "quickstart":
                file_name = info[2] if len(info) > 2 else ""
                current = QuickStart(f"{stem}_{info[0]}", info[0], file_name, readme, line, body, None)
                same = [q for q in found if q.id.startswith(current.id)]
                if same:
                    current.id += f"_{len(same) + 1}"
                found.append(current)
            elif info[:2] == ["sh", "quickstart-run"] and current and current.run is None:
                current.run = body
    return found


def check_all(repo: Path) -> List[str]:
    """Problems with the conventions: every README has a quick start, each names its language
    and file and has its run block."""
    problems = []
    quickstarts = find_all(repo)
    for readme in READMES:
        if not any(q.readme == readme for q in quickstarts):
            problems.append(f"{readme}: no ```<language> quickstart <file> block")
    for q in quickstarts:
        where = f"{q.readme}:{q.line}"
        if q.language not in LANGUAGES:
            problems.append(f"{where}: language {q.language!r} is not one of {sorted(LANGUAGES)}")
        if not q.file_name:
            problems.append(f"{where}: the info string names no file (```{q.language} quickstart echo.x)")
        if q.run is None:
            problems.append(f"{where}: no ```sh quickstart-run block follows")
        elif "listening on" not in q.code:
            problems.append(f"{where}: the program never prints 'listening on <port>'")
    return problems


class Terminal:
    """A command in a pseudo-terminal: its output collected, Enter pressable."""

    def __init__(self, command: str, cwd: Path, env: dict):
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen(["bash", "-e", "-c", command], cwd=cwd, env=env,
                                     stdin=slave, stdout=slave, stderr=slave,
                                     start_new_session=True)
        os.close(slave)
        self.output = ""

    def read(self, timeout: float) -> bool:
        """Collects output for up to timeout s; False once the terminal is closed."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: every process holding the terminal has gone
            return False
        if not data:
            return False
        self.output += data.decode(errors="replace")
        return True

    def wait_for(self, pattern: str, timeout: float) -> Optional[re.Match]:
        deadline = time.monotonic() + timeout
        while True:
            match = re.search(pattern, self.output)
            if match:
                return match
            left = deadline - time.monotonic()
            if left <= 0 or not self.read(min(left, 1.0)) and self.proc.poll() is not None:
                return re.search(pattern, self.output)

    def press_enter(self):
        os.write(self.master, b"\n")

    def wait_exit(self, timeout: float) -> Optional[int]:
        deadline = time.monotonic() + timeout
        while self.proc.poll() is None and time.monotonic() < deadline:
            self.read(0.2)
        while self.read(0.05):  # the last output
            pass
        return self.proc.poll()

    def kill(self):
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        os.close(self.master)


def echo_through(port: int) -> Optional[str]:
    """None if 127.0.0.1:port echoes a message whole, else what went wrong."""
    message = b"quick start echo check\n"
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=ECHO_TIMEOUT) as client:
            client.settimeout(ECHO_TIMEOUT)
            client.sendall(message)
            got = b""
            while len(got) < len(message):
                chunk = client.recv(len(message) - len(got))
                if not chunk:
                    return f"the server closed the connection after {got!r}"
                got += chunk
    except OSError as error:
        return f"{type(error).__name__}: {error}"
    return None if got == message else f"echoed {got!r}, sent {message!r}"


# What GCC 14 makes errors by default (its porting notes), asked of the GCC here.
GCC14_ERRORS = ["-Werror=implicit-function-declaration", "-Werror=implicit-int",
                "-Werror=int-conversion", "-Werror=incompatible-pointer-types"]


def strict_compilers(folder: Path) -> Path:
    """A folder with cc and c++ wrappers that add GCC14_ERRORS (the C ones only for cc)."""
    bin_dir = folder / "strict-bin"
    bin_dir.mkdir()
    for name, flags in (("cc", GCC14_ERRORS), ("c++", [])):
        real = shutil.which(name)
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec "{real}" {" ".join(flags)} "$@"\n')
        wrapper.chmod(0o755)
    return bin_dir


def source_files(repo: Path) -> set:
    return {p for folder in ("dll", "bindings") for p in (repo / folder).rglob("*") if p.is_file()}


def run_one(q: QuickStart, repo: Path, lib: Path, work: Path) -> int:
    where = f"{q.readme}:{q.line}"
    folder = work / q.id
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / q.file_name).write_text(q.code)
    env = dict(os.environ, SRC=str(repo), LIB=str(lib))
    env["PATH"] = f"{strict_compilers(folder)}:{env['PATH']}"
    before = source_files(repo)
    for name in ("TCPSERVER_LIBRARY", "PYTHONPATH", "LD_LIBRARY_PATH"):
        env.pop(name, None)  # only what the README's commands set
    print(f"{where}: {q.language} quick start, run as:\n{q.run}", flush=True)
    term = Terminal(q.run, folder, env)
    failure = None
    try:
        match = term.wait_for(r"listening on (\d+)", BUILD_AND_START_TIMEOUT)
        if not match:
            failure = (f"no 'listening on <port>' within {BUILD_AND_START_TIMEOUT:.0f} s "
                       f"(exit status {term.proc.poll()})")
        else:
            failure = echo_through(int(match.group(1)))
            if failure is None:
                term.press_enter()
                status = term.wait_exit(EXIT_TIMEOUT)
                if status is None:
                    failure = f"still running {EXIT_TIMEOUT:.0f} s after Enter"
                elif status != 0:
                    failure = f"exit status {status} after Enter"
    finally:
        term.kill()
    written = sorted(str(p.relative_to(repo)) for p in source_files(repo) - before)
    if not failure and written:
        failure = f"it wrote into the clone: {written[:10]}"
        for path in written:  # leave the clone as it was
            (repo / path).unlink()
    if failure:
        print(f"FAIL: {where} ({q.id}): {failure}\n--- terminal output (end) ---\n"
              f"{term.output[-4000:]}", flush=True)
        return 1
    print(f"PASS: {where} ({q.id}) built, served an echo on its port, stopped on Enter")
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["list", "check", "run"])
    parser.add_argument("repo", type=Path)
    parser.add_argument("id", nargs="?")
    parser.add_argument("--lib", type=Path)
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    repo = args.repo.resolve()
    if args.action == "list":
        for q in find_all(repo):
            print(f"{q.id} {q.language} {q.readme}:{q.line}")
        return 0
    if args.action == "check":
        problems = check_all(repo)
        for problem in problems:
            print(f"FAIL: {problem}")
        print(f"{len(find_all(repo))} quick starts, {len(problems)} problems")
        return 1 if problems else 0
    matches = [q for q in find_all(repo) if q.id == args.id]
    if not matches or not args.lib or not args.work:
        parser.error(f"run needs a known id (not {args.id!r}), --lib and --work")
    return run_one(matches[0], repo, args.lib.resolve(), args.work.resolve())


if __name__ == "__main__":
    sys.exit(main())
