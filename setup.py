"""The build step of the `tcpserver` wheel (pyproject.toml has the metadata).

What it adds to a plain setuptools build:
  - the version, read from dll/include/tcpserver.h (TCPSERVER_VERSION_*), the one place it
    is written (CMake checks its own against it);
  - the engine's shared library inside the package (tcpserver/libtcpserver.so, or
    tcpserver.dll on Windows), where tcpserver._native finds it with no environment variable:
    TCPSERVER_WHEEL_LIBRARY=<file> names one already built (the `packages` target does this);
    otherwise CMake builds the library alone (Release, no tests, samples or bindings) in
    <build base>/cmake;
  - a platform wheel tag: py3-none-<platform> (ctypes, so any Python 3.8+, but one OS and
    architecture). On Linux the tag is the plain linux_<arch>: the library needs the glibc and
    libstdc++ of the system it was built on (no manylinux toolchain here);
  - setuptools' scratch folders under build/python (TCPSERVER_WHEEL_BUILD_DIR overrides), not
    in the clone's source folders.

Offline, as the project builds it: pip wheel --no-build-isolation --no-index --no-deps -w DIR .
(setuptools and wheel from the distribution). Windows wheels are not built or tested here.
"""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

from setuptools import Distribution, setup
from setuptools.command.build_py import build_py

try:
    from wheel.bdist_wheel import bdist_wheel
except ImportError:  # without the wheel package: setuptools can still install from source
    bdist_wheel = None

ROOT = Path(__file__).resolve().parent
HEADER = ROOT / "dll" / "include" / "tcpserver.h"
LIBRARY_NAME = "tcpserver.dll" if sys.platform == "win32" else "libtcpserver.so"
BUILD_BASE = Path(os.environ.get("TCPSERVER_WHEEL_BUILD_DIR") or ROOT / "build" / "python")


def header_version() -> str:
    text = HEADER.read_text(encoding="utf-8")
    parts = [re.search(rf"#define TCPSERVER_VERSION_{part}\s+(\d+)", text)
             for part in ("MAJOR", "MINOR", "PATCH")]
    if not all(parts):
        raise RuntimeError(f"{HEADER}: no TCPSERVER_VERSION_MAJOR/MINOR/PATCH defines")
    return ".".join(match.group(1) for match in parts)


def run(*command: str) -> None:
    print("tcpserver wheel:", " ".join(command), flush=True)
    subprocess.run(command, check=True)


def built_library() -> Path:
    """The library to put in the wheel: TCPSERVER_WHEEL_LIBRARY, or a CMake build of it."""
    given = os.environ.get("TCPSERVER_WHEEL_LIBRARY")
    if given:
        path = Path(given)
        if not path.is_file():
            raise RuntimeError(f"TCPSERVER_WHEEL_LIBRARY={given}: no such file")
        return path
    cmake = shutil.which("cmake")
    if not cmake:
        raise RuntimeError("building the tcpserver wheel needs CMake 3.20+ and a C++17 compiler "
                           "(or TCPSERVER_WHEEL_LIBRARY=<a built libtcpserver>)")
    build = BUILD_BASE / "cmake"
    run(cmake, "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
        "-DTCPSERVER_BUILD_TESTS=OFF", "-DTCPSERVER_BUILD_SAMPLES=OFF",
        "-DTCPSERVER_BUILD_BINDINGS=OFF", "-DTCPSERVER_BUILD_BENCH=OFF",
        "-DTCPSERVER_INSTALL=OFF")
    run(cmake, "--build", str(build), "--config", "Release", "--target", "tcpserver")
    for candidate in (build / "bin" / LIBRARY_NAME, build / "bin" / "Release" / LIBRARY_NAME):
        if candidate.is_file():
            return candidate
    raise RuntimeError(f"the CMake build in {build} left no {LIBRARY_NAME} in its bin folder")


class BuildPyWithLibrary(build_py):
    """build_py, then the shared library into the package (symbolic links followed)."""

    def run(self) -> None:
        super().run()
        target = Path(self.build_lib) / "tcpserver" / LIBRARY_NAME
        shutil.copyfile(built_library().resolve(), target)
        strip = shutil.which("strip")
        if strip and sys.platform.startswith("linux"):
            run(strip, "--strip-unneeded", str(target))  # the build folder keeps the symbols


class NativeDistribution(Distribution):
    """A distribution with native code (the library): the package goes to platlib, the wheel's
    root is not pure."""

    def has_ext_modules(self) -> bool:
        return True


commands = {"build_py": BuildPyWithLibrary}
if bdist_wheel is not None:
    class PlatformWheel(bdist_wheel):
        """A wheel for one platform (it holds a native library) and any Python 3."""

        def get_tag(self):  # type: ignore[no-untyped-def]
            _python, _abi, platform = super().get_tag()
            return "py3", "none", platform

    commands["bdist_wheel"] = PlatformWheel

setup(
    version=header_version(),
    cmdclass=commands,
    distclass=NativeDistribution,
    options={"build": {"build_base": str(BUILD_BASE)},
             "egg_info": {"egg_base": str(BUILD_BASE)}},
)
