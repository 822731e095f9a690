#!/usr/bin/env python3
"""Acceptance of the SDK zips (CTest packaging_sdk_zips), made by `--target packages`.

    check_sdk_zips.py --packages <build>/packages --source <repo> --work <scratch dir>
                      [--windows]   (the Windows zip must be there too)

packaging/SDK-README.md lists what each zip holds, one glob pattern per line in the fenced
blocks "text sdk-linux" and "text sdk-windows". For each zip: every pattern matches a file and
every file matches a pattern (nothing missing, nothing undocumented), everything sits under one
top folder named like the zip, and the README.md inside is SDK-README.md. Then it is used:
  Linux    unpacked elsewhere, tests/packaging/consumer/echo_check.c builds through the zip's
           (relocatable) tcpserver.pc and through its CMake package, and both programs serve an
           echo from the zip's library;
  Windows  the DLLs are PE files of the right machine, x64/lib/tcpserver.def lists exactly
           dll/tcpserver.def's names and x86/lib/tcpserver.def the same names decorated for
           __stdcall (name@bytes), and a C++ program using tcpserver.h and tcpserver.hpp links
           against each architecture's import library with the mingw-w64 compilers.
Prints one line per check and "N passed, M failed"; exits 1 if anything failed.
"""
import argparse
import fnmatch
import os
import re
import shutil
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

results = []


def check(name, ok, detail=""):
    results.append(bool(ok))
    print(f"{'PASS' if ok else 'FAIL'}: {name}" + ("" if ok else f"\n    {detail}"), flush=True)
    return ok


def run(argv, **kwargs):
    """(ok, output) of a command with a deadline."""
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              timeout=300, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, str(error)
    return done.returncode == 0, done.stdout


def readme_patterns(readme, block):
    """The first word of each line of the ```text <block> fence."""
    match = re.search(rf"^```text {re.escape(block)}\n(.*?)^```", readme, re.S | re.M)
    if not match:
        raise SystemExit(f"SDK-README.md has no ```text {block} block")
    return [line.split()[0] for line in match.group(1).splitlines() if line.strip()]


def zip_files(path):
    """(top folder, [file paths below it]) of a zip; directories are left out."""
    with zipfile.ZipFile(path) as archive:
        names = [n for n in archive.namelist() if not n.endswith("/")]
    tops = {n.split("/", 1)[0] for n in names}
    return tops, [n.split("/", 1)[1] for n in names if "/" in n]


def check_listing(label, path, patterns, readme_text):
    tops, files = zip_files(path)
    stem = path.name[: -len(".zip")]
    check(f"{label}: one top folder named {stem}", tops == {stem}, f"top-level entries: {sorted(tops)}")
    missing = [p for p in patterns if not any(fnmatch.fnmatchcase(f, p) for f in files)]
    check(f"{label}: every file SDK-README.md lists is there", not missing, f"missing: {missing}")
    extra = [f for f in files if not any(fnmatch.fnmatchcase(f, p) for p in patterns)]
    check(f"{label}: every file is listed in SDK-README.md", not extra, f"not listed: {extra}")
    with zipfile.ZipFile(path) as archive:
        inside = archive.read(f"{stem}/README.md").decode() if f"{stem}/README.md" in archive.namelist() else ""
    check(f"{label}: its README.md is packaging/SDK-README.md", inside == readme_text)
    return stem


def unpack(path, into):
    """cmake -E tar keeps the zip's symbolic links (libtcpserver.so -> .so.1), zipfile would not."""
    if into.exists():
        shutil.rmtree(into)
    into.mkdir(parents=True)
    ok, out = run(["cmake", "-E", "tar", "xf", str(path.resolve())], cwd=into)
    if not ok:
        raise SystemExit(f"cannot unpack {path}: {out}")


def serves_echo(program, libdir):
    ok, out = run([str(program)], env=dict(os.environ, LD_LIBRARY_PATH=""))
    if not ok or not re.search(r"^echo ok tcpserver ", out, re.M):
        return False, out
    ok, ldd = run(["ldd", str(program)])
    line = next((l for l in ldd.splitlines() if "libtcpserver.so" in l), "")
    return f"=> {libdir}/" in line, f"{out}\nloads: {line.strip()}"


def check_linux(args, zip_path, readme_text, patterns):
    stem = check_listing("Linux zip", zip_path, patterns, readme_text)
    unpacked = args.work / "linux"
    unpack(zip_path, unpacked)
    sdk = unpacked / stem
    consumer = args.source / "tests/packaging/consumer"
    env = dict(os.environ, PKG_CONFIG_PATH=str(sdk / "lib/pkgconfig"))
    ok, flags = run(["pkg-config", "--cflags", "--libs", "tcpserver"], env=env)
    check("Linux zip: pkg-config reads its relocated tcpserver.pc", ok and str(sdk) in flags, flags)
    program = args.work / "pc_echo_check"
    ok, out = run(["cc", "-o", str(program), str(consumer / "echo_check.c"), *flags.split(),
                   f"-Wl,-rpath,{sdk / 'lib'}"])
    if check("Linux zip: cc $(pkg-config ...) builds the C program", ok, out):
        ok, out = serves_echo(program, sdk / "lib")
        check("Linux zip: that program serves an echo from the zip's library", ok, out)
    build = args.work / "cmake_consumer"
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    ok, out = run(["cmake", "-S", str(consumer), "-B", str(build), *generator,
                   f"-DCMAKE_PREFIX_PATH={sdk}"])
    if ok:
        ok, out = run(["cmake", "--build", str(build)])
    if check("Linux zip: find_package(tcpserver) from the unpacked zip builds the consumer", ok, out):
        ok, out = serves_echo(build / "echo_check", sdk / "lib")
        check("Linux zip: the CMake-built program serves an echo from the zip's library", ok, out)


def pe_machine(data):
    """The COFF machine field of a PE file (0x8664 x64, 0x14c x86), or None."""
    if data[:2] != b"MZ":
        return None
    offset = struct.unpack_from("<I", data, 0x3C)[0]
    if data[offset:offset + 4] != b"PE\0\0":
        return None
    return struct.unpack_from("<H", data, offset + 4)[0]


def def_names(text):
    """Export names of a .def file (the lines after EXPORTS, comments left out)."""
    names, exports = [], False
    for line in text.splitlines():
        line = line.split(";", 1)[0].strip()
        if line == "EXPORTS":
            exports = True
        elif exports and line:
            names.append(line.split()[0])
    return names


def check_windows(args, zip_path, readme_text, patterns):
    stem = check_listing("Windows zip", zip_path, patterns, readme_text)
    unpacked = args.work / "windows"
    unpack(zip_path, unpacked)
    sdk = unpacked / stem
    wanted = def_names((args.source / "dll/tcpserver.def").read_text())
    for arch, machine, triple in (("x64", 0x8664, "x86_64"), ("x86", 0x14C, "i686")):
        dll = sdk / arch / "bin/tcpserver.dll"
        got = pe_machine(dll.read_bytes()) if dll.exists() else None
        check(f"Windows zip: {arch}/bin/tcpserver.dll is a PE file for machine {machine:#x}",
              got == machine, f"machine {got!r}")
        names = def_names((sdk / arch / "lib/tcpserver.def").read_text())
        if arch == "x64":
            check("Windows zip: x64/lib/tcpserver.def lists dll/tcpserver.def's names",
                  names == wanted, f"differ: {sorted(set(names) ^ set(wanted))}")
        else:
            bad = [n for n in names if not re.fullmatch(r"\w+@\d+", n)]
            base = [n.split("@")[0] for n in names]
            check("Windows zip: x86/lib/tcpserver.def lists the same names, decorated (name@bytes)",
                  not bad and base == wanted, f"undecorated: {bad[:5]}; differ: {sorted(set(base) ^ set(wanted))}")
        compiler = shutil.which(f"{triple}-w64-mingw32-g++-posix")
        if not compiler:
            check(f"Windows zip: {triple}-w64-mingw32-g++-posix for the {arch} link check", False,
                  f"install g++-mingw-w64-{triple.replace('_', '-')}-posix")
            continue
        out_exe = args.work / f"link_check_{arch}.exe"
        ok, out = run([compiler, "-std=c++17", "-o", str(out_exe),
                       str(args.source / "tests/packaging/consumer/win_link_check.cpp"),
                       f"-I{sdk / arch / 'include'}", str(sdk / arch / "lib/libtcpserver.dll.a"),
                       "-static"])
        check(f"Windows zip: a C++ program links against {arch}'s import library (tcpserver.hpp)",
              ok, out)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--packages", type=Path, required=True)
    parser.add_argument("--source", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--windows", action="store_true", help="require the Windows zip")
    args = parser.parse_args()
    args.work = args.work.resolve()
    if args.work.exists():
        shutil.rmtree(args.work)
    args.work.mkdir(parents=True)
    readme_text = (args.source / "packaging/SDK-README.md").read_text()

    linux = sorted(args.packages.glob("tcpserver-*-linux-*-sdk.zip"))
    if check("the Linux SDK zip is in the packages folder", len(linux) == 1, f"found {linux}"):
        check_linux(args, linux[0], readme_text, readme_patterns(readme_text, "sdk-linux"))
    windows = sorted(args.packages.glob("tcpserver-*-windows-sdk.zip"))
    if args.windows or windows:
        if check("the Windows SDK zip is in the packages folder", len(windows) == 1, f"found {windows}"):
            check_windows(args, windows[0], readme_text, readme_patterns(readme_text, "sdk-windows"))

    print(f"{sum(results)} passed, {len(results) - sum(results)} failed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
