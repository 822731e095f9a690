"""ClusterNode: joins a Server to other servers (in this or other processes and machines)
through Redis, on the cluster library (libtcpcluster.so, tcpcluster.h).

    from tcpserver import Server
    from tcpserver.cluster import ClusterNode

    server = Server()
    node = ClusterNode(server, "redis://127.0.0.1:6379", name="chat-1")

    @server.on_receive
    def chat(link, data):
        node.broadcast(data)                 # every link of every node

    node.start()
    server.start("0.0.0.0", 7000)
    ...
    node.close()                             # stops the server first, then frees the node

A node gives its server a broadcast that reaches every link of every node, sends to a link on
any node by (node id, link id), topics delivered to on_topic on every node, and presence keys
(a name held by one link; send to the name wherever it is). Delivery to other nodes is at most
once: what was lost is counted (counters(): queue_dropped, down_dropped, gaps, ...) and
reported (on_gap, on_send_failed). Local delivery happens in the call and never waits for Redis.
The link to Redis is not encrypted: run Redis on a private network (AUTH works:
redis://:password@host:port).

The node sits between the engine and the server's handlers (it removes a closed link's keys),
so create it while the server is stopped; the server's handlers work as before. The library
exists on Linux only: elsewhere ClusterNode() raises ClusterLibraryNotFoundError saying so.

Threads: every method may be called from any thread (handlers included), except start(),
stop() and close() from the node's own handlers. The node's handlers run on the library's
threads (on_topic also inside publish() for this node's own topics); an exception raised in
one is logged and goes no further.
"""

from __future__ import annotations

import atexit
import ctypes
import enum
import itertools
import logging
import threading
from dataclasses import dataclass
from typing import Any, Callable, Dict, Optional

from . import _cluster_abi as c
from . import server as _server
from ._cluster_native import ClusterLibraryNotFoundError, library
from .link import BytesLike, as_buffer
from .server import Server, _Handler, _null

log = logging.getLogger("tcpserver.cluster")

__all__ = ["Channel", "ClusterError", "ClusterErrorCode", "ClusterLibraryNotFoundError",
           "ClusterNode", "ClusterState", "SendFailure", "SendFailureReason", "OPTION_NAMES",
           "COUNTER_NAMES", "cluster_version"]


def _family(prefix: str, **extra: int) -> Dict[str, int]:
    """The header's constants of one family, by their name without the prefix."""
    found = {name[len(prefix):]: value for name, value in vars(c).items()
             if name.startswith(prefix) and isinstance(value, int)}
    found.update(extra)
    return found


# Enums made from the generated constants, so they follow the header.
ClusterErrorCode = enum.IntEnum("ClusterErrorCode", _family("TC_ERR_", OK=c.TC_OK))
ClusterErrorCode.__doc__ = "TcpClusterGetLastErrorCode() values (TC_ERR_*)."
ClusterState = enum.IntEnum("ClusterState", _family("TC_STATE_"))
ClusterState.__doc__ = "A node's state (TC_STATE_*)."
SendFailureReason = enum.IntEnum("SendFailureReason", _family("TC_SEND_"))
SendFailureReason.__doc__ = "Why a directed send failed after its call (TC_SEND_*)."
Channel = enum.IntEnum("Channel", _family("TC_CHANNEL_"))
Channel.__doc__ = "What a gap was counted on (TC_CHANNEL_*)."

#: Option keyword -> TC_OPT_* (e.g. key_ttl_ms -> TC_OPT_KEY_TTL_MS); bounds in _cluster_abi.
OPTION_NAMES: Dict[str, int] = {name.lower(): value
                                for name, value in _family("TC_OPT_").items()}
#: counters() key -> TC_COUNTER_* (e.g. queue_dropped -> TC_COUNTER_QUEUE_DROPPED).
COUNTER_NAMES: Dict[str, int] = {name.lower(): value
                                 for name, value in _family("TC_COUNTER_").items()}


class ClusterError(Exception):
    """A cluster call failed. `code` is a ClusterErrorCode (a plain int for one this binding
    does not know), `text` says what went wrong and what to do."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        try:
            self.code: int = ClusterErrorCode(code)
        except ValueError:
            self.code = code
        self.text = text

    def __str__(self) -> str:
        name = self.code.name if isinstance(self.code, ClusterErrorCode) else "unknown"
        return f"{self.text} [tcpcluster error {int(self.code)}: {name}]"


def _last_error(what: str) -> ClusterError:
    """The calling thread's last cluster error (right after the failing call, same thread)."""
    lib = library()
    raw = lib.TcpClusterGetLastErrorText()
    text = raw.decode("utf-8", "replace") if raw else "no error text"
    return ClusterError(lib.TcpClusterGetLastErrorCode(), f"{what}: {text}")


@dataclass(frozen=True)
class SendFailure:
    """A directed send that failed after its call returned (on_send_failed)."""
    tag: int                    # what send_to_link / send_to_key was given
    reason: SendFailureReason   # or a plain int this binding does not know
    node: int                   # the target node (0 if unknown)
    link_id: int                # the target link (0 if unknown)
    key: str                    # the key of a send_to_key, else ""
    text: str                   # what happened, for people


def cluster_version() -> int:
    """TCPCLUSTER_VERSION_NUMBER of the loaded cluster library (major*10000+minor*100+patch)."""
    return library().TcpClusterGetVersion()


# ------------------------------------------------------------------------------------------
# The library's callbacks, one set for every node: the Context is the node's key.
# ------------------------------------------------------------------------------------------

_nodes: Dict[int, "ClusterNode"] = {}  # nodes the library holds (create .. destroy)
_node_keys = itertools.count(1)        # Context 0 would arrive as NULL
_nodes_lock = threading.Lock()


def _text(raw: Optional[bytes]) -> str:
    return raw.decode("utf-8", "replace") if raw else ""


def _dispatch(ctx: Optional[int], name: str, *args: Any) -> None:
    node = _nodes.get(ctx) if ctx is not None else None
    if node is None:
        return
    try:
        getattr(node, name)(*args)
    except BaseException:  # nothing may unwind into the library
        log.exception("%s raised (node %d); the node goes on", name, node._id)


def _as_enum(kind: Any, value: int) -> Any:
    try:
        return kind(value)
    except ValueError:
        return value


_ON_TOPIC = c.TOnClusterTopic(
    lambda ctx, topic, publisher, data, length: _dispatch(
        ctx, "on_topic", _text(topic), publisher, ctypes.string_at(data, length) if length else b""))
_ON_SEND_FAILED = c.TOnClusterSendFailed(
    lambda ctx, tag, reason, node, link_id, key, text: _dispatch(
        ctx, "on_send_failed", SendFailure(tag, _as_enum(SendFailureReason, reason), node,
                                           link_id, _text(key), _text(text))))
_ON_GAP = c.TOnClusterGap(
    lambda ctx, publisher, channel, missed: _dispatch(
        ctx, "on_gap", publisher, _as_enum(Channel, channel), missed))
_ON_STATE = c.TOnClusterState(
    lambda ctx, state, text: _dispatch(ctx, "on_state", _as_enum(ClusterState, state),
                                       _text(text)))


@atexit.register
def _stop_nodes_at_exit() -> None:
    # The library's threads must not call into an interpreter that is finalizing. (Registered
    # after tcpserver.server's, so it runs before the servers stop.)
    for node in list(_nodes.values()):
        try:
            node.stop()
        except ClusterError:
            log.exception("could not stop %r at exit", node)


# ------------------------------------------------------------------------------------------
# ClusterNode
# ------------------------------------------------------------------------------------------


class ClusterNode:
    """A cluster node for one server (a Server, or the DefaultServer), through Redis.

    redis_url: redis://[[user]:password@]host[:port][/db]. prefix: the start of every Redis key
    and channel (nodes with the same prefix form one cluster; None = "tcpcluster:"). name: free
    text stored in the node's liveness key. Options (keywords of OPTION_NAMES, e.g.
    key_ttl_ms=5000, queue_messages=10000) apply at once; the node must be stopped to change
    them. Raises ClusterError (bad URL, bad option, the server is running, ...) or
    ClusterLibraryNotFoundError.
    """

    def __init__(self, server: Server, redis_url: str, *, prefix: Optional[str] = None,
                 name: Optional[str] = None, **options: int) -> None:
        unknown = sorted(set(options) - set(OPTION_NAMES))
        if unknown:
            raise TypeError(f"ClusterNode: unknown option(s) {', '.join(unknown)} (known: "
                            f"{', '.join(sorted(OPTION_NAMES))})")
        self._lib = library()
        self._handlers: Dict[str, Callable[..., Any]] = {}
        self._server = server
        self._key = next(_node_keys)
        engine = server._engine()
        handle = engine.handle if isinstance(engine, _server._HandleEngine) else None
        node = self._lib.TcpClusterCreate(handle, redis_url.encode("utf-8"),
                                          prefix.encode("utf-8") if prefix is not None else None,
                                          name.encode("utf-8") if name is not None else None,
                                          self._key)
        if not node:
            raise _last_error("ClusterNode")
        self._node: Optional[int] = node
        with _nodes_lock:
            _nodes[self._key] = self
        self._id = self._lib.TcpClusterGetNodeId(node)
        try:
            for option, value in options.items():
                self.set_option(option, value)
        except BaseException:
            self.close()
            raise
        server._event_router = self._route_events

    # -- handlers (override in a subclass, or set with @node.on_xxx) --------------------------

    @_Handler
    def on_topic(self, topic: str, publisher: int, data: bytes) -> None:
        """A message published on `topic` by node `publisher` (this node's own included, inside
        its publish() call). Runs on the subscribing thread: a handler that blocks stalls
        this node's whole subscription."""

    @_Handler
    def on_send_failed(self, failure: SendFailure) -> None:
        """A send_to_link / send_to_key failed after its call returned (the node is gone, the
        link closed there, no link holds the key, the connection to Redis broke). Counted in
        counters()['send_failed']. Without a handler it is logged."""
        log.warning("node %d: send (tag %d) failed: %s", self._id, failure.tag, failure.text)

    @_Handler
    def on_gap(self, publisher: int, channel: Channel, missed: int) -> None:
        """`missed` messages from node `publisher` on `channel` never arrived here (counted in
        counters()['gaps']). Without a handler it is logged."""
        log.warning("node %d: %d messages from node %d on %s never arrived", self._id, missed,
                    publisher, getattr(channel, "name", channel))

    @_Handler
    def on_state(self, state: ClusterState, text: str) -> None:
        """The node's state changed (connecting, connected, disconnected, stopped); `text`
        says why. Without a handler it is logged."""
        log.info("node %d: %s: %s", self._id, getattr(state, "name", state), text)

    def _register(self, name: str, fn: Callable[..., Any]) -> None:
        if not callable(fn):
            raise TypeError(f"{name} handler must be callable, not {type(fn).__name__}")
        if self.state != ClusterState.STOPPED:
            raise ClusterError(ClusterErrorCode.ALREADY_STARTED,
                               f"{name}: handlers are wired at start(); stop the node first")
        self._handlers[name] = fn

    def _route_events(self, engine: Any, wiring: Any) -> None:
        """Server.start() wires the server's handlers through the node (the node records
        links and removes a closed link's keys, then calls them)."""
        cb = _server._EX_CALLBACKS  # Context NULL (the default server) is understood too
        node = self._live()
        if not self._lib.TcpClusterSetEventProc(
                node, cb.receive if wiring.receive else _null(cb.receive), cb.disconnect,
                cb.idle if wiring.idle else _null(cb.idle), cb.thread_create, cb.thread_create):
            raise _last_error("start: TcpClusterSetEventProc")
        if not self._lib.TcpClusterSetConnectProc(
                node, cb.connect if wiring.connect else _null(cb.connect)):
            raise _last_error("start: TcpClusterSetConnectProc")
        engine.wire_thread_exit()

    # -- lifecycle ------------------------------------------------------------------------------

    def _live(self) -> int:
        if self._node is None:
            raise ClusterError(ClusterErrorCode.INVALID_ARGUMENT,
                               "this ClusterNode was closed; make a new one")
        return self._node

    def start(self) -> "ClusterNode":
        """Start the node's threads; they connect to Redis in the background (start succeeds
        while Redis is down: on_state reports, the node keeps trying). A start after a stop
        draws a new node id. Start the server before or after, as you like."""
        node = self._live()
        if not self._lib.TcpClusterSetClusterProc(node, _ON_TOPIC, _ON_SEND_FAILED, _ON_GAP,
                                                  _ON_STATE):
            raise _last_error("start: TcpClusterSetClusterProc")
        if not self._lib.TcpClusterStart(node):
            raise _last_error("start")
        self._id = self._lib.TcpClusterGetNodeId(node)
        return self

    def stop(self) -> None:
        """Publish what is queued (bounded by reply_timeout_ms), delete the node's keys in
        Redis, disconnect, join the threads. Local delivery goes on; remote parts are then
        dropped and counted (down_dropped). Idempotent."""
        if self._node is not None and not self._lib.TcpClusterStop(self._node):
            raise _last_error("stop")

    def close(self) -> None:
        """Stop the node, stop its server if it runs (its events go through the node), and
        free the node: the server gets its own handlers back and can run without it."""
        if self._node is None:
            return
        self.stop()
        self._server.stop()
        if not self._lib.TcpClusterDestroy(self._node):
            raise _last_error("close")
        self._node = None
        if self._server._event_router == self._route_events:
            self._server._event_router = None
        with _nodes_lock:
            _nodes.pop(self._key, None)

    def __enter__(self) -> "ClusterNode":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        state = getattr(self.state, "name", "closed").lower() if self._node else "closed"
        return f"<ClusterNode {self._id} {state}>"

    @property
    def id(self) -> int:
        """The node's id: 64 random bits, never 0, never repeated (a new one at each start
        after a stop). Other nodes address this node's links with it."""
        return self._id

    @property
    def state(self) -> ClusterState:
        """STOPPED, CONNECTING, CONNECTED or DISCONNECTED (reconnecting)."""
        state = self._lib.TcpClusterGetState(self._live())
        if state < 0:
            raise _last_error("state")
        return _as_enum(ClusterState, state)

    # -- options -------------------------------------------------------------------------------

    def set_option(self, name: str, value: int) -> None:
        """Set an option (a keyword of OPTION_NAMES) while the node is stopped."""
        code = OPTION_NAMES.get(name)
        if code is None:
            raise ClusterError(ClusterErrorCode.UNKNOWN_OPTION, f"unknown option {name!r}")
        if not self._lib.TcpClusterSetOption(self._live(), code, int(value)):
            raise _last_error(f"option {name}={value}")

    def get_option(self, name: str) -> int:
        code = OPTION_NAMES.get(name)
        if code is None:
            raise ClusterError(ClusterErrorCode.UNKNOWN_OPTION, f"unknown option {name!r}")
        value = self._lib.TcpClusterGetOption(self._live(), code)
        if value < 0:
            raise _last_error(f"option {name}")
        return value

    # -- messages (any thread; none waits on Redis) ----------------------------------------------

    def broadcast(self, data: BytesLike, except_id: int = 0) -> int:
        """`data` (1 byte .. max_message) to every open link of every node, but link
        `except_id` of this node (0 = none). Local links get it in the call; returns how many.
        A remote part that cannot be queued is counted (queue_dropped, down_dropped), not an
        error. Raises ClusterError (too large; ENGINE when the server is stopped: the remote
        part is still queued)."""
        buffer, size = as_buffer(data)
        count = self._lib.TcpClusterBroadcast(self._live(), buffer, size, except_id)
        if count < 0:
            raise _last_error("broadcast")
        return count

    def send_to_link(self, node_id: int, link_id: int, data: BytesLike, tag: int = 0) -> None:
        """`data` to link `link_id` of node `node_id` (this node's own: at once). Raises
        ClusterError when the failure is known in the call (LINK_CLOSED for a local link,
        QUEUE_FULL, BROKER_DOWN, TOO_LARGE); a failure found later comes to on_send_failed
        with `tag`."""
        buffer, size = as_buffer(data)
        if not self._lib.TcpClusterSendToLink(self._live(), node_id, link_id, buffer, size, tag):
            raise _last_error(f"send to link {link_id} of node {node_id}")

    def publish(self, topic: str, data: BytesLike = b"") -> None:
        """`data` (0 bytes .. max_message) to on_topic on every node, this one included (at
        once, on this thread). `topic`: 1..255 bytes of UTF-8."""
        buffer, size = as_buffer(data)
        if not self._lib.TcpClusterPublish(self._live(), topic.encode("utf-8"), buffer, size):
            raise _last_error(f"publish on {topic!r}")

    # -- presence ------------------------------------------------------------------------------

    def set_key(self, link_id: int, key: str) -> None:
        """Link `link_id` (open, on this node's server) now holds `key` (1..255 bytes of
        UTF-8) in the whole cluster; the last set anywhere wins. The node removes it when the
        link closes and refreshes it while it lives."""
        if not self._lib.TcpClusterSetKey(self._live(), link_id, key.encode("utf-8")):
            raise _last_error(f"set key {key!r}")

    def clear_key(self, key: str) -> None:
        """This node gives `key` up. Raises ClusterError(KEY_NOT_HELD) if it does not hold it."""
        if not self._lib.TcpClusterClearKey(self._live(), key.encode("utf-8")):
            raise _last_error(f"clear key {key!r}")

    def send_to_key(self, key: str, data: BytesLike, tag: int = 0) -> None:
        """`data` to the link that holds `key`, wherever it is. Failures as send_to_link (a key
        no link holds comes to on_send_failed, reason NO_SUCH_KEY)."""
        buffer, size = as_buffer(data)
        if not self._lib.TcpClusterSendToKey(self._live(), key.encode("utf-8"), buffer, size,
                                             tag):
            raise _last_error(f"send to key {key!r}")

    # -- counters ------------------------------------------------------------------------------

    def counter(self, name: str) -> int:
        """One counter (a key of COUNTER_NAMES), e.g. counter('gaps')."""
        code = COUNTER_NAMES.get(name)
        if code is None:
            raise ClusterError(ClusterErrorCode.INVALID_ARGUMENT, f"unknown counter {name!r} "
                               f"(known: {', '.join(COUNTER_NAMES)})")
        value = self._lib.TcpClusterGetCounter(self._live(), code)
        if value < 0:
            raise _last_error(f"counter {name}")
        return value

    def counters(self) -> Dict[str, int]:
        """Every counter, read one after another: totals since the node was made (published,
        received, queue_dropped, down_dropped, unconfirmed, gaps, send_failed, reconnects,
        echoes, bad_messages, ...) and the "now" figures (queue_length, queue_bytes, keys,
        state)."""
        return {name: self.counter(name) for name in COUNTER_NAMES}
