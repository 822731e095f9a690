"""Link: the view of one connection handed to handlers; WorkerInfo. (CloseReason, the header's
TS_CLOSE_* as an IntEnum, is generated into _abi and re-exported here.)"""

from __future__ import annotations

import ctypes
from typing import TYPE_CHECKING, Any, Dict, NamedTuple, Optional, Tuple, Union

from . import _native as n
from ._abi import CloseReason
from .errors import last_error
from .tls import read_tls_info

if TYPE_CHECKING:
    from .server import Server

BytesLike = Union[bytes, bytearray, memoryview]

_INT32_MAX = 2**31 - 1


class WorkerInfo(NamedTuple):
    """The engine thread running the current callback."""
    index: int            # 1..worker count for workers, 0 for the service thread
    thread_id: int        # OS thread id
    is_worker_thread: bool
    data: Any             # what on_thread_create returned on that thread (None if no handler)


def as_buffer(data: BytesLike) -> Tuple[Any, int]:
    """(object ctypes can pass as void*, byte length) for any bytes-like, copying only when
    the object is read-only and not bytes (ctypes needs a writable buffer to take its address)."""
    if isinstance(data, bytes):
        return data, len(data)
    view = memoryview(data)
    size = view.nbytes
    if size > _INT32_MAX:
        raise ValueError(f"cannot send {size} bytes in one call: the limit is {_INT32_MAX}")
    if view.readonly or not view.c_contiguous:
        return view.tobytes(), size
    return (ctypes.c_char * size).from_buffer(view), size


class Link:
    """One connection, as seen by a handler.

    A Link is valid only during the handler call that received it: the engine recycles the
    record afterwards. Keep `link.id` instead and use Server.send(id, ...) / Server.close(id)
    from anywhere, at any time."""

    __slots__ = ("_server", "_ptr", "id")

    def __init__(self, server: "Server", ptr: "ctypes._Pointer[n.TcpLink]") -> None:
        self._server = server
        self._ptr: Optional[ctypes._Pointer] = ptr
        self.id: int = ptr[0].Id  #: unique in the process, never reused; stays readable

    def _record(self) -> n.TcpLink:
        if self._ptr is None:
            raise RuntimeError(
                f"link {self.id} was used after its handler returned; a Link is only valid "
                "during the callback. Keep link.id and call server.send(id, data) instead")
        return self._ptr[0]

    def _invalidate(self) -> None:
        self._ptr = None

    @property
    def valid(self) -> bool:
        """True while the handler that received this Link runs."""
        return self._ptr is not None

    @property
    def remote_ip(self) -> str:
        return self._record().RemoteIP.decode("ascii", "replace")

    @property
    def remote_port(self) -> int:
        return self._record().RemotePort

    @property
    def remote_address(self) -> Tuple[str, int]:
        """(ip, port) of the peer, like socket.getpeername()."""
        record = self._record()
        return record.RemoteIP.decode("ascii", "replace"), record.RemotePort

    @property
    def tick_count_active(self) -> int:
        """tcpserver.tick_count() of the last receive (or of the accept)."""
        return self._record().TickCountActive

    @property
    def close_reason(self) -> CloseReason:
        """Why the link closed; meaningful in on_disconnect / on_idle, else NONE."""
        reason = self._record().CloseReason
        try:
            return CloseReason(reason)
        except ValueError:  # a reason added after this binding was generated
            return reason  # type: ignore[return-value]

    @property
    def close_reason_text(self) -> str:
        return n.GetCloseReasonText(self._record().CloseReason).decode("utf-8", "replace")

    @property
    def close_error(self) -> int:
        """The OS error code when close_reason is ERROR, the TlsCause when it is TLS_ERROR,
        else 0."""
        return self._record().CloseError

    def tls_info(self) -> Optional[Dict[str, Any]]:
        """What the link's TLS session reports (valid from on_connect on), or None for a link
        of a server without TLS: {"protocol": "TLSv1.3", "cipher", "server_name" (SNI, "" if
        none), "alpn" ("" if none), "client_subject", "client_issuer" (RFC 2253, "" without a
        client certificate), "verify_result" ("ok", "none" or why not), "resumed" (bool),
        "client_fingerprint" (SHA-256, "AB:CD:..."), "certificate_pattern" (the
        add_server_name name whose certificate was used, "" = the default one)}."""
        ptr = self._ptr
        if ptr is None:
            self._record()  # raises the "used after its handler" error
        return read_tls_info(lambda what, buffer, size: n.GetLinkTlsInfo(ptr, what, buffer, size),
                             f"tls_info of link {self.id}")

    @property
    def worker(self) -> Optional[WorkerInfo]:
        """The engine thread running this callback."""
        worker_ptr = self._record().Worker
        if not worker_ptr:
            return None
        worker = worker_ptr[0]
        return WorkerInfo(worker.Index, worker.ID, bool(worker.IsWorkerThread),
                          self._server._thread_object(worker.Data))

    @property
    def data(self) -> Any:
        """Any Python object the application attaches to this link (None at first). It lives
        from on_connect until on_disconnect / on_idle returns."""
        self._record()
        return self._server._link_data.get(self.id)

    @data.setter
    def data(self, value: Any) -> None:
        self._record()
        self._server._link_data[self.id] = value

    def send(self, data: BytesLike) -> None:
        """Copy `data` into the link's send queue (any length). Raises TcpServerError if
        nothing could be queued (link closing, send queue over its limit, pool exhausted)."""
        ptr = self._ptr
        if ptr is None:
            self._record()  # raises the "used after its handler" error
        buffer, size = as_buffer(data)
        if size and not n.SendBuffer(ptr, buffer, size):
            raise last_error(f"send to link {self.id}")

    def close(self, abort: bool = False) -> None:
        """Close the link: pending sends flush first, unless abort drops them and resets
        the connection. on_disconnect follows (reason BY_APP)."""
        self._record()
        if not n.CloseLinkEx(self._ptr, n.TS_CLOSE_FLAG_ABORT if abort else 0):
            raise last_error(f"close link {self.id}")

    def pause(self) -> None:
        """Stop reading from the link (TCP backpressure reaches the peer) until resume();
        sends still go out and the idle clock runs. Server.resume(id) works from anywhere."""
        self._record()
        if not n.PauseReceive(self._ptr):
            raise last_error(f"pause link {self.id}")

    def resume(self) -> None:
        """Read from the link again after pause()."""
        self._record()
        if not n.ResumeReceive(self._ptr):
            raise last_error(f"resume link {self.id}")

    @property
    def queued_bytes(self) -> int:
        """Bytes queued on the link and not yet written to its socket (framing headers
        included)."""
        self._record()
        queued = n.GetSendQueueBytes(self._ptr)
        if queued < 0:
            raise last_error(f"queued bytes of link {self.id}")
        return queued

    def __repr__(self) -> str:
        if self._ptr is None:
            return f"<Link {self.id} (handler returned)>"
        return f"<Link {self.id} {self.remote_ip}:{self.remote_port}>"
