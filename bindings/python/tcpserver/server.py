"""Server: the Pythonic face of the tcpserver engine.

Each Server owns an engine server of its own (CreateTcpServer), with its own options, links,
IO pool, threads and counters, so several can run at once. DefaultServer drives instead the
process's default server through the flat API of the original unit (StartTcpServer, ...):
one at a time, shared with any other code in the process that uses that API.

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
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, NamedTuple, Optional, TypeVar

from . import _native as n
from ._abi import Framing  # noqa: F401 (tcpserver.server.Framing, as before)
from .errors import ErrorCode, TcpServerError, last_error
from .link import BytesLike, Link, as_buffer
from .tls import TlsSettings, min_version_value

log = logging.getLogger("tcpserver")
engine_log = logging.getLogger("tcpserver.engine")

# ------------------------------------------------------------------------------------------
# Process-wide state
# ------------------------------------------------------------------------------------------

_lifecycle_lock = threading.Lock()
_engine_lock = threading.Lock()  # making a Server's engine server (see Server._engine)
# Running servers by their Context key: the handle family's callbacks find their Server here.
# A strong reference while running, so a running server is never garbage collected.
_by_context: Dict[int, "Server"] = {}
_flat_owner: Optional["Server"] = None  # the DefaultServer running on the flat API, if any
_context_keys = itertools.count(1)      # Context 0 would arrive as NULL (None)
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


def _running_servers() -> List["Server"]:
    servers = list(_by_context.values())
    if _flat_owner is not None:
        servers.append(_flat_owner)
    return servers


@atexit.register
def _shutdown() -> None:
    # Engine threads must not call into an interpreter that is finalizing: stop every server,
    # then free every engine server still held.
    for server in _running_servers():
        try:
            server.stop()
        except TcpServerError:
            log.exception("could not stop %r at exit", server)
    for server in list(_with_engine_server):
        try:
            server._destroy()
        except TcpServerError:
            log.exception("could not free the engine server of %r at exit", server)
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

    def __get__(self, server: Optional["Server"], owner: Optional[type] = None) -> Any:
        if server is None:
            return self
        return _BoundHandler(server, self)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Server.on_xxx(server, ...) runs the default (and documentation tools see its
        signature through __wrapped__)."""
        return self.default(*args, **kwargs)

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


class _Wiring(NamedTuple):
    """The functions a running server's callbacks call (None: not set nor overridden)."""
    receive: Optional[Callable[..., Any]]
    connect: Optional[Callable[..., Any]]
    disconnect: Optional[Callable[..., Any]]
    idle: Optional[Callable[..., Any]]
    thread_create: Optional[Callable[..., Any]]
    thread_exit: Optional[Callable[..., Any]]


def _release(view: memoryview) -> None:
    try:
        view.release()
    except BufferError:  # the handler kept an export of it (e.g. a ctypes array); let it be
        pass


def _keep(result: Any) -> int:
    """A handler's result as the engine's Boolean: None (no return) and truthy keep."""
    return 0 if result is not None and not result else 1


# ------------------------------------------------------------------------------------------
# Trampolines: C callbacks -> handlers of one Server; nothing unwinds into the engine.
# Each takes the Server first; the ctypes objects below find it by Context (handle family)
# or as the flat API's owner, and live as long as the module (so as long as any server).
# ------------------------------------------------------------------------------------------

_byte_array = ctypes.c_uint8


def _receive(server: "Server", ptr: Any, address: int, length: int) -> int:
    link = Link(server, ptr)
    view = memoryview((_byte_array * length).from_address(address)).cast("B")
    try:
        return _keep(server._wired.receive(link, view))
    except BaseException:
        log.exception("on_receive raised for link %d; closing the link", link.id)
        return 0
    finally:
        link._invalidate()
        _release(view)


def _connect(server: "Server", ptr: Any) -> int:
    link = Link(server, ptr)
    try:
        accepted = _keep(server._wired.connect(link))
    except BaseException:
        log.exception("on_connect raised for link %d; refusing the link", link.id)
        accepted = 0
    finally:
        link._invalidate()
    if not accepted:
        server._link_data.pop(link.id, None)
    return accepted


def _closed(server: "Server", ptr: Any, handler: Optional[Callable[..., Any]],
            what: str) -> None:
    link = Link(server, ptr)
    try:
        if handler is not None:
            handler(link)
    except BaseException:
        log.exception("%s raised for link %d", what, link.id)
    finally:
        link._invalidate()
        server._link_data.pop(link.id, None)


def _disconnect(server: "Server", ptr: Any) -> None:
    _closed(server, ptr, server._wired.disconnect, "on_disconnect")


def _idle(server: "Server", ptr: Any) -> None:
    _closed(server, ptr, server._wired.idle, "on_idle")


def _thread_create(server: "Server", is_worker: int) -> int:
    state = _pin_thread_state()
    create = server._wired.thread_create
    try:
        data = create(bool(is_worker)) if create is not None else None
    except BaseException:
        log.exception("on_thread_create raised; the thread's data is None")
        data = None
    token = next(server._tokens)
    server._thread_data[token] = _ThreadSlot(state, data)
    return token


def _thread_exit(server: "Server", is_worker: int, token: Optional[int]) -> None:
    slot = server._thread_data.pop(token, None) if token else None
    exit_ = server._wired.thread_exit
    try:
        if exit_ is not None:
            exit_(bool(is_worker), slot.data if slot else None)
    except BaseException:
        log.exception("on_thread_exit raised")
    finally:
        if slot is not None:
            _unpin_thread_state(slot.gil_state)


class _Callbacks(NamedTuple):
    """One family's ctypes function objects for the trampolines above."""
    receive: Any
    disconnect: Any
    idle: Any
    thread_create: Any
    thread_exit: Any
    connect: Any


def _server_of(ctx: Optional[int]) -> "Server":
    """The Server a Context names. NULL (None) is the default server's Context: a cluster node
    on the default server (tcpserver.cluster) forwards its events with these callbacks."""
    return _by_context[ctx] if ctx is not None else _flat_owner


_EX_CALLBACKS = _Callbacks(
    receive=n.TOnReceiveEx(lambda ctx, ptr, address, length:
                           _receive(_server_of(ctx), ptr, address, length)),
    disconnect=n.TOnDisconnectEx(lambda ctx, ptr: _disconnect(_server_of(ctx), ptr)),
    idle=n.TOnLinkIdleOvertimeEx(lambda ctx, ptr: _idle(_server_of(ctx), ptr)),
    thread_create=n.TOnThreadCreateEx(lambda ctx, is_worker:
                                      _thread_create(_server_of(ctx), is_worker)),
    thread_exit=n.TOnThreadExitEx(lambda ctx, is_worker, token:
                                  _thread_exit(_server_of(ctx), is_worker, token)),
    connect=n.TOnConnectEx(lambda ctx, ptr: _connect(_server_of(ctx), ptr)),
)

_FLAT_CALLBACKS = _Callbacks(
    receive=n.TOnReceive(lambda ptr, address, length:
                         _receive(_flat_owner, ptr, address, length)),
    disconnect=n.TOnDisconnect(lambda ptr: _disconnect(_flat_owner, ptr)),
    idle=n.TOnLinkIdleOvertime(lambda ptr: _idle(_flat_owner, ptr)),
    thread_create=n.TOnThreadCreate(lambda is_worker: _thread_create(_flat_owner, is_worker)),
    thread_exit=n.TOnThreadExit(lambda is_worker, token:
                                _thread_exit(_flat_owner, is_worker, token)),
    connect=n.TOnConnect(lambda ptr: _connect(_flat_owner, ptr)),
)


def _null(callback: Any) -> Any:
    return type(callback)()  # a ctypes function type called without a target is NULL


# ------------------------------------------------------------------------------------------
# The two ways to reach an engine server: a handle (CreateTcpServer) or the flat API.
# ------------------------------------------------------------------------------------------


def _on_handle(name: str) -> Callable[..., Any]:
    """A method of _HandleEngine: the export `name` called with the engine server's handle
    first (looked up at the call: the library loads at its first use, not at import)."""
    def method(self: "_HandleEngine", *args: Any) -> Any:
        return getattr(n, name)(self.handle, *args)
    method.__name__ = name
    return method


def _flat(name: str) -> Any:
    """A method of _FlatEngine: the export `name` of the flat API (looked up at the call)."""
    def call(*args: Any) -> Any:
        return getattr(n, name)(*args)
    call.__name__ = name
    return staticmethod(call)


class _HandleEngine:
    """An engine server made by CreateTcpServer for one Server."""

    callbacks = _EX_CALLBACKS

    def __init__(self, context: int) -> None:
        handle = n.CreateTcpServer(context)
        if not handle:
            raise last_error("CreateTcpServer")
        self.handle: int = handle

    def destroy(self) -> None:
        if not n.DestroyTcpServer(self.handle):
            raise last_error("DestroyTcpServer")

    def wire(self, wiring: _Wiring) -> None:
        c = self.callbacks
        h = self.handle
        if not n.TcpServerSetEventProc(
                h, c.receive if wiring.receive else _null(c.receive),  # NULL: engine echoes
                c.disconnect, c.idle if wiring.idle else _null(c.idle),
                c.thread_create, c.thread_create):  # always: pins thread states
            raise last_error("start: TcpServerSetEventProc")
        if not n.TcpServerSetConnectProc(h, c.connect if wiring.connect else _null(c.connect)):
            raise last_error("start: TcpServerSetConnectProc")
        self.wire_thread_exit()

    def wire_thread_exit(self) -> None:
        if not n.TcpServerSetThreadExitProc(self.handle, self.callbacks.thread_exit):
            raise last_error("start: TcpServerSetThreadExitProc")

    start = _on_handle("TcpServerStart")
    stop = _on_handle("TcpServerStop")
    is_active = _on_handle("TcpServerIsActive")
    port = _on_handle("TcpServerGetPort")
    set_option = _on_handle("TcpServerSetOption")
    get_option = _on_handle("TcpServerGetOption")
    broadcast = _on_handle("TcpServerPostBroadcast")
    link_ids = _on_handle("TcpServerGetLinkIds")
    link_count = _on_handle("TcpServerGetLinkCount")
    iomem_free = _on_handle("TcpServerGetIOMemFree")
    worker_count = _on_handle("TcpServerGetWorkerCount")
    counter = _on_handle("TcpServerGetCounter")
    close_count = _on_handle("TcpServerGetCloseCount")
    link_free = _on_handle("TcpServerGetLinkFree")
    link_use = _on_handle("TcpServerGetLinkUse")
    link_size = _on_handle("TcpServerGetLinkSize")
    iomem_use = _on_handle("TcpServerGetIOMemUse")
    iomem_size = _on_handle("TcpServerGetIOMemSize")
    worker_id = _on_handle("TcpServerGetWorkerID")
    worker_exec_info = _on_handle("TcpServerGetWorkerExecInfo")
    exec_long = _on_handle("TcpServerGetExecLong")
    exec_count = _on_handle("TcpServerGetExecCount")
    tls_certificate = _on_handle("TcpServerSetTlsCertificate")
    tls_server_name = _on_handle("TcpServerAddTlsServerName")
    tls_alpn = _on_handle("TcpServerSetTlsAlpn")
    tls_client_ca = _on_handle("TcpServerSetTlsClientCA")
    tls_ciphers = _on_handle("TcpServerSetTlsCiphers")
    tls_ticket_keys = _on_handle("TcpServerSetTlsTicketKeys")
    tls_failure_count = _on_handle("TcpServerGetTlsFailureCount")


class _FlatEngine:
    """The process's default server, through the flat API of the original unit."""

    callbacks = _FLAT_CALLBACKS

    def destroy(self) -> None:
        """The default server is never destroyed."""

    def wire(self, wiring: _Wiring) -> None:
        c = self.callbacks
        n.SetEventProc(c.receive if wiring.receive else _null(c.receive),
                       c.disconnect, c.idle if wiring.idle else _null(c.idle),
                       c.thread_create, c.thread_create)
        if not n.SetConnectProc(c.connect if wiring.connect else _null(c.connect)):
            raise last_error("start: SetConnectProc")
        self.wire_thread_exit()

    def wire_thread_exit(self) -> None:
        if not n.SetThreadExitProc(self.callbacks.thread_exit):
            raise last_error("start: SetThreadExitProc")

    start = _flat("StartTcpServer")
    stop = _flat("StopTcpServerEx")
    is_active = _flat("IsTcpServerActive")
    port = _flat("GetServerPort")
    set_option = _flat("SetServerOption")
    get_option = _flat("GetServerOption")

    @staticmethod
    def broadcast(buffer: Any, size: int, except_id: int) -> int:
        # PostBroadcast when no link is excepted: it also runs on a 1.0 library.
        if except_id:
            return n.PostBroadcastExcept(buffer, size, except_id)
        return n.PostBroadcast(buffer, size)

    link_ids = _flat("GetLinkIds")
    link_count = _flat("GetLinkCount")
    iomem_free = _flat("GetIOMemFree")
    worker_count = _flat("GetWorkerCount")
    counter = _flat("GetServerCounter")
    close_count = _flat("GetCloseCount")
    link_free = _flat("GetLinkFree")
    link_use = _flat("GetLinkUse")
    link_size = _flat("GetLinkSize")
    iomem_use = _flat("GetIOMemUse")
    iomem_size = _flat("GetIOMemSize")
    worker_id = _flat("GetWorkerID")
    worker_exec_info = _flat("GetWorkerExecInfo")
    exec_long = _flat("GetServerExecLong")
    exec_count = _flat("GetServerExecCount")
    tls_certificate = _flat("SetTlsCertificate")
    tls_server_name = _flat("AddTlsServerName")
    tls_alpn = _flat("SetTlsAlpn")
    tls_client_ca = _flat("SetTlsClientCA")
    tls_ciphers = _flat("SetTlsCiphers")
    tls_ticket_keys = _flat("SetTlsTicketKeys")
    tls_failure_count = _flat("GetTlsFailureCount")


# Servers holding an engine server of their own (CreateTcpServer), freed at exit at the latest.
_with_engine_server: "weakref.WeakSet[Server]" = weakref.WeakSet()


def _destroy_engine(engine: _HandleEngine) -> None:
    """Free an engine server whose Server was garbage collected (it was not running)."""
    try:
        engine.destroy()
    except TcpServerError:
        log.exception("could not free an engine server")


# ------------------------------------------------------------------------------------------
# Options and statistics
# ------------------------------------------------------------------------------------------

# Both tables come from the generated layer (_abi), so an option or counter added to the header
# appears here with no edit: options by their attribute names (TS_OPT_MAX_LINKS: max_links),
# counters by theirs (TS_COUNTER_BYTES_IN: bytes_in).
_OPTIONS: Dict[str, n.Option] = dict(n.OPTION_NAMES)
_COUNTERS: Dict[str, n.Counter] = {counter.name.lower(): counter for counter in n.Counter}


_Figure = TypeVar("_Figure", int, float)


def _checked(value: _Figure, what: str) -> _Figure:
    """`value` of a statistics call, or the engine's error: they fail with a negative result."""
    if value < 0:
        raise last_error(what)
    return value


def counters() -> Dict[str, int]:
    """The default server's totals since the library loaded (they never reset). A Server's
    own are in server.counters()."""
    return {name: n.GetServerCounter(code) for name, code in _COUNTERS.items()}


@dataclass(frozen=True)
class Stats:
    """A snapshot of a server's statistics (see Server.stats()), as the engine reports them.
    Before the first start() the link and pool figures follow the options.

    Each counter of the header (TS_COUNTER_*) is in `counters` and is also an attribute of its
    own (stats.bytes_in, stats.accepts, ...): what the loaded binding's header has, with no
    list here to keep up to date."""
    links: int
    link_free: int
    link_use: float       # % of the link table in use
    link_size: int        # bytes of the link table (DefaultServer: at most 2**31 - 1)
    iomem_free: int
    iomem_use: float      # % of the pool
    iomem_size: int       # bytes of the pool (DefaultServer: at most 2**31 - 1)
    workers: int
    server_exec_long: int   # ms the service thread's last pass took
    server_exec_count: int  # service thread passes so far
    counters: Dict[str, int] = field(default_factory=dict)  # Counter name in lower case -> value

    def __getattr__(self, name: str) -> int:
        # Only called for names that are not fields: the counters.
        counters = self.__dict__.get("counters", {})
        if name in counters:
            return counters[name]
        raise AttributeError(f"Stats has no field or counter {name!r} (counters: "
                             f"{', '.join(counters)})")


class WorkerStats(NamedTuple):
    index: int       # 1..worker count
    thread_id: int   # OS thread id
    events: int      # callbacks/events the worker has run
    busy_ms: int     # ms busy since the previous worker_stats() call


_LINK_IDS_FIRST_GUESS = 64  # link_ids() asks again when more links are open

_WHOLE_SERVER: Any = object()  # close() without a link id closes the server itself

# ------------------------------------------------------------------------------------------
# Server
# ------------------------------------------------------------------------------------------


class Server(TlsSettings, n.OptionAttributes):
    """A TCP server. Construct, wire handlers, start(ip, port), stop(); close() (or leaving
    a `with` block) also frees its engine server. Several may run at once.

    Options: every TS_OPT_* of the header, as keyword arguments and attributes of the same
    name in lower case (TS_OPT_MAX_LINKS: max_links; the attributes and their docs come from
    the generated layer, tcpserver._abi.OptionAttributes, so a new option needs no edit here).
    They are kept by this object and applied at start(); an option never given (or given as
    None) keeps the engine's default. TLS: tls=True and a certificate (load_cert_chain); the
    other TLS settings are methods (TlsSettings, in the shape of ssl.SSLContext).
    """

    def __init__(self, **options: Optional[int]) -> None:
        self._options: Dict[str, int] = {}
        self._handlers: Dict[str, Callable[..., Any]] = {}
        self._link_data: Dict[int, Any] = {}
        self._thread_data: Dict[int, Any] = {}
        self._tokens = itertools.count(1)
        self._context = next(_context_keys)
        self._engine_server: Any = None
        self._freed_engine: Optional[_HandleEngine] = None  # what close() freed (see stats())
        self._finalizer: Optional[weakref.finalize] = None
        self._wired = _Wiring(None, None, None, None, None, None)
        # A cluster node on this server (tcpserver.cluster) wires its events through itself:
        # called instead of the engine's wire() at start().
        self._event_router: Optional[Callable[[Any, _Wiring], None]] = None
        unknown = sorted(set(options) - set(_OPTIONS))
        if unknown:
            raise TypeError(f"{type(self).__name__}() got unknown option(s) "
                            f"{', '.join(unknown)}; the options are: {', '.join(_OPTIONS)}")
        given = options
        self._init_tls()
        for name, value in given.items():
            if value is not None:
                setattr(self, name, value)
        _install_log_proc()

    # -- the engine server --------------------------------------------------------------------

    def _engine(self) -> Any:
        """This object's engine server, made on first use (again after close())."""
        engine = self._engine_server
        if engine is None:
            with _engine_lock:  # two threads' first calls must not make two
                engine = self._engine_server
                if engine is None:
                    engine = _HandleEngine(self._context)
                    try:
                        self._replay_tls(engine)  # what an earlier engine server was given
                    except TcpServerError:
                        _destroy_engine(engine)
                        raise
                    self._finalizer = weakref.finalize(self, _destroy_engine, engine)
                    self._finalizer.atexit = False  # _shutdown frees it after every stop
                    _with_engine_server.add(self)
                    self._engine_server = engine
                    self._freed_engine = None
        return engine

    def _destroy(self) -> None:
        """Free the engine server (it is stopped)."""
        finalizer, self._finalizer = self._finalizer, None
        engine, self._engine_server = self._engine_server, None
        _with_engine_server.discard(self)
        if finalizer is not None:
            finalizer.detach()
        if engine is not None:
            engine.destroy()
            self._freed_engine = engine

    def _is_running(self) -> bool:
        return _by_context.get(self._context) is self

    def _check_can_start(self) -> None:
        if self._is_running():
            raise TcpServerError(ErrorCode.ALREADY_ACTIVE,
                                 "start: this server is already running; stop it first")

    def _set_running(self, running: bool) -> None:
        if running:
            _by_context[self._context] = self
        else:
            _by_context.pop(self._context, None)

    # -- handlers (override, or set with @server.on_xxx) -------------------------------------

    @_Handler
    def on_connect(self, link: Link) -> Optional[bool]:
        """A new link, before its first on_receive. Return False to refuse it (the socket is
        closed and no other handler runs for it). Raising also refuses it."""
        return True

    @_Handler
    def on_receive(self, link: Link, data: memoryview) -> Optional[bool]:
        """Data arrived (with framing: one whole message). `data` is a memoryview over the
        engine's buffer, not a copy: it is valid only until the handler returns (bytes(data)
        copies it). Return False to close the link (pending sends flush first); None or True
        keeps it. Raising logs the exception and closes the link. Without a handler the
        engine echoes natively."""
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

    # -- options ----------------------------------------------------------------------------

    def _get_option(self, name: str, code: int) -> int:
        """An option attribute's value: what this object will apply, else the engine's."""
        value = self._options.get(name)
        return value if value is not None else int(self._engine().get_option(code))

    def _set_option(self, name: str, code: int, value: int) -> None:
        if self.active:
            raise TcpServerError(ErrorCode.ALREADY_ACTIVE,
                                 f"{name}: options apply at start(); stop the server first")
        value = min_version_value(value) if code == n.TS_OPT_TLS_MIN_VERSION else int(value)
        low, high = ctypes.c_int64(), ctypes.c_int64()
        if not n.GetServerOptionRange(code, ctypes.byref(low), ctypes.byref(high)):
            raise last_error(f"option {name}")
        if not low.value <= value <= high.value:
            raise TcpServerError(ErrorCode.OPTION_RANGE,
                                 f"option {name}={value} is out of range "
                                 f"({low.value}..{high.value})")
        self._options[name] = value

    # -- lifecycle --------------------------------------------------------------------------

    def start(self, ip: str = "", port: int = 0) -> "Server":
        """Bind ip ("" = all interfaces; IPv4 or IPv6 literal) and port (0 = ephemeral, see
        .port) and serve. Returns self, so `with Server().start(...) as s:` works."""
        with _lifecycle_lock:
            self._check_can_start()
            check_abi()
            engine = self._engine()
            for name, value in self._options.items():
                if not engine.set_option(_OPTIONS[name], value):
                    raise last_error(f"start: option {name}={value}")
            self._wired = _Wiring(*(self._resolve(name) for name in (
                "on_receive", "on_connect", "on_disconnect", "on_idle", "on_thread_create",
                "on_thread_exit")))
            if self._event_router is None:
                engine.wire(self._wired)
            else:
                self._event_router(engine, self._wired)
            self._link_data.clear()
            self._set_running(True)  # before the engine can call back
            if not engine.start(ip.encode("utf-8"), int(port)):
                error = last_error(f"start on [{ip or '*'}]:{port}")
                self._set_running(False)
                raise error
        return self

    def stop(self, timeout: Optional[float] = None) -> None:
        """Close the listener and every link (each gets on_disconnect, reason SERVER_STOP),
        wait for all handlers and join the engine threads. Idempotent. With a timeout (s),
        raises TcpServerError(TIMEOUT) if threads are still finishing: call stop() again.
        Raises TcpServerError(IN_CALLBACK) from inside one of its handlers (it would
        deadlock)."""
        if not self._is_running():
            return
        timeout_ms = -1 if timeout is None else max(0, int(timeout * 1000))
        if not self._engine_server.stop(timeout_ms):
            raise last_error("stop")
        self._set_running(False)

    def close(self, link_id: int = _WHOLE_SERVER, abort: bool = False) -> Optional[bool]:
        """close(): stop the server and free its engine server (a later start() makes a new
        one). close(link_id, abort=False): as close_link()."""
        if link_id is not _WHOLE_SERVER:
            return self.close_link(link_id, abort)
        self.stop()
        self._destroy()
        return None

    @property
    def active(self) -> bool:
        """True while this server is running."""
        return self._is_running() and bool(self._engine_server.is_active())

    @property
    def port(self) -> int:
        """The bound port (useful after start(port=0)); 0 when not running."""
        return self._engine_server.port() if self._is_running() else 0

    def __enter__(self) -> "Server":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = f"running on port {self.port}" if self.active else "stopped"
        return f"<{type(self).__name__} {state}>"

    # -- sending, closing and flow control (any thread, any time) ---------------------------

    def send(self, link_id: int, data: BytesLike) -> None:
        """Copy `data` (any length) into the send queue of link `link_id`. Raises
        TcpServerError when nothing could be queued (e.g. LINK_CLOSED, SEND_QUEUE_FULL)."""
        buffer, size = as_buffer(data)
        if size and not n.SendBufferById(link_id, buffer, size):
            raise last_error(f"send to link {link_id}")

    def broadcast(self, data: BytesLike, except_id: int = 0) -> int:
        """Send `data` (copied once) to every open link of this server but `except_id`
        (0 = none); returns how many it was queued to."""
        buffer, size = as_buffer(data)
        if not size:
            return 0
        count = self._engine().broadcast(buffer, size, except_id)
        if count < 0:
            raise last_error("broadcast")
        return count

    def close_link(self, link_id: int, abort: bool = False) -> bool:
        """Close link `link_id` (pending sends flush first unless abort). Returns False if it
        is already closed or gone; on_disconnect follows otherwise (reason BY_APP)."""
        if n.CloseLinkByIdEx(link_id, n.TS_CLOSE_FLAG_ABORT if abort else 0):
            return True
        error = last_error(f"close link {link_id}")
        if error.code == ErrorCode.LINK_CLOSED:
            return False
        raise error

    def pause(self, link_id: int) -> None:
        """Stop reading from link `link_id` (TCP backpressure reaches the peer); sends still
        go out and its idle clock runs. Pausing a paused link changes nothing."""
        if not n.PauseReceiveById(link_id):
            raise last_error(f"pause link {link_id}")

    def resume(self, link_id: int) -> None:
        """Read from link `link_id` again after pause()."""
        if not n.ResumeReceiveById(link_id):
            raise last_error(f"resume link {link_id}")

    def queued_bytes(self, link_id: int) -> int:
        """Bytes queued on link `link_id` and not yet written to its socket."""
        queued = n.GetSendQueueBytesById(link_id)
        if queued < 0:
            raise last_error(f"queued bytes of link {link_id}")
        return queued

    def link_ids(self) -> List[int]:
        """The ids of this server's open links (each was open during the call)."""
        engine = self._engine()
        capacity = _LINK_IDS_FIRST_GUESS
        while True:
            ids = (ctypes.c_uint64 * capacity)()
            count = engine.link_ids(ids, capacity)
            if count < 0:
                raise last_error("link ids")
            if count <= capacity:
                return list(ids[:count])
            capacity = count * 2  # links arrived meanwhile: ask again with room to spare

    # -- statistics ---------------------------------------------------------------------------

    def _statistics_engine(self) -> Any:
        """The engine server statistics are read from. After close() it is the freed one, so
        the engine itself reports the handle as gone until start() makes a new one."""
        if self._engine_server is None and self._freed_engine is not None:
            return self._freed_engine
        return self._engine()

    def counters(self) -> Dict[str, int]:
        """This server's totals since its engine server was made (they never reset). After
        a Server's close() raises TcpServerError(INVALID_ARGUMENT) until the next start()."""
        engine = self._statistics_engine()
        return {name: _checked(engine.counter(code), f"counters: {name}")
                for name, code in _COUNTERS.items()}

    def close_count(self, reason: int) -> int:
        """Links this server closed with `reason` (a CloseReason / TS_CLOSE_* value) since its
        engine server was made; refused links never opened and are not counted."""
        return _checked(self._statistics_engine().close_count(int(reason)),
                        f"close_count({reason})")

    def stats(self) -> Stats:
        """A snapshot of this server's statistics and counters, from the engine. After a
        Server's close() raises TcpServerError(INVALID_ARGUMENT) until the next start()."""
        engine = self._statistics_engine()
        return Stats(links=_checked(engine.link_count(), "stats: link count"),
                     link_free=_checked(engine.link_free(), "stats: link free"),
                     link_use=_checked(engine.link_use(), "stats: link use"),
                     link_size=_checked(engine.link_size(), "stats: link size"),
                     iomem_free=_checked(engine.iomem_free(), "stats: IO pool free"),
                     iomem_use=_checked(engine.iomem_use(), "stats: IO pool use"),
                     iomem_size=_checked(engine.iomem_size(), "stats: IO pool size"),
                     workers=_checked(engine.worker_count(), "stats: worker count"),
                     server_exec_long=_checked(engine.exec_long(), "stats: service exec long"),
                     server_exec_count=_checked(engine.exec_count(),
                                                "stats: service exec count"),
                     counters=self.counters())

    def worker_stats(self) -> List[WorkerStats]:
        """Per worker of the running server: its OS thread id, the events it has run, and the
        ms it was busy since the previous call (which restarts that clock). Empty while
        stopped; raises TcpServerError after a Server's close(), or if it stops meanwhile."""
        engine = self._statistics_engine()
        result = []
        for index in range(1, _checked(engine.worker_count(), "worker_stats: count") + 1):
            busy = ctypes.c_uint32()
            events = _checked(engine.worker_exec_info(index, ctypes.byref(busy)),
                              f"worker_stats: worker {index}")
            # Thread id 0 (not known yet) is no failure: the index was just accepted.
            result.append(WorkerStats(index, engine.worker_id(index), events, busy.value))
        return result


class DefaultServer(Server):
    """The process's default server, driven through the flat API of the original unit
    (StartTcpServer, SetEventProc, ...): the server that C, Pascal or C# code in the same
    process reaches with those functions. One DefaultServer runs at a time; it keeps the
    engine's current options for those it does not set. close() only stops it."""

    _FLAT = _FlatEngine()

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self._engine_server = self._FLAT

    def _engine(self) -> Any:
        return self._FLAT

    def _destroy(self) -> None:
        """The default server lives as long as the library."""

    def _is_running(self) -> bool:
        return _flat_owner is self

    def _check_can_start(self) -> None:
        if _flat_owner is not None or n.IsTcpServerActive():
            raise TcpServerError(ErrorCode.ALREADY_ACTIVE,
                                 "start: the default server is already running in this "
                                 "process (it runs one at a time); stop it first")

    def _set_running(self, running: bool) -> None:
        global _flat_owner
        if running:
            _flat_owner = self
        elif _flat_owner is self:
            _flat_owner = None


# ------------------------------------------------------------------------------------------
# Library-wide helpers
# ------------------------------------------------------------------------------------------


def version() -> str:
    """The loaded library's version text, e.g. "tcpserver 1.2.0"."""
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
