"""Server: the Pythonic face of the tcpserver engine.

The engine runs one server per process (its API is flat, like the Delphi unit it mirrors), so
at most one Server object can be running at a time; any number may exist.

Handlers run on engine threads (ctypes takes the GIL for each call). They are wired when
start() runs: override them in a subclass, or set them on an instance with a decorator
(@server.on_receive) or an assignment (server.on_receive = fn).
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import itertools
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, List, NamedTuple, Optional

from . import _native as n
from .errors import ErrorCode, TcpServerError, last_error
from .link import BytesLike, Link, as_buffer

log = logging.getLogger("tcpserver")
engine_log = logging.getLogger("tcpserver.engine")

# ------------------------------------------------------------------------------------------
# Process-wide state: the engine is a singleton, so is what keeps its callbacks alive.
# ------------------------------------------------------------------------------------------

_lifecycle_lock = threading.Lock()
_running: Optional["Server"] = None
# The engine keeps the last callbacks it was given until it gets new ones, even after a stop;
# so do we, whatever happens to the Server object that made them.
_installed_callbacks: tuple = ()
_abi_problems: Optional[List[str]] = None

_ENGINE_LEVELS = {n.TS_LOG_DEBUG: logging.DEBUG, n.TS_LOG_INFO: logging.INFO,
                  n.TS_LOG_WARN: logging.WARNING, n.TS_LOG_ERROR: logging.ERROR}


def _on_engine_log(level: int, text: Optional[bytes]) -> None:
    try:
        message = text.decode("utf-8", "replace") if text else ""
        engine_log.log(_ENGINE_LEVELS.get(level, logging.ERROR), "%s", message)
    except BaseException:  # nothing may unwind into the engine
        pass


_log_proc = n.TOnLog(_on_engine_log)
_log_proc_installed = False


def _install_log_proc() -> None:
    """Route engine log lines to the 'tcpserver.engine' logger (once per process)."""
    global _log_proc_installed
    if not _log_proc_installed:
        n.SetLogProc(_log_proc)
        _log_proc_installed = True


@atexit.register
def _shutdown() -> None:
    # Engine threads must not call into an interpreter that is finalizing.
    server = _running
    if server is not None:
        try:
            server.stop()
        except TcpServerError:
            log.exception("could not stop the tcpserver at exit")
    if _log_proc_installed:
        n.SetLogProc(n.TOnLog())


# Engine threads are not Python threads, so ctypes creates and destroys a Python thread state
# around every callback. Holding one extra GIL-state reference on each engine thread, from
# its on_thread_create to its on_thread_exit, keeps a single state per thread: callbacks get
# much cheaper and threading.local works in handlers. (Only CPython has ctypes.pythonapi.)
_pythonapi = getattr(ctypes, "pythonapi", None)
if _pythonapi is not None:
    _gil_ensure = _pythonapi.PyGILState_Ensure
    _gil_ensure.argtypes, _gil_ensure.restype = [], ctypes.c_int
    _gil_release = _pythonapi.PyGILState_Release
    _gil_release.argtypes, _gil_release.restype = [ctypes.c_int], None


class _ThreadSlot(NamedTuple):
    """What the binding keeps per engine thread (its TcpWorker.Data is a key to this)."""
    gil_state: Optional[int]  # our pin of the thread's Python state, if any
    data: Any                 # what on_thread_create returned


def _pin_thread_state() -> Optional[int]:
    return _gil_ensure() if _pythonapi is not None else None


def _unpin_thread_state(state: Optional[int]) -> None:
    if state is not None:
        _gil_release(state)


def check_abi() -> None:
    """Raise TcpServerError if the loaded library's major version or record layout differs
    from what this binding declares (checked once, at the first start)."""
    global _abi_problems
    if _abi_problems is None:
        layout = n.GetAbiLayout().decode("ascii", "replace")
        _abi_problems = n.layout_mismatches(layout, n.GetVersion())
    if _abi_problems:
        raise TcpServerError(
            ErrorCode.NOT_SUPPORTED,
            f"the tcpserver library at {n.lib._name} does not match this Python binding "
            f"(rebuild or update one of them): " + "; ".join(_abi_problems))


# ------------------------------------------------------------------------------------------
# Handlers
# ------------------------------------------------------------------------------------------


class _Handler:
    """A handler slot of Server: a method a subclass overrides, or that an instance replaces
    with @server.on_xxx / server.on_xxx = fn. Its body is the default behaviour."""

    def __init__(self, default: Callable[..., Any]) -> None:
        self.default = default
        self.name = default.__name__
        functools.update_wrapper(self, default)

    def __get__(self, server: Optional["Server"], owner: type = None) -> Any:
        if server is None:
            return self
        return _BoundHandler(server, self)

    def __set__(self, server: "Server", fn: Callable[..., Any]) -> None:
        server._register(self.name, fn)


class _BoundHandler:
    """server.on_xxx: called with a single function it registers it (decorator); called with
    the handler's arguments it runs the registered function, else the default."""

    __slots__ = ("_server", "_slot")

    def __init__(self, server: "Server", slot: _Handler) -> None:
        self._server = server
        self._slot = slot

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if (len(args) == 1 and not kwargs and callable(args[0])
                and not isinstance(args[0], Link)):
            self._server._register(self._slot.name, args[0])
            return args[0]
        fn = self._server._handlers.get(self._slot.name)
        if fn is not None:
            return fn(*args, **kwargs)
        return self._slot.default(self._server, *args, **kwargs)

    def __repr__(self) -> str:
        return f"<handler {self._slot.name} of {self._server!r}>"


class _Callbacks(NamedTuple):
    """The ctypes function objects handed to the engine (a TOnXxx() with no target is NULL)."""
    receive: Any
    disconnect: Any
    idle: Any
    thread_create: Any
    thread_exit: Any
    connect: Any


def _release(view: memoryview) -> None:
    try:
        view.release()
    except BufferError:  # the handler kept an export of it (e.g. a ctypes array); let it be
        pass


def _keep(result: Any) -> int:
    """A handler's result as the engine's Boolean: None (no return) and truthy keep."""
    return 0 if result is not None and not result else 1


# ------------------------------------------------------------------------------------------
# Options and statistics
# ------------------------------------------------------------------------------------------

_OPTIONS: Dict[str, int] = {
    "max_links": n.TS_OPT_MAX_LINKS,
    "io_buffer_size": n.TS_OPT_IO_BUFFER_SIZE,
    "io_buffer_count": n.TS_OPT_IO_BUFFER_COUNT,
    "idle_timeout_ms": n.TS_OPT_IDLE_TIMEOUT_MS,
    "worker_threads": n.TS_OPT_WORKER_THREADS,
    "listen_backlog": n.TS_OPT_LISTEN_BACKLOG,
    "send_queue_limit": n.TS_OPT_SEND_QUEUE_LIMIT,
    "send_queue_policy": n.TS_OPT_SEND_QUEUE_POLICY,
    "tcp_nodelay": n.TS_OPT_TCP_NODELAY,
    "keepalive": n.TS_OPT_KEEPALIVE,
    "reuseport": n.TS_OPT_REUSEPORT,
    "reuseaddr": n.TS_OPT_REUSEADDR,
    "framing": n.TS_OPT_FRAMING,
    "log_level": n.TS_OPT_LOG_LEVEL,
}

_COUNTERS: Dict[str, int] = {
    "bytes_in": n.TS_COUNTER_BYTES_IN,
    "bytes_out": n.TS_COUNTER_BYTES_OUT,
    "msgs_in": n.TS_COUNTER_MSGS_IN,
    "msgs_out": n.TS_COUNTER_MSGS_OUT,
    "accepts": n.TS_COUNTER_ACCEPTS,
    "refused": n.TS_COUNTER_REFUSED,
    "send_queue_drops": n.TS_COUNTER_SEND_QUEUE_DROPS,
    "closed": n.TS_COUNTER_CLOSED,
    "idle_closed": n.TS_COUNTER_IDLE_CLOSED,
    "recv_pauses": n.TS_COUNTER_RECV_PAUSES,
}


def _option_property(name: str, code: int) -> property:
    def get(self: "Server") -> int:
        value = self._options.get(name)
        return value if value is not None else n.GetServerOption(code)

    def set_(self: "Server", value: int) -> None:
        self._set_option(name, code, value)

    return property(get, set_, doc=f"Engine option {name} (applied at start()).")


def counters() -> Dict[str, int]:
    """The engine's totals since the library loaded (they never reset)."""
    return {name: n.GetServerCounter(code) for name, code in _COUNTERS.items()}


@dataclass(frozen=True)
class Stats:
    """A snapshot of the engine's statistics (see Server.stats())."""
    links: int
    link_free: int
    link_use: float       # % of max_links
    link_size: int        # bytes of the link table
    iomem_free: int
    iomem_use: float      # % of the pool
    iomem_size: int       # bytes of the pool
    workers: int
    server_exec_long: int
    server_exec_count: int
    bytes_in: int
    bytes_out: int
    msgs_in: int
    msgs_out: int
    accepts: int
    refused: int
    send_queue_drops: int
    closed: int
    idle_closed: int
    recv_pauses: int


class WorkerStats(NamedTuple):
    index: int       # 1..worker count
    thread_id: int   # OS thread id
    events: int      # callbacks/events the worker has run
    busy_ms: int     # ms busy since the previous worker_stats() call


# ------------------------------------------------------------------------------------------
# Server
# ------------------------------------------------------------------------------------------


class Server:
    """A TCP server. Construct, wire handlers, start(ip, port), stop() (or use `with`).

    Options (keyword arguments and properties of the same name) are kept by this object and
    applied at start(); an option left at None keeps the engine's current value.
    """

    def __init__(self, *, max_links: Optional[int] = None,
                 io_buffer_size: Optional[int] = None,
                 io_buffer_count: Optional[int] = None,
                 idle_timeout_ms: Optional[int] = None,
                 worker_threads: Optional[int] = None,
                 listen_backlog: Optional[int] = None,
                 send_queue_limit: Optional[int] = None,
                 send_queue_policy: Optional[int] = None,
                 tcp_nodelay: Optional[bool] = None,
                 keepalive: Optional[bool] = None,
                 reuseport: Optional[bool] = None,
                 reuseaddr: Optional[bool] = None,
                 framing: Optional[int] = None,
                 log_level: Optional[int] = None) -> None:
        self._options: Dict[str, int] = {}
        self._handlers: Dict[str, Callable[..., Any]] = {}
        self._link_data: Dict[int, Any] = {}
        self._thread_data: Dict[int, Any] = {}
        self._tokens = itertools.count(1)
        given = dict(max_links=max_links, io_buffer_size=io_buffer_size,
                     io_buffer_count=io_buffer_count, idle_timeout_ms=idle_timeout_ms,
                     worker_threads=worker_threads, listen_backlog=listen_backlog,
                     send_queue_limit=send_queue_limit, send_queue_policy=send_queue_policy,
                     tcp_nodelay=tcp_nodelay, keepalive=keepalive, reuseport=reuseport,
                     reuseaddr=reuseaddr, framing=framing, log_level=log_level)
        for name, value in given.items():
            if value is not None:
                setattr(self, name, value)
        _install_log_proc()

    # -- handlers (override, or set with @server.on_xxx) -------------------------------------

    @_Handler
    def on_connect(self, link: Link) -> Optional[bool]:
        """A new link, before its first on_receive. Return False to refuse it (the socket is
        closed and no other handler runs for it). Raising also refuses it."""
        return True

    @_Handler
    def on_receive(self, link: Link, data: memoryview) -> Optional[bool]:
        """Data arrived. `data` is a memoryview over the engine's buffer, not a copy: it is
        valid only until the handler returns (bytes(data) copies it). Return False to close
        the link (pending sends flush first); None or True keeps it. Raising logs the
        exception and closes the link. Without a handler the engine echoes natively."""
        link.send(data)
        return True

    @_Handler
    def on_disconnect(self, link: Link) -> None:
        """The link closed; link.close_reason says why. Called exactly once per accepted
        link (including idle ones when there is no on_idle handler)."""

    @_Handler
    def on_idle(self, link: Link) -> None:
        """The link was silent longer than idle_timeout_ms and has been closed. Called instead
        of on_disconnect; without a handler, on_disconnect runs (reason IDLE)."""
        self.on_disconnect(link)

    @_Handler
    def on_thread_create(self, is_worker: bool) -> Any:
        """Runs on each new engine thread; what it returns is link.worker.data there."""
        return None

    @_Handler
    def on_thread_exit(self, is_worker: bool, data: Any) -> None:
        """Runs on an engine thread before it exits, with what on_thread_create returned."""

    def _register(self, name: str, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise TypeError(f"{name} handler must be callable, not {type(fn).__name__}")
        if self.active:
            raise TcpServerError(ErrorCode.ALREADY_ACTIVE,
                                 f"{name}: handlers are wired at start(); stop the server "
                                 "before changing them")
        self._handlers[name] = fn

    def _resolve(self, name: str) -> Optional[Callable[..., Any]]:
        """The function to run for a handler, or None when neither set nor overridden."""
        if name in self._handlers:
            return self._handlers[name]
        if isinstance(getattr(type(self), name), _Handler):
            return None
        return getattr(self, name)

    def _thread_object(self, token: Optional[int]) -> Any:
        slot = self._thread_data.get(token) if token else None
        return slot.data if slot is not None else None

    # -- trampolines: C callbacks -> handlers; nothing unwinds into the engine ---------------

    def _make_callbacks(self) -> _Callbacks:
        receive = self._resolve("on_receive")
        connect = self._resolve("on_connect")
        disconnect = self._resolve("on_disconnect")
        idle = self._resolve("on_idle")
        thread_create = self._resolve("on_thread_create")
        thread_exit = self._resolve("on_thread_exit")
        link_data = self._link_data
        byte_array = ctypes.c_uint8

        def on_receive(ptr: Any, address: int, length: int) -> int:
            link = Link(self, ptr)
            view = memoryview((byte_array * length).from_address(address)).cast("B")
            try:
                return _keep(receive(link, view))
            except BaseException:
                log.exception("on_receive raised for link %d; closing the link", link.id)
                return 0
            finally:
                link._invalidate()
                _release(view)

        def on_connect(ptr: Any) -> int:
            link = Link(self, ptr)
            try:
                accepted = _keep(connect(link))
            except BaseException:
                log.exception("on_connect raised for link %d; refusing the link", link.id)
                accepted = 0
            finally:
                link._invalidate()
            if not accepted:
                link_data.pop(link.id, None)
            return accepted

        def closer(handler: Optional[Callable[..., Any]], what: str) -> Callable[[Any], None]:
            def on_close(ptr: Any) -> None:
                link = Link(self, ptr)
                try:
                    if handler is not None:
                        handler(link)
                except BaseException:
                    log.exception("%s raised for link %d", what, link.id)
                finally:
                    link._invalidate()
                    link_data.pop(link.id, None)
            return on_close

        def on_thread_create(is_worker: int) -> int:
            state = _pin_thread_state()
            try:
                data = thread_create(bool(is_worker)) if thread_create else None
            except BaseException:
                log.exception("on_thread_create raised; the thread's data is None")
                data = None
            token = next(self._tokens)
            self._thread_data[token] = _ThreadSlot(state, data)
            return token

        def on_thread_exit(is_worker: int, token: Optional[int]) -> None:
            slot = self._thread_data.pop(token, None) if token else None
            try:
                if thread_exit is not None:
                    thread_exit(bool(is_worker), slot.data if slot else None)
            except BaseException:
                log.exception("on_thread_exit raised")
            finally:
                if slot is not None:
                    _unpin_thread_state(slot.gil_state)

        def wrap(functype: Any, fn: Optional[Callable[..., Any]]) -> Any:
            return functype(fn) if fn is not None else functype()  # functype() is NULL

        return _Callbacks(
            receive=wrap(n.TOnReceive, on_receive if receive else None),  # NULL: engine echoes
            disconnect=wrap(n.TOnDisconnect, closer(disconnect, "on_disconnect")),
            idle=wrap(n.TOnLinkIdleOvertime, closer(idle, "on_idle") if idle else None),
            thread_create=n.TOnThreadCreate(on_thread_create),  # always: pins thread states
            thread_exit=n.TOnThreadExit(on_thread_exit),
            connect=wrap(n.TOnConnect, on_connect if connect else None),
        )

    # -- options ----------------------------------------------------------------------------

    def _set_option(self, name: str, code: int, value: int) -> None:
        if self.active:
            raise TcpServerError(ErrorCode.ALREADY_ACTIVE,
                                 f"{name}: options apply at start(); stop the server first")
        value = int(value)
        low, high = ctypes.c_int64(), ctypes.c_int64()
        if not n.GetServerOptionRange(code, ctypes.byref(low), ctypes.byref(high)):
            raise last_error(f"option {name}")
        if not low.value <= value <= high.value:
            raise TcpServerError(ErrorCode.OPTION_RANGE,
                                 f"option {name}={value} is out of range "
                                 f"({low.value}..{high.value})")
        self._options[name] = value

    max_links = _option_property("max_links", n.TS_OPT_MAX_LINKS)
    io_buffer_size = _option_property("io_buffer_size", n.TS_OPT_IO_BUFFER_SIZE)
    io_buffer_count = _option_property("io_buffer_count", n.TS_OPT_IO_BUFFER_COUNT)
    idle_timeout_ms = _option_property("idle_timeout_ms", n.TS_OPT_IDLE_TIMEOUT_MS)
    worker_threads = _option_property("worker_threads", n.TS_OPT_WORKER_THREADS)
    listen_backlog = _option_property("listen_backlog", n.TS_OPT_LISTEN_BACKLOG)
    send_queue_limit = _option_property("send_queue_limit", n.TS_OPT_SEND_QUEUE_LIMIT)
    send_queue_policy = _option_property("send_queue_policy", n.TS_OPT_SEND_QUEUE_POLICY)
    tcp_nodelay = _option_property("tcp_nodelay", n.TS_OPT_TCP_NODELAY)
    keepalive = _option_property("keepalive", n.TS_OPT_KEEPALIVE)
    reuseport = _option_property("reuseport", n.TS_OPT_REUSEPORT)
    reuseaddr = _option_property("reuseaddr", n.TS_OPT_REUSEADDR)
    framing = _option_property("framing", n.TS_OPT_FRAMING)
    log_level = _option_property("log_level", n.TS_OPT_LOG_LEVEL)

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, ip: str = "", port: int = 0) -> "Server":
        """Bind ip ("" = all interfaces; IPv4 or IPv6 literal) and port (0 = ephemeral, see
        .port) and serve. Returns self, so `with Server().start(...) as s:` works."""
        global _running, _installed_callbacks
        with _lifecycle_lock:
            if _running is not None or n.IsTcpServerActive():
                raise TcpServerError(ErrorCode.ALREADY_ACTIVE,
                                     "start: a server is already running in this process "
                                     "(the engine runs one at a time); stop it first")
            check_abi()
            for name, value in self._options.items():
                if not n.SetServerOption(_OPTIONS[name], value):
                    raise last_error(f"start: option {name}={value}")
            callbacks = self._make_callbacks()
            n.SetEventProc(callbacks.receive, callbacks.disconnect, callbacks.idle,
                           callbacks.thread_create, callbacks.thread_create)
            _installed_callbacks = callbacks  # before the engine can call any of them
            if not n.SetConnectProc(callbacks.connect):
                raise last_error("start: SetConnectProc")
            if not n.SetThreadExitProc(callbacks.thread_exit):
                raise last_error("start: SetThreadExitProc")
            self._link_data.clear()
            if not n.StartTcpServer(ip.encode("utf-8"), int(port)):
                raise last_error(f"start on [{ip or '*'}]:{port}")
            _running = self
        return self

    def stop(self, timeout: Optional[float] = None) -> None:
        """Close the listener and every link (each gets on_disconnect, reason SERVER_STOP),
        wait for all handlers and join the engine threads. Idempotent. With a timeout (s),
        raises TcpServerError(TIMEOUT) if threads are still finishing: call stop() again.
        Raises TcpServerError(IN_CALLBACK) from inside a handler (it would deadlock)."""
        global _running
        if _running is not self:
            return
        timeout_ms = -1 if timeout is None else max(0, int(timeout * 1000))
        if not n.StopTcpServerEx(timeout_ms):
            raise last_error("stop")
        _running = None

    @property
    def active(self) -> bool:
        """True while this server is running."""
        return _running is self and bool(n.IsTcpServerActive())

    @property
    def port(self) -> int:
        """The bound port (useful after start(port=0)); 0 when not running."""
        return n.GetServerPort() if _running is self else 0

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = f"running on port {self.port}" if self.active else "stopped"
        return f"<{type(self).__name__} {state}>"

    # -- sending and closing (any thread, any time) -----------------------------------------

    def send(self, link_id: int, data: BytesLike) -> None:
        """Copy `data` (any length) into the send queue of link `link_id`. Raises
        TcpServerError when nothing could be queued (e.g. LINK_CLOSED, SEND_QUEUE_FULL)."""
        buffer, size = as_buffer(data)
        if size and not n.SendBufferById(link_id, buffer, size):
            raise last_error(f"send to link {link_id}")

    def broadcast(self, data: BytesLike) -> int:
        """Send `data` (copied once) to every open link; returns how many it was queued to."""
        buffer, size = as_buffer(data)
        if not size:
            return 0
        count = n.PostBroadcast(buffer, size)
        if count < 0:
            raise last_error("broadcast")
        return count

    def close(self, link_id: int, abort: bool = False) -> bool:
        """Close link `link_id` (pending sends flush first unless abort). Returns False if it
        is already closed or gone; on_disconnect follows otherwise (reason BY_APP)."""
        if n.CloseLinkByIdEx(link_id, n.TS_CLOSE_FLAG_ABORT if abort else 0):
            return True
        error = last_error(f"close link {link_id}")
        if error.code == ErrorCode.LINK_CLOSED:
            return False
        raise error

    # -- statistics ---------------------------------------------------------------------------

    def stats(self) -> Stats:
        """A snapshot of the engine's statistics and counters."""
        return Stats(links=n.GetLinkCount(), link_free=n.GetLinkFree(),
                     link_use=n.GetLinkUse(), link_size=n.GetLinkSize(),
                     iomem_free=n.GetIOMemFree(), iomem_use=n.GetIOMemUse(),
                     iomem_size=n.GetIOMemSize(), workers=n.GetWorkerCount(),
                     server_exec_long=n.GetServerExecLong(),
                     server_exec_count=n.GetServerExecCount(), **counters())

    def worker_stats(self) -> List[WorkerStats]:
        """Per-worker thread id, events run, and ms busy since the previous call."""
        result = []
        for index in range(1, n.GetWorkerCount() + 1):
            busy = ctypes.c_uint32()
            events = n.GetWorkerExecInfo(index, ctypes.byref(busy))
            result.append(WorkerStats(index, n.GetWorkerID(index), events, busy.value))
        return result


# ------------------------------------------------------------------------------------------
# Library-wide helpers
# ------------------------------------------------------------------------------------------


def version() -> str:
    """The loaded library's version text, e.g. "tcpserver 1.0.0"."""
    return n.GetVersionText().decode("ascii", "replace")


def write_log(text: str) -> None:
    """Send a line through the engine's log (it arrives at the 'tcpserver.engine' logger)."""
    n.WriteLog(text.encode("utf-8"))


def local_ip(internet: bool = False) -> str:
    """A local interface's IPv4 address (public if internet, else private); no lookups."""
    buffer = ctypes.create_string_buffer(64)
    length = n.GetLocalIP(1 if internet else 0, buffer, len(buffer))
    if length < 0:
        raise last_error("local_ip")
    return buffer.value.decode("ascii")


def tick_count() -> int:
    """Milliseconds on the engine's clock (wraps at 2**32), as link.tick_count_active."""
    return n.GetTickCount32()
