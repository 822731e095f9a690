"""tcpserver: Python binding of the tcpserver engine (libtcpserver.so / tcpserver.dll).

    from tcpserver import Server

    class Echo(Server):
        def on_receive(self, link, data):
            link.send(data)

    with Echo().start("127.0.0.1", 7000) as server:
        input("serving; press Enter to stop")

Handlers run on the engine's threads; tcpserver.aio runs coroutine handlers on an asyncio loop.
The library is loaded at the first call that needs it, so importing this package (for
documentation, type checkers, the enums) works without it. The raw ctypes declarations of
tcpserver.h are in tcpserver._native; the enums (Option, ErrorCode, CloseReason, Counter,
Framing, ...) are generated from the header's constant families.
"""

from . import _abi
from ._abi import (CloseFlag, CloseReason, Counter, ErrorCode, Framing, LogLevel, Option,
                   SendQueuePolicy)
from ._native import LibraryNotFoundError, MissingExportError
from .errors import TcpServerError
from .link import Link, WorkerInfo
from .server import (DefaultServer, Server, Stats, WorkerStats, check_abi, counters, local_ip,
                     tick_count, version, write_log)

#: The version of this binding: that of the tcpserver.h it was generated from (the library
#: loaded at run time says its own in version()).
__version__ = (f"{_abi.TCPSERVER_VERSION_MAJOR}.{_abi.TCPSERVER_VERSION_MINOR}."
               f"{_abi.TCPSERVER_VERSION_PATCH}")

# Enums of constant families added to the header after the list above was written.
for _name in _abi.ENUMS:
    globals().setdefault(_name, getattr(_abi, _name))
del _name

__all__ = [
    "DefaultServer", "LibraryNotFoundError", "Link", "MissingExportError", "Server", "Stats",
    "TcpServerError", "WorkerInfo", "WorkerStats", "check_abi", "counters", "local_ip",
    "tick_count", "version", "write_log", "__version__", *_abi.ENUMS,
]
