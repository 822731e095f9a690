"""ctypes layer of tcpserver.h: loads the library (lazily), binds every export, checks the record
layout.

The declarations themselves (constants and their enums, records, callback types, export
prototypes) are generated from the header into tcpserver._abi by tools/abi/abi.py; this module
re-exports all of them, so `_native.TS_OPT_MAX_LINKS`, `_native.TcpLink`, `_native.PostSend`, ...
are the header's names, one for one. It does nothing else but locate the library and check its
record layout. The Pythonic API lives in server.py.

The library is loaded at the first use of an export (or of `lib`), not at import: `import
tcpserver` works without it (documentation tools, type checkers, a machine that only reads the
enums), and the first call that needs it raises LibraryNotFoundError naming every place tried.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading
from ctypes import c_void_p
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ._abi import *  # noqa: F401,F403 (the header's names, generated)
from ._abi import EXPORTS, FUNCTYPE, LAYOUTS, TCPSERVER_VERSION_MAJOR, TcpLink, TcpWorker

# ------------------------------------------------------------------------------------------
# Locating the library
# ------------------------------------------------------------------------------------------

_LIBRARY_NAMES = {"win32": "tcpserver.dll", "darwin": "libtcpserver.dylib"}


class LibraryNotFoundError(OSError):
    """The tcpserver shared library could not be loaded from any of the usual places."""


def _candidates() -> List[str]:
    """Where to look: $TCPSERVER_LIBRARY alone when it is set (an explicit choice must not
    silently fall back to another copy), else next to the package, then by name."""
    env = os.environ.get("TCPSERVER_LIBRARY")
    if env:
        return [env]
    file_name = _LIBRARY_NAMES.get(sys.platform, "libtcpserver.so")
    package_dir = Path(__file__).resolve().parent
    found = [str(package_dir / file_name), str(package_dir.parent / file_name)]
    by_search = ctypes.util.find_library("tcpserver")
    if by_search:
        found.append(by_search)
    found.append(file_name)  # the loader's own search (LD_LIBRARY_PATH, PATH, ...)
    return found


def _load_library() -> ctypes.CDLL:
    loader = ctypes.WinDLL if FUNCTYPE is not ctypes.CFUNCTYPE else ctypes.CDLL
    tried: List[str] = []
    for candidate in _candidates():
        # A missing path is only noted; a bare name goes to the loader's own search.
        if os.path.dirname(candidate) and not os.path.exists(candidate):
            tried.append(f"{candidate}: no such file")
            continue
        try:
            return loader(candidate)
        except OSError as error:
            tried.append(f"{candidate}: {error}")
    raise LibraryNotFoundError(
        "cannot load the tcpserver library; set TCPSERVER_LIBRARY to its full path, or put "
        "it next to the tcpserver package (or on the loader's path). Tried:\n  "
        + "\n  ".join(tried))


# ------------------------------------------------------------------------------------------
# Exports (tcpserver._abi.EXPORTS, in header order). Those added after API 1.0 are optional: a
# library that lacks them still loads (the rest works), and calling one raises
# MissingExportError naming the API it needs.
# ------------------------------------------------------------------------------------------


class MissingExportError(LibraryNotFoundError):
    """The loaded library predates the function called (it lacks that export)."""


def _missing(name: str, api: str) -> Callable[..., Any]:
    def call(*_args: Any) -> Any:
        library = load()
        version = globals()["GetVersionText"]().decode("ascii", "replace")
        raise MissingExportError(
            f"{library._name} ({version}) has no "
            f"export {name}, which needs tcpserver API {api}: update the library")
    call.__name__ = name
    return call


missing_exports: List[str] = []  # API 1.1+ names the loaded library lacks (empty when current)


def _bind(library: ctypes.CDLL, name: str, restype: Any, argtypes: List[Any],
          since: str = "") -> None:
    """Bind one export; `since` names the API minor that added an optional one ("" = 1.0,
    required)."""
    try:
        function = getattr(library, name)
    except AttributeError:
        if not since:
            raise LibraryNotFoundError(
                f"{library._name} has no export {name}: it is not a tcpserver library, or too old"
            ) from None
        missing_exports.append(name)
        globals()[name] = _missing(name, since)
        return
    function.restype = restype
    function.argtypes = argtypes
    globals()[name] = function


_EXPORT_NAMES = frozenset(entry[0] for entry in EXPORTS)
_load_lock = threading.Lock()
_loaded: Optional[ctypes.CDLL] = None


def load() -> ctypes.CDLL:
    """Load the library and bind every export, once (the first use of an export does it)."""
    global _loaded
    if _loaded is None:
        with _load_lock:
            if _loaded is None:
                library = _load_library()
                missing_exports.clear()  # an earlier attempt may have failed half way
                for name, restype, argtypes, since in EXPORTS:
                    _bind(library, name, restype, argtypes, "" if since == "1.0" else since)
                globals()["lib"] = library
                _loaded = library  # last: the exports are bound once a thread sees it
    return _loaded


def __getattr__(name: str) -> Any:
    """The module's names not bound yet: `lib` and the exports load the library first."""
    if name == "lib" or name in _EXPORT_NAMES:
        load()
        return globals()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# ------------------------------------------------------------------------------------------
# Layout check
# ------------------------------------------------------------------------------------------


def parse_layout(text: str) -> Dict[str, int]:
    """GetAbiLayout() text ("name=value;...") as a dict."""
    pairs = (item.split("=", 1) for item in text.split(";") if "=" in item)
    return {name.strip(): int(value) for name, value in pairs}


def header_layout() -> Dict[str, int]:
    """The sizes and offsets tcpserver.h gives the records for this process's pointer size."""
    return dict(LAYOUTS[ctypes.sizeof(c_void_p)])


def expected_layout() -> Dict[str, int]:
    """The sizes and offsets of the records as this module declares them."""
    expected = {"ptr": ctypes.sizeof(c_void_p)}
    for record in (TcpLink, TcpWorker):
        prefix = record.__name__
        expected[f"{prefix}.size"] = ctypes.sizeof(record)
        for field, *_ in record._fields_:
            expected[f"{prefix}.{field}"] = getattr(record, field).offset
    return expected


def layout_mismatches(layout_text: str, version: int) -> List[str]:
    """Every difference between the library's records and ours; empty when they agree.

    Only fields the library reports are compared (it may name fewer than we declare)."""
    problems = []
    if version // 10000 != TCPSERVER_VERSION_MAJOR:
        problems.append(f"library version {version // 10000}.{version // 100 % 100}."
                        f"{version % 100} has major {version // 10000}, this binding expects "
                        f"{TCPSERVER_VERSION_MAJOR}")
    reported = parse_layout(layout_text)
    ours = expected_layout()
    for key, value in reported.items():
        if key in ours and ours[key] != value:
            problems.append(f"{key}: library {value}, binding {ours[key]}")
    missing = [key for key in ("ptr", "TcpLink.size", "TcpLink.Id", "TcpWorker.size")
               if key not in reported]
    if missing:
        problems.append("the library's layout text lacks " + ", ".join(missing))
    return problems
