#!/usr/bin/env python3
"""Runs the benchmark suite: every scenario against every server, interleaved, and prints (and
writes) a table of medians and ratios, with the issue-7 targets checked at the end.

    python3 bench/run.py --build-dir build/bench [--runs 5] [--seconds 3] [--out bench/RESULTS.md]
    python3 bench/run.py --build-dir build/bench --smoke   # every server and scenario, briefly;
                                                           # fails only if something does not work

`bash bench/run.sh` builds first and then calls this. Each run starts a fresh server process,
drives it with bench_load, and stops it; the order of the servers rotates from run to run so
slow drifts of the machine spread over all of them.
"""
import argparse
import atexit
import datetime
import os
import platform
import select
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Server:
    """How to start one server: its command line, and whether it is a conformance sample
    (stopped through its standard input) or a bench server (stopped with SIGTERM).
    client_args: what bench_load adds for it (--tls). front: a function that starts a proxy in
    front of it (haproxy terminating TLS) given the server's port; the client then talks to
    the proxy, and the CPU time counted is the proxy's and the server's together."""

    def __init__(self, name, argv, sample=False, env=None, client_args=None, front=None):
        self.name, self.argv, self.sample, self.env = name, argv, sample, env or {}
        self.client_args, self.front = client_args or [], front

    def available(self):
        exe = self.argv[0]
        if self.front and not os.path.exists(HAPROXY):
            return False
        return os.path.exists(exe) and all(os.path.exists(a) for a in self.argv[1:2] if a.endswith(".exe"))


# TLS (issue 15): the certificate every TLS server uses, made once per run (main), and the
# cipher lists: tcpserver's defaults (dll/src/tls/tls_config.cpp), set on every peer too.
TLS = {"dir": None}
TLS12_CIPHERS = ("ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"
                 "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305")
TLS13_SUITES = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
HAPROXY = "/usr/sbin/haproxy"


def make_certificate():
    """An ECDSA P-256 self-signed certificate in a new temporary directory (cert.pem, key.pem,
    and both in one file for haproxy)."""
    d = tempfile.mkdtemp(prefix="tcpserver-bench-tls-")
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                        "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=localhost"],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("run.py: openssl could not make the benchmark certificate: %s" % r.stderr.strip())
    with open(os.path.join(d, "both.pem"), "w") as f:
        f.write(open(cert).read() + open(key).read())
    TLS["dir"] = d
    atexit.register(shutil.rmtree, d, True)
    return d


def tls_files():
    d = TLS["dir"] or "/nonexistent"
    return os.path.join(d, "cert.pem"), os.path.join(d, "key.pem"), os.path.join(d, "both.pem")


def free_port():
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def haproxy_front(backend_port, errfile):
    """haproxy (Debian's) terminating TLS on a free port in front of backend_port: one thread,
    mode tcp, the same certificate and cipher lists as the other TLS servers. Returns
    (process, port) once the port accepts connections."""
    import socket
    port = free_port()
    cfg = os.path.join(TLS["dir"], "haproxy-%d.cfg" % port)
    with open(cfg, "w") as f:
        f.write("""global
    nbthread 1
    maxconn 5000
    ssl-default-bind-ciphers %s
    ssl-default-bind-ciphersuites %s
    ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend tls
    bind 127.0.0.1:%d ssl crt %s
    default_backend echo
backend echo
    server echo 127.0.0.1:%d
""" % (TLS12_CIPHERS, TLS13_SUITES, port, tls_files()[2], backend_port))
    p = subprocess.Popen(PIN["server"] + [HAPROXY, "-db", "-f", cfg], stdin=subprocess.DEVNULL,
                         stdout=subprocess.DEVNULL, stderr=errfile)
    deadline = time.time() + 10
    while time.time() < deadline and p.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), 0.5).close()
            return p, port
        except OSError:
            time.sleep(0.05)
    if p.poll() is None:
        p.kill()
    p.wait()
    raise RuntimeError("haproxy did not listen on 127.0.0.1:%d within 10 s (its config: %s)" % (port, cfg))


def servers(build):
    b = os.path.join(build, "bin")
    lib = os.path.join(b, "libtcpserver.so")
    # The samples with the same settings as the bench servers: one worker, 16 KiB reads.
    flags = ["--workers", "1", "--buffer-size", "16384", "--idle-ms", "0"]
    cert, key, _ = tls_files()
    env = {"LD_LIBRARY_PATH": b, "TCPSERVER_LIBRARY": lib,
           "PYTHONPATH": os.path.join(REPO, "bindings", "python"), "PYTHONDONTWRITEBYTECODE": "1"}
    return {
        # The library's own choice (TS_BACKEND_AUTO: io_uring where the kernel allows it), and
        # the epoll backend by name.
        "tcpserver": Server("tcpserver", [os.path.join(b, "bench_ts_server"), "--mode", "engine"]),
        "tcpserver-epoll": Server("tcpserver-epoll", [os.path.join(b, "bench_ts_server"), "--mode", "engine",
                                                      "--backend", "epoll"]),
        "tcpserver-postsend": Server("tcpserver-postsend", [os.path.join(b, "bench_ts_server"), "--mode", "postsend"]),
        "epoll": Server("epoll", [os.path.join(b, "bench_epoll_server")]),
        "io_uring": Server("io_uring", [os.path.join(b, "bench_uring_server")]),
        "asio": Server("asio", [os.path.join(b, "bench_asio_server")]),
        "libuv": Server("libuv", [os.path.join(b, "bench_uv_server")]),
        "C sample": Server("C sample", [os.path.join(b, "conformance_server_c")] + flags, True, env),
        "Pascal sample": Server("Pascal sample", [os.path.join(b, "conformance_server_pascal")] + flags, True, env),
        "C# sample": Server("C# sample", ["/usr/bin/mono", os.path.join(b, "ConformanceServer.exe")] + flags, True, env),
        "Python sample": Server("Python sample", ["/usr/bin/python3", os.path.join(REPO, "samples", "python",
                                                  "conformance_server.py")] + flags, True, env),
        "tcpserver PostBroadcast": Server("tcpserver PostBroadcast", [os.path.join(b, "bench_ts_server"), "--mode", "bcast"]),
        "epoll send loop": Server("epoll send loop", [os.path.join(b, "bench_epoll_server"), "--mode", "bcast"]),
        # TLS: the same ECDSA P-256 certificate and cipher lists everywhere; one thread each.
        "tcpserver-tls": Server("tcpserver-tls", [os.path.join(b, "bench_ts_server"), "--mode", "engine",
                                                  "--tls-cert", cert, "--tls-key", key], client_args=["--tls"]),
        "asio-ssl": Server("asio-ssl", [os.path.join(b, "bench_asio_ssl_server"), "--tls-cert", cert,
                                        "--tls-key", key], client_args=["--tls"]),
        "haproxy+epoll": Server("haproxy+epoll", [os.path.join(b, "bench_epoll_server")], client_args=["--tls"],
                                front=haproxy_front),
        "tcpserver-tls PostBroadcast": Server("tcpserver-tls PostBroadcast", [
            os.path.join(b, "bench_ts_server"), "--mode", "bcast", "--tls-cert", cert, "--tls-key", key],
            client_args=["--tls"]),
    }


CORE = ["tcpserver", "tcpserver-postsend", "tcpserver-epoll", "epoll", "io_uring", "asio", "libuv"]
SAMPLES = ["C sample", "Pascal sample", "C# sample", "Python sample"]
TLS_PEERS = ["tcpserver-tls", "asio-ssl", "haproxy+epoll"]


def scenarios(smoke, seconds):
    """(key, title, bench_load arguments, servers, metrics shown, main metric, higher is better)"""
    s = ["--seconds", str(0.3 if smoke else seconds), "--warmup", str(0.1 if smoke else 0.5)]
    conns = "20" if smoke else "100"
    many = "200" if smoke else "10000"
    return [
        ("echo64", "64-byte ping-pong, %s connections, 1 in flight" % conns,
         ["echo", "--conns", conns, "--size", "64", "--inflight", "1"] + s,
         CORE, ["msgs_s", "mb_s", "p50_us", "p99_us", "server_cpu_us_per_msg"], "msgs_s", True),
        ("echo4k", "4 KiB messages, 4 in flight, %s connections" % conns,
         ["echo", "--conns", conns, "--size", "4096", "--inflight", "4"] + s,
         CORE, ["msgs_s", "mb_s", "p50_us", "p99_us", "server_cpu_us_per_msg"], "mb_s", True),
        ("open", "open loop: 64 bytes at a fixed 20 000 msgs/s over %s connections (latency from the "
         "scheduled send time)" % conns,
         ["echo", "--conns", conns, "--size", "64", "--rate", "2000" if smoke else "20000"] + s,
         CORE, ["msgs_s", "p50_us", "p99_us"], "p99_us", False),
        ("samples", "binding samples: 64-byte ping-pong, %s connections, 1 in flight" % conns,
         ["echo", "--conns", conns, "--size", "64", "--inflight", "1"] + s,
         SAMPLES, ["msgs_s", "p50_us", "p99_us", "server_cpu_us_per_msg"], "msgs_s", True),
        ("conn10k", "%s connections, 64 bytes, 1 in flight, clients in %s processes" % (many, "2" if smoke else "4"),
         ["echo", "--conns", many, "--procs", "2" if smoke else "4", "--size", "64", "--inflight", "1"] + s,
         ["tcpserver", "tcpserver-epoll", "epoll", "io_uring"], ["msgs_s", "p50_us", "p99_us", "server_cpu_us_per_msg"],
         "msgs_s", True),
        ("scale", "connection scale: mostly idle connections from 4 processes over 4 source addresses",
         ["scale", "--procs", "2" if smoke else "4", "--sources", "4"] + (["--conns", "200"] if smoke else []),
         ["tcpserver", "tcpserver-epoll", "epoll", "io_uring", "asio", "libuv"], ["conns", "accept_s", "server_cpu_us_per_conn", "server_accept_capacity_s", "rss_before_kib",
          "rss_per_conn_b"], "accept_s", True),
        ("bcast", "broadcast of 1 KiB to %s links" % ("50" if smoke else "10 000"),
         ["bcast", "--links", "50" if smoke else "10000"] + s,
         ["tcpserver PostBroadcast", "epoll send loop"], ["deliveries_s", "mb_s", "server_us_per_bcast", "server_cpu_us_per_delivery"],
         "deliveries_s", True),
        # TLS (issue 15). haproxy+epoll: haproxy terminating TLS in front of the raw epoll echo,
        # both pinned to the server's CPU; its CPU time is the two processes' together.
        # 512 at a time: with fewer, every handshake's round trips through both schedulers leave
        # the server idle part of the time (32 kept it under 50 % busy, 512 near 100 %).
        ("tls_hs", "TLS 1.3 full handshakes (ECDSA P-256), %s connections at a time: connect, handshake, "
         "1 byte echoed, close" % ("8" if smoke else "512"),
         ["handshake", "--conns", "8" if smoke else "512"] + s,
         TLS_PEERS, ["handshakes_s", "server_cpu_us_per_hs", "server_hs_capacity_s", "server_busy_pct"], "handshakes_s", True),
        ("tls_resume", "TLS 1.3 resumed handshakes (every connection offers the same session ticket)",
         ["handshake", "--resume", "--conns", "8" if smoke else "512"] + s,
         TLS_PEERS, ["handshakes_s", "server_cpu_us_per_hs", "server_hs_capacity_s", "server_busy_pct"], "handshakes_s", True),
        ("tls_echo4k", "TLS: 4 KiB messages, 4 in flight, %s connections" % conns,
         ["echo", "--conns", conns, "--size", "4096", "--inflight", "4"] + s,
         TLS_PEERS, ["msgs_s", "mb_s", "p50_us", "p99_us", "server_cpu_us_per_msg"], "mb_s", True),
        ("tls_idle", "idle TLS links: %s links from %s processes, each has echoed 4 KiB once; the server's "
         "RSS growth per link" % ("200" if smoke else "10 000", "2" if smoke else "4"),
         ["scale", "--procs", "2" if smoke else "4", "--sources", "4", "--window", "200", "--tls-echo", "4096",
          "--conns", "200" if smoke else "10000"],
         ["tcpserver-tls", "asio-ssl"], ["conns", "accept_s", "server_cpu_us_per_conn", "rss_before_kib",
                                         "rss_per_link_b"], "rss_per_link_b", False),
        ("tls_bcast", "broadcast of 1 KiB to %s TLS links (the plaintext PostBroadcast beside)" % (
            "50" if smoke else "1 000"),
         ["bcast", "--links", "50" if smoke else "1000"] + s,
         ["tcpserver-tls PostBroadcast", "tcpserver PostBroadcast"], ["deliveries_s", "mb_s", "server_us_per_bcast",
                                                                     "server_cpu_us_per_delivery"], "deliveries_s", True),
    ]


# With two CPUs or more the server runs on CPU 0 and the client on CPU 1 (taskset execs, so the
# pid stays the server's): every server then gets the same placement, whatever the scheduler
# would have chosen for a ping-pong pair.
PIN = {"server": [], "client": []}


def start(server, errfile):
    env = dict(os.environ)
    env.update(server.env)
    p = subprocess.Popen(PIN["server"] + server.argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=errfile,
                         env=env, cwd=REPO)
    deadline = time.time() + 20
    line = b""
    while time.time() < deadline and not line.endswith(b"\n"):
        r, _, _ = select.select([p.stdout], [], [], 0.5)
        if r:
            c = os.read(p.stdout.fileno(), 1)  # unbuffered: select() must see what is left
            if not c:
                break
            line += c
    if not line.startswith(b"PORT "):
        stop(server, p)
        raise RuntimeError("%s did not print 'PORT <n>' (got %r)" % (server.name, line))
    port = int(line.split()[1])
    p.front = None
    if server.front:
        try:
            p.front, port = server.front(port, errfile)
        except RuntimeError:
            stop(server, p)
            raise
    return p, port


def stop(server, p):
    front = getattr(p, "front", None)
    front_alive = True
    if front is not None:
        front_alive = front.poll() is None
        if front_alive:
            front.send_signal(signal.SIGTERM)
            try:
                front.wait(10)
            except subprocess.TimeoutExpired:
                front.kill()
                front.wait()
    alive = p.poll() is None and front_alive
    if server.sample and alive:
        try:
            p.stdin.write(b"quit\n")
            p.stdin.close()
        except BrokenPipeError:
            pass
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    elif alive:
        p.send_signal(signal.SIGTERM)
        p.wait(10)
    return alive


BACKENDS = {}  # server name -> the IO machinery seen in its process ("io_uring", "epoll", ...)


def backend_of(pid):
    """What the process's descriptors show: an io_uring ring, else an epoll instance."""
    kinds = set()
    try:
        for fd in os.listdir("/proc/%d/fd" % pid):
            try:
                kinds.add(os.readlink("/proc/%d/fd/%s" % (pid, fd)))
            except OSError:
                pass
    except OSError:
        return "?"
    if "anon_inode:[io_uring]" in kinds:
        return "io_uring"
    return "epoll" if "anon_inode:[eventpoll]" in kinds else "?"


def run_one(build, server, load_args, timeout):
    """Returns a dict of metrics; raises RuntimeError with the reason when anything fails."""
    with tempfile.TemporaryFile() as err:
        p, port = start(server, err)
        BACKENDS[server.name] = backend_of(p.pid)
        args = PIN["client"] + [os.path.join(build, "bin", "bench_load")] + load_args + server.client_args
        args += ["--port", str(port)]
        args += ["--server-pid", ("%d,%d" % (p.front.pid, p.pid)) if p.front else str(p.pid)]
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            stop(server, p)
            raise RuntimeError("bench_load %s against %s took longer than %d s" % (load_args[0], server.name, timeout))
        alive = stop(server, p)
        err.seek(0)
        server_err = err.read().decode(errors="replace").strip()
    if r.returncode != 0 or not alive:
        raise RuntimeError("%s, %s: %s%s%s" % (
            server.name, " ".join(load_args), r.stderr.strip(),
            "" if alive else " (the server had exited)", ("\nserver: " + server_err) if server_err else ""))
    line = [l for l in r.stdout.splitlines() if l.startswith("RESULT ")]
    if not line:
        raise RuntimeError("%s: bench_load printed no RESULT line" % server.name)
    return {k: float(v) for k, v in (kv.split("=") for kv in line[0].split()[1:])}


def fmt(v):
    if v >= 10000:
        return "{:,.0f}".format(v).replace(",", " ")
    if v >= 100:
        return "%.0f" % v
    return "%.1f" % v if v >= 10 else "%.2f" % v


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True).stdout.strip()
    except OSError:
        return "?"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-dir", default=os.path.join(REPO, "build", "bench"))
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=3)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--only", default="", help="comma-separated scenario keys (echo64,echo4k,open,samples,conn10k,scale,"
                                               "bcast,tls_hs,tls_resume,tls_echo4k,tls_idle,tls_bcast)")
    ap.add_argument("--servers", default="", help="comma-separated server names: only these (default: all)")
    ap.add_argument("--out", default="", help="write the report here (Markdown)")
    ap.add_argument("--note", default="", help="a line for the report (e.g. that the machine was shared)")
    ap.add_argument("--no-pin", action="store_true", help="let the scheduler place server and client")
    a = ap.parse_args()
    pinned = not a.no_pin and (os.cpu_count() or 1) >= 2 and os.path.exists("/usr/bin/taskset")
    if pinned:
        PIN["server"], PIN["client"] = ["/usr/bin/taskset", "-c", "0"], ["/usr/bin/taskset", "-c", "1"]
    build = os.path.abspath(a.build_dir)
    runs = 1 if a.smoke else a.runs
    scen = [s for s in scenarios(a.smoke, a.seconds) if not a.only or s[0] in a.only.split(",")]
    if any(s[0].startswith("tls_") for s in scen):
        make_certificate()
    table = servers(build)
    if not os.path.exists(os.path.join(build, "bin", "bench_load")):
        sys.exit("run.py: %s/bin/bench_load is missing: build first (bash bench/run.sh does)" % build)

    results = {}   # (scenario, server) -> [metrics dict]
    by_run = {}    # (scenario, server) -> {run: metrics dict}, to pair servers measured in one run
    skipped, failures = [], []
    load_avg_start = os.getloadavg()
    t0 = time.time()
    for run in range(runs):
        for key, title, load_args, names, _, _, _ in scen:
            names = [n for n in names if not a.servers or n in a.servers.split(",")]
            names = [n for n in names if table[n].available() or (skipped.append(n) and False)]
            k = run % max(1, len(names))
            for name in names[k:] + names[:k]:   # rotate the order from run to run
                try:
                    m = run_one(build, table[name], load_args, 120)
                    results.setdefault((key, name), []).append(m)
                    by_run.setdefault((key, name), {})[run] = m
                    if a.smoke:
                        print("ok   %-8s %-24s %s" % (key, name, " ".join("%s=%s" % (x, fmt(y)) for x, y in m.items())))
                except RuntimeError as e:
                    failures.append(str(e))
                    print("FAIL %-8s %-24s %s" % (key, name, e), file=sys.stderr)
        if not a.smoke:
            print("run %d of %d done (%.0f s)" % (run + 1, runs, time.time() - t0), file=sys.stderr)
    for n in sorted(set(skipped)):
        print("skipped (not built): %s" % n, file=sys.stderr)
    if a.smoke:
        if failures:
            sys.exit("bench smoke: %d failure(s)" % len(failures))
        print("bench smoke: every server and scenario works (%.0f s)" % (time.time() - t0))
        return

    med = {k: {m: statistics.median(r[m] for r in v) for m in v[0]} for k, v in results.items()}
    out = []
    out.append("# Benchmark results\n")
    command = os.environ.get("BENCH_COMMAND") or "python3 bench/run.py " + shlex.join(sys.argv[1:])
    out.append("Command: `%s`  " % command.strip())
    out.append("Date: %s UTC; commit %s  " % (datetime.datetime.utcnow().strftime("%Y-%m-%d %H:%M"),
                                              sh("git -C %s rev-parse --short HEAD" % REPO)))
    out.append("Machine: %s CPUs (`nproc`), %s, kernel %s; file-descriptor hard limit %s  " % (
        os.cpu_count(), sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip() or platform.machine(),
        platform.release(), sh("ulimit -Hn")))
    out.append("Load average at start %.2f, at end %.2f  " % (load_avg_start[0], os.getloadavg()[0]))
    out.append("Medians of %d interleaved runs of %.0f s each (after 0.5 s warm-up); every server one thread, "
               "TCP_NODELAY, 16 KiB reads; one bench_load client thread; every echoed byte verified; %s.\n" % (
                   runs, a.seconds, "server pinned to CPU 0, client to CPU 1" if pinned else "no CPU pinning"))
    out.append("IO machinery seen in each server process: %s.\n" % ", ".join(
        "%s %s" % (n, BACKENDS[n]) for n in sorted(BACKENDS)))
    if a.note:
        out.append("**%s**\n" % a.note)
    for key, title, load_args, names, metrics, main_metric, higher in scen:
        names = [n for n in names if (key, n) in med]
        if not names:
            continue
        out.append("## %s\n" % title)
        out.append("`bench_load %s`\n" % " ".join(load_args))
        head = ["server"] + metrics + ["%s vs %s" % (main_metric, n) for n in names]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for n in names:
            row = [n] + [fmt(med[(key, n)][m]) for m in metrics]
            for peer in names:
                mine, theirs = med[(key, n)][main_metric], med[(key, peer)][main_metric]
                ratio = (mine / theirs if higher else theirs / mine) if mine and theirs else 0
                row.append("%.2fx" % ratio)
            out.append("| " + " | ".join(row) + " |")
        out.append("")
    out += targets(med, by_run)
    out.append(NOTES)
    if failures:
        out.append("\n## Failures\n")
        out += ["- " + f.replace("\n", " ") for f in failures]
    text = "\n".join(out) + "\n"
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    if failures:
        sys.exit(1)


NOTES = """
## Reading the numbers

- `msgs_s`, `mb_s`: echoed messages (bytes) per second that came back complete and correct.
  `p50_us`, `p99_us`: round-trip latency (log buckets, about 3 % wide). In the open-loop table
  latency runs from the time each message was scheduled, so a server that stalls is charged
  for every message it delayed.
- `server_cpu_us_per_msg` (`_per_delivery`, `_per_conn`): the server process's user + system
  CPU time over the measured window, from `/proc/<pid>/stat` (10 ms ticks), per message. On a
  shared machine it moves less than throughput does.
- Connection scale: `accept_s` is connections opened, served (one byte echoed) and held, per
  second, from the first connect to the last echo, with the clients on the same machine; they
  need about as much CPU per connection as the server, so `server_accept_capacity_s`
  (1 / the server's CPU time per connection) tells what the server alone would sustain.
  `rss_per_conn_b` is the server's RSS growth per connection (VmRSS before and after, with every
  connection open); `rss_before_kib` includes what is allocated at start: for tcpserver the
  link table for `TS_OPT_MAX_LINKS` (here the descriptor limit).
- Broadcast: the client asks for one broadcast at a time and waits until every link has its
  1 KiB, so `deliveries_s` includes the client's reading; `server_us_per_bcast` is the time
  the server spent inside PostBroadcast or its send loop, and `server_cpu_us_per_delivery` its
  CPU time per delivered message.
- Targets: `measured` is the median over the runs of the ratio within each run (every run
  measures all servers back to back, in rotating order), then the lowest and highest of those
  ratios, then the ratio of the medians shown in the tables.
- 64-byte ping-pong keeps both CPUs busy, and ~90 % of each is the kernel's loopback TCP work
  (one recv and one send per message on each side, the same for every server): the servers'
  own code decides only the last few percent, about the size of the noise between runs.
- Binding samples: the conformance servers of `samples/` with `--workers 1 --buffer-size 16384
  --idle-ms 0`, echoing through each binding's idiomatic handler (C: `SendBuffer`).
"""


def paired(by_run, key, mine, peer, metric):
    """Ratios mine/peer of the runs that measured both, in run order."""
    a, b = by_run.get((key, mine), {}), by_run.get((key, peer), {})
    return [a[r][metric] / b[r][metric] for r in sorted(a) if r in b and b[r][metric]]


def targets(med, by_run):
    """The issue-7 targets, each with its measured ratio: the median of the ratios of the runs
    (each run measures both servers back to back, so the machine's drift between runs, which
    is larger than the differences measured, cancels), the spread of those ratios, and the
    ratio of the medians of the tables above."""
    def get(key, name, metric):
        return med.get((key, name), {}).get(metric)

    if all(key.startswith("tls_") for key, _ in med):  # --only with TLS scenarios alone
        return tls_targets(med, by_run)
    rows = []

    def ratio(label, goal, key, mine, peer, metric):
        a, b = get(key, mine, metric), get(key, peer, metric)
        if a is None or b is None or not b:
            rows.append((label, ">= %.2fx" % goal, "not measured", ""))
            return
        runs = paired(by_run, key, mine, peer, metric)
        r = statistics.median(runs) if runs else a / b
        shown = "%.2fx" % r
        if len(runs) > 1:
            shown += " (runs %.2f-%.2f; ratio of medians %.2fx)" % (min(runs), max(runs), a / b)
        rows.append((label, ">= %.2fx" % goal, shown, "met" if r >= goal else "MISSED"))
        # The same comparison in server CPU time per message (peer's / ours): on a shared
        # machine it varies less than throughput, which also depends on what else runs.
        cpu = "server_cpu_us_per_delivery" if key == "bcast" else "server_cpu_us_per_msg"
        ca, cb = get(key, mine, cpu), get(key, peer, cpu)
        if ca and cb:
            rows.append(("  same, in server CPU time per message", "", "%.2fx" % (cb / ca), "(informative)"))

    ratio("64 B ping-pong vs Boost.Asio (msgs/s)", 1.00, "echo64", "tcpserver", "asio", "msgs_s")
    ratio("64 B ping-pong vs raw epoll (msgs/s)", 0.95, "echo64", "tcpserver", "epoll", "msgs_s")
    ratio("4 KiB x 4 in flight vs raw epoll (MB/s)", 0.95, "echo4k", "tcpserver", "epoll", "mb_s")
    per = get("scale", "tcpserver", "rss_per_conn_b")
    acc = get("scale", "tcpserver", "accept_s")
    if per is not None:
        rows.append(("RSS per idle connection", "<= 1024 B", "%.0f B" % per, "met" if per <= 1024 else "MISSED"))
        rows.append(("  growth at 100 000 / 1 000 000 connections", "", "%.1f MiB / %.0f MiB" % (
            per * 1e5 / 2**20, per * 1e6 / 2**20), "projected; plus the link table, allocated at start "
            "(rss_before_kib; README)"))
    if acc is not None:
        rows.append(("accept rate", ">= 20 000/s", fmt(acc) + "/s", "met" if acc >= 20000 else "MISSED"))
        cap = get("scale", "tcpserver", "server_accept_capacity_s")
        if cap:
            rows.append(("  server's own capacity (1 / its CPU time per connection)", ">= 20 000/s", fmt(cap) + "/s",
                         "(informative: the clients share the machine)"))
    ratio("broadcast 1 KiB to 10 000 links vs raw send loop (deliveries/s)", 0.90, "bcast",
          "tcpserver PostBroadcast", "epoll send loop", "deliveries_s")
    a, b = get("bcast", "tcpserver PostBroadcast", "server_us_per_bcast"), get("bcast", "epoll send loop", "server_us_per_bcast")
    if a and b:
        rows.append(("  server time per broadcast: send loop / PostBroadcast", ">= 0.90x", "%.2fx" % (b / a),
                     "met" if b / a >= 0.9 else "MISSED"))
    ratio("Pascal sample vs C sample (msgs/s)", 0.95, "samples", "Pascal sample", "C sample", "msgs_s")
    ratio("C# sample vs C sample (msgs/s)", 0.80, "samples", "C# sample", "C sample", "msgs_s")
    p, c = get("samples", "Python sample", "msgs_s"), get("samples", "C sample", "msgs_s")
    if p and c:
        rows.append(("Python sample vs C sample (msgs/s)", "reported", "%.2fx" % (p / c), ""))
    out = ["## Targets (issue 7)\n", "| target | goal | measured | |", "|---|---|---|---|"]
    out += ["| %s | %s | %s | %s |" % r for r in rows]

    # Issue 18: the io_uring backend, in server CPU time per message (lower is better), against
    # the raw epoll loop and the liburing loop, each ratio the median of the runs' own ratios.
    rows = []

    def cpu(label, goal, key, mine, peer):
        metric = "server_cpu_us_per_msg"
        a, b = get(key, mine, metric), get(key, peer, metric)
        want = "<= %.2fx" % goal if goal else ""
        if a is None or b is None or not b:
            rows.append((label, want, "not measured", ""))
            return
        runs = paired(by_run, key, mine, peer, metric)
        r = statistics.median(runs) if runs else a / b
        shown = "%.2fx" % r
        if len(runs) > 1:
            shown += " (runs %.2f-%.2f; ratio of medians %.2fx)" % (min(runs), max(runs), a / b)
        rows.append((label, want, shown, ("met" if r <= goal else "MISSED") if goal else "(informative)"))

    ts = "tcpserver"  # TS_BACKEND_AUTO: io_uring here (the tables say which backend served)
    cpu("64 B ping-pong, 100 conns: %s server CPU/msg vs raw epoll" % ts, 0.85, "echo64", ts, "epoll")
    cpu("4 KiB x 4 in flight: %s server CPU/msg vs raw epoll" % ts, 0.90, "echo4k", ts, "epoll")
    ratio("4 KiB x 4 in flight: %s MB/s vs raw epoll" % ts, 1.00, "echo4k", ts, "epoll", "mb_s")
    cpu("10 000 conns, 64 B, 4 client processes: %s server CPU/msg vs raw epoll" % ts, 0.85, "conn10k",
        ts, "epoll")
    cpu("64 B ping-pong: %s server CPU/msg vs the liburing loop" % ts, 1.05, "echo64", ts, "io_uring")
    cpu("4 KiB x 4 in flight: %s server CPU/msg vs the liburing loop" % ts, 1.05, "echo4k", ts, "io_uring")
    for key, what in (("echo64", "64 B ping-pong"), ("echo4k", "4 KiB x 4"), ("conn10k", "10 000 conns")):
        cpu("%s: tcpserver-epoll server CPU/msg vs raw epoll" % what, None, key, "tcpserver-epoll", "epoll")
        cpu("%s: the liburing loop server CPU/msg vs raw epoll" % what, None, key, "io_uring", "epoll")
    out += ["", "## Targets (issue 18: io_uring)\n", "| target | goal | measured | |", "|---|---|---|---|"]
    out += ["| %s | %s | %s | %s |" % r for r in rows]
    out += tls_targets(med, by_run)
    return out


def tls_targets(med, by_run):
    """Issue 15 (TLS): each ratio the median of the runs' own ratios, as above, with the same
    comparison in server CPU time (peer's / ours) beside it."""
    def get(key, name, metric):
        return med.get((key, name), {}).get(metric)

    rows = []

    def ratio(label, goal, key, mine, peer, metric, cpu_metric):
        a, b = get(key, mine, metric), get(key, peer, metric)
        want = ">= %.2fx" % goal if goal else "reported"
        if a is None or b is None or not b:
            rows.append((label, want, "not measured", ""))
            return
        runs = paired(by_run, key, mine, peer, metric)
        r = statistics.median(runs) if runs else a / b
        shown = "%.2fx" % r
        if len(runs) > 1:
            shown += " (runs %.2f-%.2f; ratio of medians %.2fx)" % (min(runs), max(runs), a / b)
        rows.append((label, want, shown, ("met" if r >= goal else "MISSED") if goal else ""))
        ca, cb = get(key, mine, cpu_metric), get(key, peer, cpu_metric)
        if ca and cb:
            cruns = paired(by_run, key, peer, mine, cpu_metric)
            c = statistics.median(cruns) if cruns else cb / ca
            extra = " (runs %.2f-%.2f)" % (min(cruns), max(cruns)) if len(cruns) > 1 else ""
            rows.append(("  same, in server CPU time (peer's / ours)", "", "%.2fx%s" % (c, extra), "(informative)"))

    ts = "tcpserver-tls"
    ratio("full TLS 1.3 handshakes/s (ECDSA P-256) vs Asio SSL", 0.95, "tls_hs", ts, "asio-ssl", "handshakes_s",
          "server_cpu_us_per_hs")
    ratio("full TLS 1.3 handshakes/s vs haproxy + raw epoll", None, "tls_hs", ts, "haproxy+epoll", "handshakes_s",
          "server_cpu_us_per_hs")
    ratio("resumed handshakes/s (session ticket) vs Asio SSL", None, "tls_resume", ts, "asio-ssl", "handshakes_s",
          "server_cpu_us_per_hs")
    for key, what in (("tls_hs", "full"), ("tls_resume", "resumed")):
        v = get(key, ts, "handshakes_s")
        if v:
            rows.append(("  tcpserver %s handshakes/s" % what, "reported", fmt(v) + "/s", ""))
    ratio("TLS 4 KiB x 4 in flight, 100 conns, MB/s vs Asio SSL", 1.00, "tls_echo4k", ts, "asio-ssl", "mb_s",
          "server_cpu_us_per_msg")
    ratio("TLS 4 KiB x 4 in flight, 100 conns, MB/s vs haproxy + raw epoll", 1.30, "tls_echo4k", ts, "haproxy+epoll",
          "mb_s", "server_cpu_us_per_msg")
    per, asio = get("tls_idle", ts, "rss_per_link_b"), get("tls_idle", "asio-ssl", "rss_per_link_b")
    if per is not None:
        rows.append(("RSS per idle TLS link (each has echoed 4 KiB)", "<= 16 KiB", "%.0f B" % per,
                     "met" if per <= 16384 else "MISSED"))
    if asio is not None:
        rows.append(("  Asio SSL, the same", "reported", "%.0f B" % asio, ""))
    tb, pb = get("tls_bcast", "tcpserver-tls PostBroadcast", "deliveries_s"), get("tls_bcast", "tcpserver PostBroadcast",
                                                                                 "deliveries_s")
    if tb:
        rows.append(("broadcast 1 KiB to 1 000 TLS links (deliveries/s)", "reported", fmt(tb) + "/s",
                     ("plaintext: %s/s (%.2fx)" % (fmt(pb), tb / pb)) if pb else ""))
    if not rows:
        return []
    out = ["", "## Targets (issue 15: TLS)\n",
           "haproxy + raw epoll: haproxy 2.6 (Debian, one thread) terminating TLS in front of bench_epoll_server, "
           "both pinned to the server's CPU; its CPU time is the two processes' together.\n",
           "| target | goal | measured | |", "|---|---|---|---|"]
    out += ["| %s | %s | %s | %s |" % r for r in rows]
    return out


if __name__ == "__main__":
    main()
