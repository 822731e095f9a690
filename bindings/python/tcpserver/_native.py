"""ctypes declarations of tcpserver.h, one for one.

This module mirrors the C header exactly (names, types, constants) and does nothing else but
locate the library and check its record layout. The Pythonic API lives in server.py.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
from ctypes import (POINTER, Structure, c_char, c_char_p, c_double, c_int32, c_int64,
                    c_uint32, c_uint64, c_void_p)
from pathlib import Path
from typing import Any, Callable, Dict, List

# ------------------------------------------------------------------------------------------
# Constants (the #defines of tcpserver.h)
# ------------------------------------------------------------------------------------------

TCPSERVER_VERSION_MAJOR = 1
TCPSERVER_VERSION_MINOR = 2
TCPSERVER_VERSION_PATCH = 0
TCPSERVER_VERSION_NUMBER = (TCPSERVER_VERSION_MAJOR * 10000 + TCPSERVER_VERSION_MINOR * 100
                            + TCPSERVER_VERSION_PATCH)

TS_REMOTE_IP_SIZE = 48

TS_CLOSE_NONE = 0
TS_CLOSE_PEER_CLOSED = 1
TS_CLOSE_PEER_RESET = 2
TS_CLOSE_IDLE = 3
TS_CLOSE_BY_APP = 4
TS_CLOSE_SEND_QUEUE_FULL = 5
TS_CLOSE_SERVER_STOP = 6
TS_CLOSE_ERROR = 7
TS_CLOSE_FRAME_TOO_LARGE = 8
TS_CLOSE_BAD_FRAME = 9
TS_CLOSE_FRAME_TRUNCATED = 10

TS_OK = 0
TS_ERR_INVALID_ARGUMENT = 1
TS_ERR_NOT_ACTIVE = 2
TS_ERR_ALREADY_ACTIVE = 3
TS_ERR_IN_CALLBACK = 4
TS_ERR_BAD_ADDRESS = 5
TS_ERR_ADDRESS_IN_USE = 6
TS_ERR_SOCKET = 7
TS_ERR_NOT_A_BUFFER = 8
TS_ERR_BUFFER_NOT_OWNED = 9
TS_ERR_BAD_LENGTH = 10
TS_ERR_NOT_A_LINK = 11
TS_ERR_LINK_CLOSED = 12
TS_ERR_POOL_EXHAUSTED = 13
TS_ERR_SEND_QUEUE_FULL = 14
TS_ERR_UNKNOWN_OPTION = 15
TS_ERR_OPTION_RANGE = 16
TS_ERR_TIMEOUT = 17
TS_ERR_BUFFER_TOO_SMALL = 18
TS_ERR_NOT_FOUND = 19
TS_ERR_OUT_OF_MEMORY = 20
TS_ERR_SYSTEM = 21
TS_ERR_BUSY = 22
TS_ERR_NOT_SUPPORTED = 23

TS_OPT_MAX_LINKS = 1
TS_OPT_IO_BUFFER_SIZE = 2
TS_OPT_IO_BUFFER_COUNT = 3
TS_OPT_IDLE_TIMEOUT_MS = 4
TS_OPT_WORKER_THREADS = 5
TS_OPT_LISTEN_BACKLOG = 6
TS_OPT_SEND_QUEUE_LIMIT = 7
TS_OPT_SEND_QUEUE_POLICY = 8
TS_OPT_TCP_NODELAY = 9
TS_OPT_KEEPALIVE = 10
TS_OPT_REUSEPORT = 11
TS_OPT_REUSEADDR = 12
TS_OPT_FRAMING = 13
TS_OPT_LOG_LEVEL = 14
TS_OPT_MAX_MESSAGE_SIZE = 15
TS_OPT_KEEPALIVE_IDLE_S = 16
TS_OPT_KEEPALIVE_INTERVAL_S = 17
TS_OPT_KEEPALIVE_COUNT = 18
TS_OPT_IPV6_ONLY = 19

TS_QUEUE_CLOSE_LINK = 0
TS_QUEUE_REFUSE_SEND = 1

TS_FRAMING_RAW = 0
TS_FRAMING_LENGTH_PREFIXED = 1

TS_LOG_DEBUG = 0
TS_LOG_INFO = 1
TS_LOG_WARN = 2
TS_LOG_ERROR = 3

TS_CLOSE_FLAG_ABORT = 1

TS_COUNTER_BYTES_IN = 1
TS_COUNTER_BYTES_OUT = 2
TS_COUNTER_MSGS_IN = 3
TS_COUNTER_MSGS_OUT = 4
TS_COUNTER_ACCEPTS = 5
TS_COUNTER_REFUSED = 6
TS_COUNTER_SEND_QUEUE_DROPS = 7
TS_COUNTER_CLOSED = 8
TS_COUNTER_IDLE_CLOSED = 9
TS_COUNTER_RECV_PAUSES = 10
TS_COUNTER_FRAMING_ERRORS = 11

# ------------------------------------------------------------------------------------------
# Records
# ------------------------------------------------------------------------------------------


class TcpWorker(Structure):
    _fields_ = [
        ("Data", c_void_p),
        ("ID", c_uint32),
        ("Index", c_int32),
        ("IsWorkerThread", c_int32),
        ("Reserved0", c_int32),
        ("Reserved", c_void_p * 4),
    ]


class TcpLink(Structure):
    _fields_ = [
        ("Data", c_void_p),
        ("Worker", POINTER(TcpWorker)),
        ("Id", c_uint64),
        ("RemoteIP", c_char * TS_REMOTE_IP_SIZE),
        ("RemotePort", c_uint32),
        ("TickCountActive", c_uint32),
        ("CloseReason", c_int32),
        ("CloseError", c_int32),
        ("Reserved", c_void_p * 4),
    ]


PWorker = POINTER(TcpWorker)
PLink = POINTER(TcpLink)

# ------------------------------------------------------------------------------------------
# Callback types. TS_CALL is __stdcall only on 32-bit Windows.
# ------------------------------------------------------------------------------------------

if sys.platform == "win32" and ctypes.sizeof(c_void_p) == 4:
    _FUNCTYPE = ctypes.WINFUNCTYPE
else:
    _FUNCTYPE = ctypes.CFUNCTYPE

# Buf is uint8_t* in the header; it is declared c_void_p so Python receives a plain address
# and can build a zero-copy view over it (same ABI).
TOnReceive = _FUNCTYPE(c_int32, PLink, c_void_p, c_int32)
TOnDisconnect = _FUNCTYPE(None, PLink)
TOnLinkIdleOvertime = _FUNCTYPE(None, PLink)
TOnThreadCreate = _FUNCTYPE(c_void_p, c_int32)
TOnThreadExit = _FUNCTYPE(None, c_int32, c_void_p)
TOnConnect = _FUNCTYPE(c_int32, PLink)
TOnLog = _FUNCTYPE(None, c_int32, c_char_p)

# The handle-based family (API 1.1): the same callbacks, with CreateTcpServer's Context first.
TOnReceiveEx = _FUNCTYPE(c_int32, c_void_p, PLink, c_void_p, c_int32)
TOnDisconnectEx = _FUNCTYPE(None, c_void_p, PLink)
TOnLinkIdleOvertimeEx = _FUNCTYPE(None, c_void_p, PLink)
TOnThreadCreateEx = _FUNCTYPE(c_void_p, c_void_p, c_int32)
TOnThreadExitEx = _FUNCTYPE(None, c_void_p, c_int32, c_void_p)
TOnConnectEx = _FUNCTYPE(c_int32, c_void_p, PLink)

# TcpServerHandle is opaque: a handle is a plain address (an int; None for NULL).
PTcpServerHandle = c_void_p

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
    loader = ctypes.WinDLL if _FUNCTYPE is not ctypes.CFUNCTYPE else ctypes.CDLL
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


lib = _load_library()

# ------------------------------------------------------------------------------------------
# Exports: (name, restype, argtypes), in the order of the header.
# ------------------------------------------------------------------------------------------

_EXPORTS = [
    ("StartTcpServer", c_int32, [c_char_p, c_uint32]),
    ("StopTcpServer", c_int32, []),
    ("StopTcpServerEx", c_int32, [c_int32]),
    ("IsTcpServerActive", c_int32, []),
    ("GetServerPort", c_uint32, []),
    ("SetEventProc", None, [TOnReceive, TOnDisconnect, TOnLinkIdleOvertime, TOnThreadCreate,
                            TOnThreadCreate]),
    ("SetConnectProc", c_int32, [TOnConnect]),
    ("SetThreadExitProc", c_int32, [TOnThreadExit]),
    ("SetLogProc", None, [TOnLog]),
    ("SetServerOption", c_int32, [c_int32, c_int64]),
    ("GetServerOption", c_int64, [c_int32]),
    ("GetServerOptionRange", c_int32, [c_int32, POINTER(c_int64), POINTER(c_int64)]),
    ("GetIOMem", c_void_p, []),
    ("FreeIOMem", c_int32, [c_void_p]),
    ("PostSend", c_int32, [PLink, c_void_p, c_int32]),
    ("PostSendById", c_int32, [c_uint64, c_void_p, c_int32]),
    ("SendBuffer", c_int32, [PLink, c_void_p, c_int32]),
    ("SendBufferById", c_int32, [c_uint64, c_void_p, c_int32]),
    ("PostRecv", c_int32, [PLink, c_void_p]),
    ("PostBroadcast", c_int32, [c_void_p, c_int32]),
    ("CloseLink", c_int32, [PLink]),
    ("CloseLinkById", c_int32, [c_uint64]),
    ("CloseLinkEx", c_int32, [PLink, c_int32]),
    ("CloseLinkByIdEx", c_int32, [c_uint64, c_int32]),
    ("GetLinkUse", c_double, []),
    ("GetLinkSize", c_int32, []),
    ("GetLinkCount", c_int32, []),
    ("GetLinkFree", c_int32, []),
    ("GetIOMemUse", c_double, []),
    ("GetIOMemSize", c_int32, []),
    ("GetIOMemFree", c_int32, []),
    ("GetWorkerCount", c_int32, []),
    ("GetWorkerID", c_int32, [c_int32]),
    ("GetWorkerExecInfo", c_int32, [c_int32, POINTER(c_uint32)]),
    ("GetServerExecLong", c_uint32, []),
    ("GetServerExecCount", c_int32, []),
    ("GetServerCounter", c_int64, [c_int32]),
    ("WriteLog", None, [c_char_p]),
    ("GetLocalIP", c_int32, [c_int32, c_char_p, c_int32]),
    ("GetTickCount32", c_uint32, []),
    ("GetTcpServerVersion", c_int32, []),
    ("GetVersion", c_int32, []),
    ("GetVersionText", c_char_p, []),
    ("GetLastErrorCode", c_int32, []),
    ("GetLastErrorText", c_char_p, []),
    ("GetCloseReasonText", c_char_p, [c_int32]),
    ("GetAbiLayout", c_char_p, []),
]

# Added in API 1.1. A 1.0 library lacks them: it still loads (the flat API works), and calling
# one of them raises MissingExportError naming what to update.
_EXPORTS_1_1 = [
    ("PauseReceive", c_int32, [PLink]),
    ("ResumeReceive", c_int32, [PLink]),
    ("PauseReceiveById", c_int32, [c_uint64]),
    ("ResumeReceiveById", c_int32, [c_uint64]),
    ("GetSendQueueBytes", c_int64, [PLink]),
    ("GetSendQueueBytesById", c_int64, [c_uint64]),
    ("GetLinkIds", c_int32, [POINTER(c_uint64), c_int32]),
    ("PostBroadcastExcept", c_int32, [c_void_p, c_int32, c_uint64]),
    ("CreateTcpServer", PTcpServerHandle, [c_void_p]),
    ("DestroyTcpServer", c_int32, [PTcpServerHandle]),
    ("GetDefaultTcpServer", PTcpServerHandle, []),
    ("TcpServerGetContext", c_void_p, [PTcpServerHandle]),
    ("TcpServerStart", c_int32, [PTcpServerHandle, c_char_p, c_uint32]),
    ("TcpServerStop", c_int32, [PTcpServerHandle, c_int32]),
    ("TcpServerIsActive", c_int32, [PTcpServerHandle]),
    ("TcpServerGetPort", c_uint32, [PTcpServerHandle]),
    ("TcpServerSetEventProc", c_int32, [PTcpServerHandle, TOnReceiveEx, TOnDisconnectEx,
                                        TOnLinkIdleOvertimeEx, TOnThreadCreateEx,
                                        TOnThreadCreateEx]),
    ("TcpServerSetConnectProc", c_int32, [PTcpServerHandle, TOnConnectEx]),
    ("TcpServerSetThreadExitProc", c_int32, [PTcpServerHandle, TOnThreadExitEx]),
    ("TcpServerSetOption", c_int32, [PTcpServerHandle, c_int32, c_int64]),
    ("TcpServerGetOption", c_int64, [PTcpServerHandle, c_int32]),
    ("TcpServerGetIOMem", c_void_p, [PTcpServerHandle]),
    ("TcpServerPostBroadcast", c_int32, [PTcpServerHandle, c_void_p, c_int32, c_uint64]),
    ("TcpServerGetLinkIds", c_int32, [PTcpServerHandle, POINTER(c_uint64), c_int32]),
    ("TcpServerGetLinkCount", c_int32, [PTcpServerHandle]),
    ("TcpServerGetIOMemFree", c_int32, [PTcpServerHandle]),
    ("TcpServerGetWorkerCount", c_int32, [PTcpServerHandle]),
    ("TcpServerGetCounter", c_int64, [PTcpServerHandle, c_int32]),
]

# Added in API 1.2: the rest of the statistics, per server. Missing ones load as stubs too.
_EXPORTS_1_2 = [
    ("TcpServerGetLinkFree", c_int32, [PTcpServerHandle]),
    ("TcpServerGetLinkUse", c_double, [PTcpServerHandle]),
    ("TcpServerGetLinkSize", c_int64, [PTcpServerHandle]),
    ("TcpServerGetIOMemUse", c_double, [PTcpServerHandle]),
    ("TcpServerGetIOMemSize", c_int64, [PTcpServerHandle]),
    ("TcpServerGetWorkerID", c_int32, [PTcpServerHandle, c_int32]),
    ("TcpServerGetWorkerExecInfo", c_int32, [PTcpServerHandle, c_int32, POINTER(c_uint32)]),
    ("TcpServerGetExecLong", c_int64, [PTcpServerHandle]),
    ("TcpServerGetExecCount", c_int32, [PTcpServerHandle]),
]


class MissingExportError(LibraryNotFoundError):
    """The loaded library predates the function called (it lacks that export)."""


def _missing(name: str, api: str) -> Callable[..., Any]:
    def call(*_args: Any) -> Any:
        raise MissingExportError(
            f"{lib._name} ({GetVersionText().decode('ascii', 'replace')}) has no "
            f"export {name}, which needs tcpserver API {api}: update the library")
    call.__name__ = name
    return call


missing_exports: List[str] = []  # API 1.1+ names the loaded library lacks (empty when current)


def _bind(name: str, restype: Any, argtypes: List[Any], since: str = "") -> None:
    """Bind one export; `since` names the API minor that added an optional one ("" = 1.0,
    required)."""
    try:
        function = getattr(lib, name)
    except AttributeError:
        if not since:
            raise LibraryNotFoundError(
                f"{lib._name} has no export {name}: it is not a tcpserver library, or too old"
            ) from None
        missing_exports.append(name)
        globals()[name] = _missing(name, since)
        return
    function.restype = restype
    function.argtypes = argtypes
    globals()[name] = function


for _entry in _EXPORTS:
    _bind(*_entry)
for _entry in _EXPORTS_1_1:
    _bind(*_entry, since="1.1")
for _entry in _EXPORTS_1_2:
    _bind(*_entry, since="1.2")
del _entry

# ------------------------------------------------------------------------------------------
# Layout check
# ------------------------------------------------------------------------------------------


def parse_layout(text: str) -> Dict[str, int]:
    """GetAbiLayout() text ("name=value;...") as a dict."""
    pairs = (item.split("=", 1) for item in text.split(";") if "=" in item)
    return {name.strip(): int(value) for name, value in pairs}


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
