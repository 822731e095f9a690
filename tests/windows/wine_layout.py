#!/usr/bin/env python3
"""Wine, started the ways this project starts it, runs with address-space randomization off.

    wine_layout.py --source <repo root> --cmake <cmake> --wine /usr/lib/wine/wine64

Why it matters: Debian's Wine 8 has no preloader, and with a randomized layout about 1 start in
1 400 fails with "failed to map the shared user data: c0000018" (scripts/windows/
fixed_layout.sh says why). The fix is `setarch -R`, whose ADDR_NO_RANDOMIZE (0x0040000 in
/proc/<pid>/personality) every program it starts inherits. Checks:
  1. the emulator of cmake/mingw-w64-x86_64.cmake (the command CTest and gtest_discover_tests
     put in front of every test program of the cross build, read by evaluating the toolchain
     file with `cmake -P`) starts a real Wine process (cmd /c exit, in a throw-away prefix)
     with ADDR_NO_RANDOMIZE, read from outside through /proc/<pid>/personality: from inside,
     Wine would open /proc/self through the wineserver, which opens files for its clients;
  2. scripts/windows/test.sh and pascal.sh start their programs (Wine among them) with it: each
     runs with stand-ins, first on PATH, for the first program it starts (cmake; ppcx64) that
     record their personality and fail, so the script stops within a second.
Every program here starts with ADDR_NO_RANDOMIZE cleared, so the checks hold when this test
itself runs under setarch -R. Prints one line per check and "N passed, M failed"; exits 1 if
anything failed. Standard library only.
"""
import argparse
import ctypes
import os
import subprocess
import sys
import tempfile
import time

ADDR_NO_RANDOMIZE = 0x0040000
results = []


def check(name, ok, detail=""):
    results.append(ok)
    print(f"[{'PASS' if ok else 'FAIL'}] {name}{'' if ok else ' -- ' + detail}", flush=True)


def randomized_start():
    """preexec_fn: the child starts as a plain login shell's would, randomization on."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.personality.restype = ctypes.c_int
    current = libc.personality(0xFFFFFFFF)  # 0xffffffff: read, change nothing
    libc.personality(current & ~ADDR_NO_RANDOMIZE)


def clean_env(**extra):
    env = {k: v for k, v in os.environ.items() if k != "TS_WINE_FIXED_LAYOUT"}
    env.update(extra)
    return env


def toolchain_emulator(source, cmake, work):
    """CMAKE_CROSSCOMPILING_EMULATOR as the x86_64 toolchain file sets it (a list)."""
    script = os.path.join(work, "emulator.cmake")
    out = os.path.join(work, "emulator.txt")
    with open(script, "w") as f:
        f.write(f'include("{source}/cmake/mingw-w64-x86_64.cmake")\n'
                f'file(WRITE "{out}" "${{CMAKE_CROSSCOMPILING_EMULATOR}}")\n')
    # -P: CMAKE_BINARY_DIR is the working folder, so the emulator's prefix lands in `work`.
    subprocess.run([cmake, "-P", script], cwd=work, check=True, timeout=60)
    with open(out) as f:
        text = f.read()
    return text.split(";") if text else []


def wine_personality(command, wine, env, deadline_s):
    """Starts command, waits until its process is the Wine loader (env and setarch exec into
    it, same pid), returns (its personality or None, exit status or None, detail)."""
    target = os.path.realpath(wine)
    proc = subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            preexec_fn=randomized_start)
    personality = None
    deadline = time.monotonic() + deadline_s
    try:
        while personality is None and time.monotonic() < deadline and proc.poll() is None:
            try:
                if os.readlink(f"/proc/{proc.pid}/exe") == target:
                    with open(f"/proc/{proc.pid}/personality") as f:
                        personality = int(f.read(), 16)
            except OSError:
                pass  # between two execs, or already gone
            time.sleep(0.002)
        _, err = proc.communicate(timeout=max(1, deadline - time.monotonic()))
        return personality, proc.returncode, err.decode(errors="replace").strip()[-300:]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        return personality, None, f"no exit within {deadline_s} s"


def check_emulator(args, work):
    emulator = toolchain_emulator(args.source, args.cmake, work)
    name = "the toolchain file's emulator starts Wine with ADDR_NO_RANDOMIZE"
    if os.path.realpath(args.wine) not in map(os.path.realpath, filter(os.path.isabs, emulator)):
        return check(name, False, f"{args.wine} is not in the emulator {emulator}")
    server = os.path.join(os.path.dirname(args.wine), "wineserver64")
    env = clean_env()
    try:
        personality, code, err = wine_personality(emulator + ["cmd", "/c", "exit"], args.wine,
                                                  env, 120)
    finally:  # the prefix's wineserver and services, started by that process
        subprocess.run([server, "-k"], env=dict(env, WINEPREFIX=os.path.join(work, "wineprefix")),
                       stderr=subprocess.DEVNULL, timeout=30)
    print(f"  emulator: {' '.join(emulator)}; Wine's personality: "
          f"{'not seen' if personality is None else format(personality, '08x')}", flush=True)
    check(name, personality is not None and personality & ADDR_NO_RANDOMIZE,
          "Wine ran with address randomization on: setarch -R missing in front of it"
          if personality is not None else f"never saw {args.wine} run (exit {code}: {err})")
    check("a program run through that emulator exits with status 0", code == 0,
          f"exit {code}: {err}")


STAND_IN = """#!/bin/sh
# Stand-in written by tests/windows/wine_layout.py: records what its caller starts with, fails.
echo "$(basename "$0") $(cat /proc/self/personality)" >> "$TS_LAYOUT_LOG"
exit 1
"""


def check_script(args, work, script, script_args, stand_in, why_not=None):
    name = f"scripts/windows/{script} starts its programs with ADDR_NO_RANDOMIZE"
    if why_not:
        print(f"[SKIP] {name} ({why_not})", flush=True)
        return
    folder = os.path.join(work, script)
    bin_dir = os.path.join(folder, "bin")
    os.makedirs(bin_dir)
    with open(os.path.join(bin_dir, stand_in), "w") as f:
        f.write(STAND_IN)
    os.chmod(os.path.join(bin_dir, stand_in), 0o755)
    log = os.path.join(folder, "started.log")
    env = clean_env(PATH=bin_dir + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
                    TS_LAYOUT_LOG=log,
                    TCPSERVER_CACHE=os.path.join(folder, "cache"),  # no real cache is touched
                    TCPSERVER_WIN64_BUILD=os.path.join(folder, "win64"),
                    TCPSERVER_WIN32_BUILD=os.path.join(folder, "win32"))
    try:
        run = subprocess.run(["bash", os.path.join(args.source, "scripts/windows", script)]
                             + script_args, env=env, stdin=subprocess.DEVNULL,
                             capture_output=True, text=True, timeout=120,
                             preexec_fn=randomized_start)
        output = (run.stdout + run.stderr).strip()[-400:]
    except subprocess.TimeoutExpired:
        output = "did not stop within 120 s"
    started = open(log).read().split("\n") if os.path.exists(log) else []
    started = [line.split() for line in started if line]
    print(f"  {script} started: {started or 'nothing'}", flush=True)
    if not started:
        return check(name, False, f"{stand_in} was never started; its output: {output}")
    bad = [who for who, personality in started if not int(personality, 16) & ADDR_NO_RANDOMIZE]
    check(name, not bad, f"{', '.join(bad)} started with address randomization on: the script "
                         "does not run under setarch -R (scripts/windows/fixed_layout.sh)")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", required=True, help="the repository's root")
    ap.add_argument("--cmake", default="cmake")
    ap.add_argument("--wine", default="/usr/lib/wine/wine64")
    args = ap.parse_args()
    args.source = os.path.abspath(args.source)
    with tempfile.TemporaryDirectory(prefix="wine_layout.") as work:
        check_emulator(args, work)
        check_script(args, work, "test.sh", ["--exports-only"], "cmake")
        # pascal.sh: the harness folder only has to hold a tsharness*.so; it stops at ppcx64,
        # whose RTL build (scripts/windows/fpc_win64_rtl.sh) first needs Debian's fpc-source.
        harness = os.path.join(work, "harness")
        os.makedirs(harness)
        open(os.path.join(harness, "tsharness.stand-in.so"), "w").close()
        fpc_source = "/usr/share/fpcsrc/3.2.2/rtl/win64/system.pp"
        check_script(args, work, "pascal.sh", ["--harness", harness], "ppcx64",
                     None if os.path.exists(fpc_source) else
                     f"no {fpc_source}: pascal.sh stops before it starts anything")
    failed = results.count(False)
    print(f"{len(results) - failed} passed, {failed} failed", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
