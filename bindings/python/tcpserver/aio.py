"""tcpserver.aio: a server whose handlers are coroutines on an asyncio event loop.

tcpserver.Server calls its handlers on the engine's threads. AsyncServer runs a Server whose
handlers only hand each event to the loop (with loop.call_soon_threadsafe), and there awaits
the coroutine handlers:

    server = AsyncServer(worker_threads=2)

    @server.on_receive
    async def echo(link: AsyncLink, data: bytes) -> None:
        link.send(data)

    async with await server.start("127.0.0.1", 7000):
        ...

Threads: the engine threads run this module's small handlers (copy the data, count it, post it
to the loop); everything else, every coroutine handler included, runs on the loop's thread.
Order: one task per link awaits its handlers one at a time, in the engine's order: on_connect,
on_receive per chunk (or message, with framing) in stream order, then on_disconnect once.
Handlers of different links run concurrently, as tasks do.

Backpressure: received bytes a link's task has not handled yet are counted per link; above
`receive_high_water` the engine stops reading that link (TCP backpressure reaches the peer)
until its task has worked the count down to half of it. Sends copy into the engine's queue at
once and never block the loop; `await link.drain()` waits until a link's queue is short again.

Owned here: AsyncServer, AsyncLink and the per-link tasks. Called from: the loop's thread
(everything public), engine threads (the _Bridge handlers only).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from typing import Any, Awaitable, Callable, Dict, Optional, Set, Tuple, TypeVar

from .errors import ErrorCode, TcpServerError
from .link import BytesLike, CloseReason, Link
from .server import Server, Stats

__all__ = ["AsyncLink", "AsyncServer"]

log = logging.getLogger("tcpserver")

DEFAULT_RECEIVE_HIGH_WATER = 1 << 20  # bytes per link handed to the loop and not yet handled
_DRAIN_FIRST_WAIT = 0.001             # drain() polls the engine's queue: 1 ms, doubling ...
_DRAIN_LONGEST_WAIT = 0.05            # ... up to 50 ms between looks

_Handler = TypeVar("_Handler", bound=Callable[..., Awaitable[Any]])


class AsyncLink:
    """One connection, as the loop sees it. Unlike tcpserver.Link it stays usable after a
    handler returns: it holds the link's id and what was known when it connected. Sending to a
    link that has closed raises TcpServerError(LINK_CLOSED)."""

    __slots__ = ("_server", "id", "remote_address", "data", "close_reason", "closed",
                 "_lock", "_pending", "_paused", "_refused", "_queue", "_task")

    def __init__(self, server: "AsyncServer", link: Link) -> None:
        self._server = server
        self.id: int = link.id                                    #: unique, never reused
        self.remote_address: Tuple[str, int] = link.remote_address  #: (ip, port) of the peer
        self.data: Any = None                 #: anything the application keeps with the link
        self.close_reason: CloseReason = CloseReason.NONE  #: set before on_disconnect runs
        self.closed = False                   #: True once the engine closed the link
        self._lock = threading.Lock()         # _pending and _paused, from engine and loop
        self._pending = 0                     # bytes posted to the loop, not yet handled
        self._paused = False                  # the engine is not reading it (our pause)
        self._refused = False                 # on_connect said no: no other handler runs
        self._queue: "Optional[asyncio.Queue[Tuple[str, Any]]]" = None  # made on the loop
        self._task: "Optional[asyncio.Task[None]]" = None

    def send(self, data: BytesLike) -> None:
        """Copy `data` into the link's send queue (any length); never blocks. Raises
        TcpServerError if nothing could be queued (link closed, queue over its limit)."""
        self._server.server.send(self.id, data)

    def close(self, abort: bool = False) -> bool:
        """Close the link (pending sends flush first unless abort); on_disconnect follows.
        False if it was already closed."""
        return self._server.server.close_link(self.id, abort)

    @property
    def queued_bytes(self) -> int:
        """Bytes queued on the link and not yet written to its socket (0 once it closed)."""
        try:
            return self._server.server.queued_bytes(self.id)
        except TcpServerError as error:
            if error.code in (ErrorCode.LINK_CLOSED, ErrorCode.NOT_A_LINK):
                return 0
            raise

    async def drain(self, limit: int = 0, timeout: Optional[float] = None) -> None:
        """Wait until at most `limit` bytes are queued on the link (or it closed). The engine
        tells no one when a queue shrinks, so this looks every few ms (1 ms, doubling up to
        50 ms). Raises asyncio.TimeoutError after `timeout` seconds."""
        async def wait() -> None:
            pause = _DRAIN_FIRST_WAIT
            while self.queued_bytes > limit:
                await asyncio.sleep(pause)
                pause = min(pause * 2, _DRAIN_LONGEST_WAIT)
        await asyncio.wait_for(wait(), timeout)

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<AsyncLink {self.id} {self.remote_address[0]}:{self.remote_address[1]} {state}>"


class _Bridge(Server):
    """The engine-side half: handlers that run on engine threads, copy what the loop needs and
    post it there. Nothing here waits for the loop (an engine thread that waited for the loop
    while the loop waited in stop() would deadlock)."""

    def __init__(self, owner: "AsyncServer", **options: Optional[int]) -> None:
        super().__init__(**options)
        self._owner = owner

    def on_connect(self, link: Link) -> bool:
        owner = self._owner
        async_link = AsyncLink(owner, link)
        link.data = async_link
        return owner._post(owner._open, async_link)

    def on_receive(self, link: Link, data: memoryview) -> bool:
        owner = self._owner
        async_link: AsyncLink = link.data
        size = len(data)
        with async_link._lock:
            async_link._pending += size
            if async_link._pending > owner.receive_high_water and not async_link._paused:
                async_link._paused = True  # under the lock: a resume cannot overtake it
                link.pause()
        return owner._post(owner._put, async_link, ("receive", bytes(data)))

    def on_disconnect(self, link: Link) -> None:
        owner = self._owner
        async_link: Optional[AsyncLink] = link.data
        if async_link is not None:
            owner._post(owner._put, async_link, ("close", link.close_reason))


class _AsyncHandler:
    """A handler slot of AsyncServer: its body is the default. server.on_xxx called with one
    coroutine function registers it (a decorator); called with a link it runs the registered
    handler, else the default. A subclass may simply override it with an `async def`."""

    def __init__(self, default: Callable[..., Awaitable[Any]]) -> None:
        self.default = default
        self.name = default.__name__
        functools.update_wrapper(self, default)  # docs tools see the default's signature

    def __call__(self, *args: Any) -> Any:
        return self.default(*args)

    def __get__(self, server: Optional["AsyncServer"], owner: Optional[type] = None) -> Any:
        if server is None:
            return self
        slot = self

        def call(*args: Any) -> Any:
            if len(args) == 1 and not isinstance(args[0], AsyncLink) and callable(args[0]):
                return server.handler(slot.name)(args[0])
            registered = server._handlers.get(slot.name)
            if registered is not None:
                return registered(*args)
            return slot.default(server, *args)
        call.__name__ = self.name
        call.__doc__ = self.__doc__
        return call


class AsyncServer:
    """A tcpserver Server whose handlers are coroutines run on an asyncio loop (see the module's
    doc). Handlers: override on_connect / on_receive / on_disconnect in a subclass with
    `async def`, or set them with the decorators @server.on_connect etc. Options are those of
    tcpserver.Server (keyword arguments); `receive_high_water` bounds the bytes per link
    waiting for the loop. `server` is the underlying tcpserver.Server (statistics, options)."""

    def __init__(self, *, receive_high_water: int = DEFAULT_RECEIVE_HIGH_WATER,
                 **options: Optional[int]) -> None:
        if receive_high_water < 1:
            raise ValueError("receive_high_water must be at least 1 byte")
        self.receive_high_water = receive_high_water
        self.server: Server = _Bridge(self, **options)
        self._handlers: Dict[str, Callable[..., Awaitable[Any]]] = {}
        self._links: Dict[int, AsyncLink] = {}
        self._tasks: Set["asyncio.Task[None]"] = set()
        self._loop: Optional[asyncio.AbstractEventLoop] = None

    # -- handlers ---------------------------------------------------------------------------

    @_AsyncHandler
    async def on_connect(self, link: AsyncLink) -> Optional[bool]:
        """A new link, before its first on_receive. Returning False closes it (it was
        accepted already: the engine asks its threads, not the loop); no other handler then
        runs for it."""
        return True

    @_AsyncHandler
    async def on_receive(self, link: AsyncLink, data: bytes) -> Optional[bool]:
        """Data arrived (a copy: keep it as long as you like). Returning False closes the
        link; raising logs the exception and closes it. Without a handler: echo."""
        link.send(data)
        return True

    @_AsyncHandler
    async def on_disconnect(self, link: AsyncLink) -> None:
        """The link closed (link.close_reason says why); its last handler."""

    def handler(self, name: str) -> Callable[[_Handler], _Handler]:
        """A decorator that sets the handler `name` ("on_connect", "on_receive",
        "on_disconnect") of this server to a coroutine function."""
        if name not in ("on_connect", "on_receive", "on_disconnect"):
            raise ValueError(f"no handler {name!r}: on_connect, on_receive or on_disconnect")

        def register(function: _Handler) -> _Handler:
            if not asyncio.iscoroutinefunction(function):
                raise TypeError(f"{name} handler must be a coroutine function (async def)")
            if self.active:
                raise TcpServerError(ErrorCode.ALREADY_ACTIVE,
                                     f"{name}: stop the server before changing its handlers")
            self._handlers[name] = function
            return function
        return register

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, ip: str = "", port: int = 0) -> "AsyncServer":
        """Serve on ip:port (port 0: ephemeral, see .port) with handlers on the running loop.
        Returns self, so `async with await server.start(...)` works."""
        self._loop = asyncio.get_running_loop()
        self.server.start(ip, port)
        return self

    async def stop(self, timeout: Optional[float] = None) -> None:
        """Stop the engine server (every link gets on_disconnect, reason SERVER_STOP) without
        blocking the loop, then wait until every link's task has run its last handler."""
        if self._loop is None:
            return
        await self._loop.run_in_executor(None, self.server.stop, timeout)
        current = asyncio.current_task()
        tasks = [task for task in self._tasks if task is not current]
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)

    async def close(self) -> None:
        """stop(), then free the engine server (a later start() makes a new one)."""
        await self.stop()
        self.server.close()

    async def __aenter__(self) -> "AsyncServer":
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    @property
    def active(self) -> bool:
        return self.server.active

    @property
    def port(self) -> int:
        return self.server.port

    @property
    def links(self) -> Dict[int, AsyncLink]:
        """The open links by id (a copy)."""
        return dict(self._links)

    def send(self, link_id: int, data: BytesLike) -> None:
        """Send to a link by id (see AsyncLink.send)."""
        self.server.send(link_id, data)

    def broadcast(self, data: BytesLike, except_id: int = 0) -> int:
        """Send `data` to every open link but `except_id`; returns how many."""
        return self.server.broadcast(data, except_id)

    def stats(self) -> Stats:
        return self.server.stats()

    def counters(self) -> Dict[str, int]:
        return self.server.counters()

    # -- engine thread -> loop ----------------------------------------------------------------

    def _post(self, callback: Callable[..., None], *args: Any) -> bool:
        """Run callback(*args) on the loop soon (from an engine thread). False if the loop is
        closed: the event has nowhere to go, and the link is closed."""
        loop = self._loop
        if loop is None:
            return False
        try:
            loop.call_soon_threadsafe(callback, *args)
            return True
        except RuntimeError:  # the loop was closed under a running server
            log.warning("tcpserver.aio: the event loop is closed; closing the link")
            return False

    def _open(self, link: AsyncLink) -> None:
        link._queue = asyncio.Queue()
        self._links[link.id] = link
        task = asyncio.ensure_future(self._serve(link))
        link._task = task
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _put(self, link: AsyncLink, event: Tuple[str, Any]) -> None:
        assert link._queue is not None  # _open was posted before any event of the link
        link._queue.put_nowait(event)

    # -- the loop: one task per link ----------------------------------------------------------

    async def _serve(self, link: AsyncLink) -> None:
        assert link._queue is not None
        try:
            if not await self._run("on_connect", link):
                link._refused = True
                link.close()
            while True:
                kind, value = await link._queue.get()
                if kind == "close":
                    link.closed = True
                    link.close_reason = value
                    if not link._refused:
                        await self._run("on_disconnect", link)
                    return
                try:
                    if not link._refused and not await self._run("on_receive", link, value):
                        link.close()
                finally:
                    self._handled(link, len(value))
        finally:
            self._links.pop(link.id, None)

    async def _run(self, name: str, link: AsyncLink, *args: Any) -> bool:
        """Await one handler: True to keep the link (None and truthy results keep it); an
        exception is logged and closes it."""
        try:
            result = await getattr(self, name)(link, *args)
        except Exception:
            log.exception("%s raised for link %d; closing the link", name, link.id)
            return False
        return result is None or bool(result)

    def _handled(self, link: AsyncLink, size: int) -> None:
        """`size` received bytes were handled: resume reading below half the high-water mark."""
        with link._lock:
            link._pending -= size
            if link._paused and link._pending <= self.receive_high_water // 2:
                link._paused = False
                try:
                    self.server.resume(link.id)
                except TcpServerError as error:
                    if error.code not in (ErrorCode.LINK_CLOSED, ErrorCode.NOT_A_LINK):
                        raise
