"""tcpserver: Python binding of the tcpserver engine (libtcpserver.so / tcpserver.dll).

    from tcpserver import Server

    class Echo(Server):
        def on_receive(self, link, data):
            link.send(data)

    with Echo().start("127.0.0.1", 7000) as server:
        input("serving; press Enter to stop")

The raw ctypes declarations of tcpserver.h are in tcpserver._native.
"""

from .errors import ErrorCode, TcpServerError
from .link import CloseReason, Link, WorkerInfo
from .server import (DefaultServer, Framing, Server, Stats, WorkerStats, check_abi, counters,
                     local_ip, tick_count, version, write_log)
from .tls import TlsCause, TlsClientCert, TlsVersion

__all__ = [
    "CloseReason", "DefaultServer", "ErrorCode", "Framing", "Link", "Server", "Stats",
    "TcpServerError", "TlsCause", "TlsClientCert", "TlsVersion", "WorkerInfo",
    "WorkerStats", "check_abi", "counters", "local_ip", "tick_count", "version", "write_log",
]
