"""ctypes layer of tcpcluster.h: finds and loads the cluster library (libtcpcluster.so) the first
time a node needs it, and binds every export.

The declarations (constants, callback types, export prototypes, option bounds) are generated
from cluster/include/tcpcluster.h into tcpserver._cluster_abi by tools/abi/abi.py; this module
only locates the library, checks that it runs on the very engine this binding loaded, and binds
EXPORTS. The library exists on Linux only (it is built where hiredis is found): elsewhere, or
when it was not built, library() raises ClusterLibraryNotFoundError saying so. tcpserver.cluster
is the Pythonic API. Any thread (the first load is serialized).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import List, Optional

from . import _native
from ._cluster_abi import EXPORTS, TCPCLUSTER_VERSION_MAJOR

_FILE_NAME = "libtcpcluster.so"
_WHY_MISSING = (
    "the cluster library exists on Linux only: it is built with tcpserver where hiredis is "
    "found (Debian: libhiredis-dev); there is no Windows build (Debian ships no hiredis for "
    "mingw)")


class ClusterLibraryNotFoundError(_native.LibraryNotFoundError):
    """The cluster library (libtcpcluster.so) cannot be loaded, or does not fit this binding."""


def _candidates() -> List[str]:
    """$TCPCLUSTER_LIBRARY alone when set; else beside the engine this binding loaded (a build
    or an installation puts both in one folder), beside the package, then by name."""
    env = os.environ.get("TCPCLUSTER_LIBRARY")
    if env:
        return [env]
    engine_dir = Path(_native.lib._name).resolve().parent if os.path.dirname(
        _native.lib._name) else None
    package_dir = Path(__file__).resolve().parent
    found = [str(d / _FILE_NAME) for d in (engine_dir, package_dir, package_dir.parent) if d]
    by_search = ctypes.util.find_library("tcpcluster")
    if by_search:
        found.append(by_search)
    found += [_FILE_NAME + ".1", _FILE_NAME]  # the loader's own search (LD_LIBRARY_PATH, ...)
    return found


def _address(function: object) -> Optional[int]:
    return ctypes.cast(function, ctypes.c_void_p).value


def _load() -> ctypes.CDLL:
    if sys.platform == "win32":
        raise ClusterLibraryNotFoundError(f"tcpserver.cluster is not available on Windows: "
                                          f"{_WHY_MISSING}")
    tried: List[str] = []
    for candidate in _candidates():
        if os.path.dirname(candidate) and not os.path.exists(candidate):
            tried.append(f"{candidate}: no such file")
            continue
        try:
            lib = ctypes.CDLL(candidate)
        except OSError as error:
            tried.append(f"{candidate}: {error}")
            continue
        # Its libtcpserver must be the one the binding drives: a node is made for a server
        # handle of that engine. dlsym on the cluster library's handle finds the engine's
        # exports through its dependencies.
        if _address(lib.GetVersion) != _address(_native.lib.GetVersion):
            raise ClusterLibraryNotFoundError(
                f"{candidate} is linked against another libtcpserver than the one this binding "
                f"loaded ({_native.lib._name}): set TCPSERVER_LIBRARY and TCPCLUSTER_LIBRARY to "
                "the libraries of one build")
        return lib
    raise ClusterLibraryNotFoundError(
        f"cannot load the tcpserver cluster library ({_FILE_NAME}); {_WHY_MISSING}. Set "
        "TCPCLUSTER_LIBRARY to its full path, or put it beside libtcpserver. Tried:\n  "
        + "\n  ".join(tried))


_lock = threading.Lock()
_bound: Optional[SimpleNamespace] = None


def library() -> SimpleNamespace:
    """Every export of tcpcluster.h, bound (e.g. library().TcpClusterCreate). Loads the library
    on the first call; raises ClusterLibraryNotFoundError when it cannot."""
    global _bound
    with _lock:
        if _bound is None:
            lib = _load()
            bound = SimpleNamespace(path=lib._name)
            for name, restype, argtypes, _since in EXPORTS:
                try:
                    function = getattr(lib, name)
                except AttributeError:
                    raise ClusterLibraryNotFoundError(
                        f"{lib._name} has no export {name}: it is not the cluster library of "
                        "this version (rebuild it, or update the binding)") from None
                function.restype = restype
                function.argtypes = argtypes
                setattr(bound, name, function)
            version = bound.TcpClusterGetVersion()
            if version // 10000 != TCPCLUSTER_VERSION_MAJOR:
                raise ClusterLibraryNotFoundError(
                    f"{lib._name} is version {version // 10000}.{version // 100 % 100}."
                    f"{version % 100}; this binding needs {TCPCLUSTER_VERSION_MAJOR}.x")
            _bound = bound
        return _bound
