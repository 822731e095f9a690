"""The conformance server of tests/conformance/PROTOCOL.md, on the Python binding.

Echoes everything. A chunk (with --framing 1: a message) ending in a newline may be a command:
BCAST, BCASTX, STATS, CLOSE, THROW (raises in the handler: the binding logs it and closes the
link), REFUSE ON|OFF, ID, LINKS, PAUSE/RESUME/QUEUED <id>, FLOOD <n>, TLS <what>. With
--tls-cert (and --tls-key, --tls-password) the first server speaks TLS (load_cert_chain).
Standard input: "stats" prints a STATS line, "stats2" a STATS2 line, "stop2" destroys the
second server, "cstats" a CSTATS line (cluster mode), "quit" or end of input stops everything.

The first server is tcpserver.DefaultServer (the flat API of the original unit); with
--second-server a tcpserver.Server (its own engine server, the handle family whose callbacks
come back through the Context) runs beside it with default options on an ephemeral port.

With --cluster redis://HOST:PORT (Linux, where the cluster library is built) the first server
joins a cluster through a tcpserver.cluster.ClusterNode, as PROTOCOL.md's cluster mode says:
BCAST/BCASTX reach every open link of every node, and NODE, SENDTO, SENDKEY, KEY, UNKEY,
PUBLISH and CSTATS drive the node; NODE <id> follows PORT on standard output.

Run: PYTHONPATH=<repo>/bindings/python TCPSERVER_LIBRARY=<path of libtcpserver.so> \\
     python3 samples/python/conformance_server.py [--port N] [--ip TEXT] ...
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading
from typing import Any, Callable, Dict, Optional

from tcpserver import DefaultServer, ErrorCode, Link, Server, TcpServerError
# The cluster module loads its library only when a node is made (--cluster): elsewhere, or
# where the library is missing, ClusterNode() raises ClusterLibraryNotFoundError (an OSError).
from tcpserver.cluster import ClusterError, ClusterNode, SendFailure

# Command-line flag -> Server option (PROTOCOL.md: each maps to the same-named option).
OPTION_FLAGS = {
    "idle_ms": "idle_timeout_ms",
    "max_links": "max_links",
    "workers": "worker_threads",
    "buffer_size": "io_buffer_size",
    "buffer_count": "io_buffer_count",
    "framing": "framing",
    "max_message": "max_message_size",
    "send_queue_limit": "send_queue_limit",
    "send_queue_policy": "send_queue_policy",
    "keepalive_idle": "keepalive_idle_s",
    "keepalive_interval": "keepalive_interval_s",
    "keepalive_count": "keepalive_count",
    "ipv6_only": "ipv6_only",
    "memory_budget": "memory_budget",
    "send_high_water": "send_high_water",
    "message_timeout_ms": "message_timeout_ms",
    "max_links_per_address": "max_links_per_address",
    "accept_rate": "accept_rate",
    "tls_min_version": "tls_min_version",
    "tls_client_cert": "tls_client_cert",
    "tls_handshake_timeout_ms": "tls_handshake_timeout_ms",
    "tls_max_handshakes": "tls_max_handshakes",
    "tls_session_tickets": "tls_session_tickets",
}
KEEPALIVE_OPTIONS = ("keepalive_idle_s", "keepalive_interval_s", "keepalive_count")
# --cluster-* flags -> ClusterNode options (PROTOCOL.md, cluster mode).
CLUSTER_FLAGS = {
    "cluster_queue": "queue_messages",
    "cluster_ttl_ms": "key_ttl_ms",
    "cluster_reply_timeout_ms": "reply_timeout_ms",
    "cluster_reconnect_max_ms": "reconnect_max_ms",
}
CLOSE_REASONS = range(1, 16)  # the closed_<r> STATS keys: TS_CLOSE_PEER_CLOSED..TLS_NO_CLOSE_NOTIFY
# TLS <n> (PROTOCOL.md): TS_TLS_INFO_* -> the key of link.tls_info()
TLS_INFO = {0: "protocol", 1: "cipher", 2: "server_name", 3: "alpn", 4: "client_subject",
            5: "client_issuer", 6: "verify_result", 7: "resumed", 8: "client_fingerprint",
            9: "certificate_pattern"}
FLOOD_PATTERN = bytes(range(251))  # FLOOD: byte i is i % 251


def flood_bytes(size: int) -> bytes:
    repeats = size // len(FLOOD_PATTERN) + 1
    return (FLOOD_PATTERN * repeats)[:size]


def parse_id(text: bytes) -> Optional[int]:
    return int(text) if text.isdigit() else None


class Conformance:
    """The handlers and counts of one conformance server; mixed into DefaultServer (the first
    server) or Server (the second)."""

    def __init__(self, **options: Any) -> None:
        super().__init__(**options)
        self.refuse = False
        self._lock = threading.Lock()  # handlers run on several engine threads
        self.disconnects = 0
        self.idle = 0
        self.closed_by_reason: Dict[int, int] = dict.fromkeys(CLOSE_REASONS, 0)
        # Commands with an argument: keyword -> handler(link, argument) -> reply or None.
        self.commands: Dict[bytes, Callable[[Link, bytes], Optional[bytes]]] = {
            b"BCAST": self.bcast, b"BCASTX": self.bcastx, b"PAUSE": self.pause_command,
            b"RESUME": self.resume_command, b"QUEUED": self.queued, b"FLOOD": self.flood,
            b"TLS": self.tls_command,
        }
        # Commands without an argument beyond the fixed ones below (cluster mode adds some).
        self.plain_commands: Dict[bytes, Callable[[Link], Any]] = {}

    def stats_line(self, keyword: str = "STATS") -> str:
        s = self.stats()
        with self._lock:
            disconnects, idle = self.disconnects, self.idle
            by_reason = " ".join(f"closed_{reason}={count}"
                                 for reason, count in self.closed_by_reason.items())
        return (f"{keyword} links={s.links} accepts={s.accepts} refused={s.refused} "
                f"closed={s.closed} idle_closed={s.idle_closed} bytes_in={s.bytes_in} "
                f"bytes_out={s.bytes_out} msgs_in={s.msgs_in} msgs_out={s.msgs_out} "
                f"iomem_free={s.iomem_free} iomem_count={self.io_buffer_count} "
                f"workers={s.workers} disconnects={disconnects} idle={idle} "
                f"framing_errors={s.framing_errors} tls_handshakes={s.tls_handshakes} "
                f"tls_resumed={s.tls_resumed} tls_failures={s.tls_handshake_failures} "
                f"{by_reason}\n")

    # -- handlers -----------------------------------------------------------------------------

    def on_connect(self, link: Link) -> bool:
        return not self.refuse

    def on_receive(self, link: Link, data: memoryview) -> bool:
        if data[-1] == 0x0A:  # only a chunk ending in a newline can be a command
            reply = self.command(link, data)
            if reply is not None:
                return reply is True or self.reply(link, reply)
        return self.reply(link, data)

    def command(self, link: Link, data: memoryview) -> Any:
        """The reply to a command (bytes), True for a command that needs none, None for
        data to echo."""
        line = bytes(data[:-1]) if len(data) <= 64 else bytes(data[:8])
        if line == b"STATS":
            return self.stats_line().encode("ascii")
        if line == b"CLOSE":
            link.close()
            return True
        if line == b"THROW":
            raise RuntimeError("THROW requested by the client")
        if line in (b"REFUSE ON", b"REFUSE OFF"):
            self.refuse = line == b"REFUSE ON"
            return b"OK\n"
        if line == b"ID":
            return b"ID %d\n" % link.id
        if line == b"LINKS":
            return b"LINKS " + b" ".join(b"%d" % i for i in self.link_ids()) + b"\n"
        plain = self.plain_commands.get(line)
        if plain is not None:
            return plain(link)
        keyword, space, _ = line.partition(b" ")
        handler = self.commands.get(keyword) if space else None
        if handler is None:
            return None
        return handler(link, data[len(keyword) + 1:])

    def bcast(self, link: Link, text: memoryview) -> bool:
        self.broadcast(text)
        return True

    def bcastx(self, link: Link, text: memoryview) -> bool:
        self.broadcast(text, except_id=link.id)
        return True

    def flow_control(self, action: Callable[[int], None], argument: memoryview) -> Any:
        link_id = parse_id(bytes(argument[:-1]))
        if link_id is None:
            return None
        try:
            action(link_id)
            return b"OK\n"
        except TcpServerError as error:
            return b"ERR %d\n" % int(error.code)

    def pause_command(self, link: Link, argument: memoryview) -> Any:
        return self.flow_control(self.pause, argument)

    def resume_command(self, link: Link, argument: memoryview) -> Any:
        return self.flow_control(self.resume, argument)

    def queued(self, link: Link, argument: memoryview) -> Any:
        link_id = parse_id(bytes(argument[:-1]))
        if link_id is None:
            return None
        try:
            queued = self.queued_bytes(link_id)
        except TcpServerError:
            queued = -1
        return b"QUEUED %d\n" % queued

    def flood(self, link: Link, argument: memoryview) -> Any:
        size = parse_id(bytes(argument[:-1]))
        if size is None:
            return None
        try:
            link.send(flood_bytes(size))
        except TcpServerError:
            pass  # nothing is replied; the send-queue policy may have closed the link
        return True

    def tls_command(self, link: Link, argument: memoryview) -> Any:
        what = parse_id(bytes(argument[:-1]))
        if what is None:
            return None
        try:
            info = link.tls_info()
        except TcpServerError as error:
            return b"ERR %d\n" % int(error.code)
        if info is None:
            return b"ERR %d\n" % int(ErrorCode.TLS_NOT_ESTABLISHED)
        if what not in TLS_INFO:
            return b"ERR %d\n" % int(ErrorCode.INVALID_ARGUMENT)
        value = info[TLS_INFO[what]]
        text = ("1" if value else "0") if isinstance(value, bool) else value
        return b"TLS " + text.encode("utf-8") + b"\n"

    @staticmethod
    def reply(link: Link, data: bytes | memoryview) -> bool:
        """Send, or close the link quietly if the send is refused (as the C sample does)."""
        try:
            link.send(data)
            return True
        except TcpServerError:
            return False

    def count_close(self, link: Link, idle: bool) -> None:
        reason = int(link.close_reason)
        with self._lock:
            if idle:
                self.idle += 1
            else:
                self.disconnects += 1
            if reason in self.closed_by_reason:
                self.closed_by_reason[reason] += 1

    def on_disconnect(self, link: Link) -> None:
        self.count_close(link, idle=False)

    def on_idle(self, link: Link) -> None:
        self.count_close(link, idle=True)


class FirstServer(Conformance, DefaultServer):
    """The first server: the default server, through the flat API."""


class SecondServer(Conformance, Server):
    """--second-server: an engine server of its own, through the handle family."""


class ClusterCommands:
    """Cluster mode of the first server (--cluster): its node, the commands that drive it, and
    what its handlers count. BCAST and BCASTX go through the node."""

    def __init__(self, server: FirstServer, node: ClusterNode) -> None:
        self.server = server
        self.node = node
        self._lock = threading.Lock()
        self.gap_events = 0
        self.topics = 0
        server.commands.update({
            b"SENDTO": self.sendto, b"SENDKEY": self.sendkey, b"KEY": self.key,
            b"UNKEY": self.unkey, b"PUBLISH": self.publish,
            b"BCAST": self.bcast, b"BCASTX": self.bcastx})
        server.plain_commands.update({b"NODE": self.node_line, b"CSTATS": self.cstats_line})
        node.on_topic = self.on_topic
        node.on_send_failed = self.on_send_failed
        node.on_gap = self.on_gap
        node.on_state = self.on_state

    # -- commands: (link, the rest of the line with its newline) -> reply, True or None --------

    def broadcast(self, text: memoryview, except_id: int = 0) -> bool:
        try:
            self.node.broadcast(text, except_id)
        except ClusterError as error:  # as the C sample: the sender hears nothing
            print(f"conformance_server: BCAST: {error}", file=sys.stderr, flush=True)
        return True

    def bcast(self, link: Link, text: memoryview) -> bool:
        return self.broadcast(text)

    def bcastx(self, link: Link, text: memoryview) -> bool:
        return self.broadcast(text, except_id=link.id)

    @staticmethod
    def error_reply(error: ClusterError) -> bytes:
        return f"ERR {int(error.code)} {error.text}\n".encode("utf-8", "replace")

    def sendto(self, link: Link, rest: memoryview) -> Any:
        """SENDTO <node> <id> <text>\n: "<text>\n" to that link, wherever it is."""
        node, _, rest_ = bytes(rest).partition(b" ")
        link_id, _, text = rest_.partition(b" ")
        try:
            self.node.send_to_link(int(node or 0), int(link_id or 0), text, tag=link.id)
        except ValueError:
            return b"ERR bad SENDTO\n"
        except ClusterError as error:
            return self.error_reply(error)
        return True

    def sendkey(self, link: Link, rest: memoryview) -> Any:
        """SENDKEY <key> <text>\n: "<text>\n" to the link that holds the key."""
        key, _, text = bytes(rest).partition(b" ")
        try:
            self.node.send_to_key(key.decode("utf-8", "replace"), text, tag=link.id)
        except ClusterError as error:
            return self.error_reply(error)
        return True

    def key(self, link: Link, rest: memoryview) -> Any:
        try:
            self.node.set_key(link.id, bytes(rest[:-1]).decode("utf-8", "replace"))
        except ClusterError as error:
            return self.error_reply(error)
        return b"OK\n"

    def unkey(self, link: Link, rest: memoryview) -> Any:
        try:
            self.node.clear_key(bytes(rest[:-1]).decode("utf-8", "replace"))
        except ClusterError as error:
            return self.error_reply(error)
        return b"OK\n"

    def publish(self, link: Link, rest: memoryview) -> Any:
        """PUBLISH <topic> <text>\n: every node broadcasts "TOPIC <topic> <text>\n"."""
        topic, _, text = bytes(rest).partition(b" ")
        try:
            self.node.publish(topic.decode("utf-8", "replace"), text)
        except ClusterError as error:
            return self.error_reply(error)
        return True

    def node_line(self, link: Link) -> bytes:
        return b"NODE %d\n" % self.node.id

    def cstats_line(self, link: Optional[Link] = None) -> bytes:
        counters = self.node.counters()
        with self._lock:
            gap_events, topics = self.gap_events, self.topics
        return ("CSTATS node=%d " % self.node.id
                + " ".join(f"{name}={value}" for name, value in counters.items())
                + f" gap_events={gap_events} topics={topics}\n").encode("ascii")

    # -- the node's handlers ---------------------------------------------------------------------

    def on_topic(self, topic: str, publisher: int, data: bytes) -> None:
        with self._lock:
            self.topics += 1
        self.server.broadcast(b"TOPIC " + topic.encode("utf-8") + b" " + data)

    def on_send_failed(self, failure: SendFailure) -> None:
        """The link that asked (its id is the tag) hears why."""
        try:
            self.server.send(failure.tag, f"SENDFAIL {int(failure.reason)} {failure.text}\n"
                             .encode("utf-8", "replace"))
        except TcpServerError:
            pass  # that link closed meanwhile

    def on_gap(self, publisher: int, channel: Any, missed: int) -> None:
        with self._lock:
            self.gap_events += 1
        print(f"conformance_server: {missed} messages from node {publisher} on channel "
              f"{int(channel)} never arrived", file=sys.stderr, flush=True)

    def on_state(self, state: Any, text: str) -> None:
        print(f"conformance_server: cluster {getattr(state, 'name', state)}: {text}",
              file=sys.stderr, flush=True)


def start_cluster(server: FirstServer, args: argparse.Namespace) -> ClusterCommands:
    """The first server's node (made and started before the server starts)."""
    options = {option: getattr(args, flag) for flag, option in CLUSTER_FLAGS.items()
               if getattr(args, flag) is not None}
    node = ClusterNode(server, args.cluster, prefix=args.cluster_prefix, name=args.node,
                       **options)
    cluster = ClusterCommands(server, node)
    node.start()
    return cluster


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ip", default="127.0.0.1")
    for flag in OPTION_FLAGS:
        parser.add_argument("--" + flag.replace("_", "-"), type=int, dest=flag)
    parser.add_argument("--second-server", action="store_true")
    parser.add_argument("--cluster", metavar="redis://HOST:PORT")
    parser.add_argument("--node", metavar="NAME")
    parser.add_argument("--cluster-prefix", metavar="TEXT")
    for flag in CLUSTER_FLAGS:
        parser.add_argument("--" + flag.replace("_", "-"), type=int, dest=flag)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    parser.add_argument("--tls-password")
    args = parser.parse_args(argv)
    if (args.tls_key or args.tls_password) and not args.tls_cert:
        parser.error("the --tls-* flags need --tls-cert FILE")
    return args


def main(argv: list[str]) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="conformance_server: %(name)s %(levelname)s: %(message)s")
    args = parse_args(argv)
    options = {option: getattr(args, flag) for flag, option in OPTION_FLAGS.items()
               if getattr(args, flag) is not None}
    if any(option in options for option in KEEPALIVE_OPTIONS):
        options["keepalive"] = 1
    second: Optional[SecondServer] = None
    cluster: Optional[ClusterCommands] = None
    server = FirstServer(**options)
    if args.cluster:
        try:
            cluster = start_cluster(server, args)
        except (ClusterError, OSError) as error:  # OSError: no cluster library here
            print(f"conformance_server: --cluster: {error}", file=sys.stderr)
            return 1
    try:
        if args.tls_cert:
            server.load_cert_chain(args.tls_cert, args.tls_key, args.tls_password)
            server.tls = True
        server.start(args.ip, args.port)
        if args.second_server:
            second = SecondServer()
            second.start(args.ip, 0)
    except (TcpServerError, OSError) as error:  # OSError: a --tls-* file cannot be read
        print(f"conformance_server: cannot start: {error}", file=sys.stderr)
        server.stop()
        if cluster is not None:
            cluster.node.close()
        return 1
    print(f"PORT {server.port}", flush=True)
    if second is not None:
        print(f"PORT2 {second.port}", flush=True)
    if cluster is not None:
        print(f"NODE {cluster.node.id}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "stats":
            print(server.stats_line(), end="", flush=True)
        elif command == "stats2" and second is not None:
            print(second.stats_line("STATS2"), end="", flush=True)
        elif command == "stop2" and second is not None:
            second.close()
            print(f"STOPPED2 disconnects={second.disconnects}", flush=True)
            second = None
        elif command == "cstats" and cluster is not None:
            print(cluster.cstats_line().decode("ascii"), end="", flush=True)
        elif command == "quit":
            break
        elif command:
            print(f"conformance_server: unknown or unusable command {command!r}",
                  file=sys.stderr)
    server.stop()
    if cluster is not None:  # after the server: its links' keys went with their close
        cluster.node.close()
    if second is not None:
        second.close()
    print(f"STOPPED disconnects={server.disconnects} idle={server.idle}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
