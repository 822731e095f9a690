#!/usr/bin/env python3
"""Cross-check: a Windows server (the C conformance sample, under Wine) serving Linux clients.

    cross_check.py --wine /usr/lib/wine/wine64 --server path/to/conformance_server_c.exe

Starts the server (tests/conformance/PROTOCOL.md: it prints "PORT <n>"), then from this Linux
process: 100 connections at once each echo a different byte stream, every byte verified; a
broadcast round (one link sends "BCAST <text>", all ten links get "<text>"); then "quit" on
stdin, which must stop the server with every OnDisconnect counted. Prints one line per check
and "N passed, M failed"; exits 1 if anything failed. Standard library only.
"""
import argparse
import os
import random
import selectors
import shutil
import socket
import subprocess
import sys
import threading
import time

results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"[{'PASS' if ok else 'FAIL'}] {name}{'' if ok else ' -- ' + detail}", flush=True)
    return ok


class Server:
    """The Wine process, with its stdout lines collected by a reader thread."""

    def __init__(self, wine, exe, env):
        # setarch -R: Wine with address randomization off, else about 1 start in 1 400 fails
        # (c0000018; why: scripts/windows/fixed_layout.sh). Run by hand, nothing else sets it.
        fixed_layout = ["setarch", "-R"] if shutil.which("setarch") else []
        self.proc = subprocess.Popen(
            fixed_layout + [wine, os.path.basename(exe), "--ip", "127.0.0.1", "--port", "0"],
            cwd=os.path.dirname(os.path.abspath(exe)), env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=sys.stderr, text=True, bufsize=1)
        self.lines = []
        self.cond = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            with self.cond:
                self.lines.append(line.rstrip("\n"))
                self.cond.notify_all()
        with self.cond:
            self.lines.append(None)  # end of output
            self.cond.notify_all()

    def wait_line(self, prefix, timeout):
        """The first line starting with prefix not yet consumed, or None at the deadline."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, line in enumerate(self.lines):
                    if line is None:
                        return None
                    if line.startswith(prefix):
                        del self.lines[: i + 1]
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def send(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()

    def stats(self):
        self.send("stats")
        line = self.wait_line("STATS ", 10)
        return dict(kv.split("=", 1) for kv in line.split()[1:]) if line else {}

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


def echo_many(port, connections, size, max_chunk, timeout):
    """Every connection sends its own random stream in random chunks and verifies the echo."""
    sel = selectors.DefaultSelector()
    conns = []
    for i in range(connections):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.setblocking(False)
        c = {"sock": s, "data": random.Random(i).randbytes(size), "sent": 0, "got": 0}
        conns.append(c)
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
    rng = random.Random(42)
    errors, verified, open_count = [], 0, connections
    deadline = time.monotonic() + timeout
    while open_count and time.monotonic() < deadline:
        for key, events in sel.select(0.2):
            c = key.data
            if events & selectors.EVENT_WRITE and c["sent"] < size:
                n = min(size - c["sent"], rng.randint(1, max_chunk))
                try:
                    c["sent"] += c["sock"].send(c["data"][c["sent"]:c["sent"] + n])
                except BlockingIOError:
                    pass
                if c["sent"] == size:
                    sel.modify(c["sock"], selectors.EVENT_READ, c)
            if events & selectors.EVENT_READ:
                try:
                    chunk = c["sock"].recv(65536)
                except BlockingIOError:
                    continue
                except OSError as e:
                    chunk, err = b"", e
                if chunk != c["data"][c["got"]:c["got"] + len(chunk)] or not chunk:
                    errors.append(f"connection {conns.index(c)}: " +
                                  ("closed early" if not chunk else f"bytes differ at {c['got']}"))
                    c["got"] = size
                else:
                    c["got"] += len(chunk)
                    verified += len(chunk)
                if c["got"] >= size:
                    sel.unregister(c["sock"])
                    c["sock"].close()
                    open_count -= 1
    if open_count:
        errors.append(f"{open_count} connections unfinished at the deadline")
    for c in conns:
        c["sock"].close()
    return errors, verified


def recv_exact(sock, n, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            break
        data += chunk
    return data


def wait_for(pred, timeout):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--wine", required=True)
    ap.add_argument("--server", required=True)
    ap.add_argument("--connections", type=int, default=100)
    ap.add_argument("--bytes", type=int, default=64 * 1024)
    args = ap.parse_args()

    env = dict(os.environ, WINEDEBUG="-all")
    server = Server(args.wine, args.server, env)
    try:
        line = server.wait_line("PORT ", 120)  # the first Wine start creates its prefix
        if not check("server printed its port", line is not None, "no PORT line"):
            return 1
        port = int(line.split()[1])

        errors, verified = echo_many(port, args.connections, args.bytes, 8000, 120)
        check(f"echo: {args.connections} connections x {args.bytes} bytes, every byte verified",
              not errors and verified == args.connections * args.bytes,
              f"{len(errors)} errors, first: {errors[:1]}; {verified} bytes verified")
        check("echo: every link closed on the server",
              wait_for(lambda: server.stats().get("links") == "0", 20),
              f"stats: {server.stats()}")

        clients = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(10)]
        check("broadcast: ten links open",
              wait_for(lambda: server.stats().get("links") == "10", 20), f"{server.stats()}")
        clients[0].sendall(b"BCAST hello from linux\n")
        got = [recv_exact(c, len(b"hello from linux\n")) for c in clients]
        check("broadcast: every link received the text once",
              all(g == b"hello from linux\n" for g in got), f"received {got}")
        clients[3].sendall(b"after the broadcast")
        check("broadcast: links still echo afterwards",
              recv_exact(clients[3], 19) == b"after the broadcast")
        for c in clients:
            c.close()
        check("broadcast: every link closed on the server",
              wait_for(lambda: server.stats().get("links") == "0", 20), f"{server.stats()}")

        expected = args.connections + 10
        server.send("quit")
        line = server.wait_line("STOPPED ", 30)
        check(f"quit: STOPPED with {expected} disconnects",
              line == f"STOPPED disconnects={expected} idle=0", f"got {line!r}")
        try:
            code = server.proc.wait(30)
        except subprocess.TimeoutExpired:
            code = None
        check("quit: the server exited with status 0", code == 0, f"status {code}")
    finally:
        server.kill()
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
