"""tcpserver.cluster (ClusterNode) against a private redis-server: two nodes in this process, each
on a server of its own, with socket clients. A cluster broadcast reaches every link of both nodes
exactly once (but the excepted one); send_to_link reaches a link of the other node, and its
failures come back to on_send_failed; presence keys route send_to_key and go with their link;
topics reach on_topic on both nodes; the counters (drops, gaps, ...) are readable and count what
they say; a node on the DefaultServer works beside one on a Server; bad input raises a clear
ClusterError; a missing library is reported as such.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import Iterator, List, Tuple

import pytest
from cluster_support import WAIT, LineClient, RedisServer, wait_for

from tcpserver import DefaultServer, Link, Server
from tcpserver.cluster import (COUNTER_NAMES, Channel, ClusterError, ClusterErrorCode,
                               ClusterLibraryNotFoundError, ClusterNode, ClusterState,
                               SendFailure, SendFailureReason, cluster_version)
from tcpserver._cluster_abi import TCPCLUSTER_VERSION_NUMBER


class Member:
    """A server, its node, the ids of its open links and what its node's handlers heard."""

    def __init__(self, redis: RedisServer, server: Server, name: str, **options: int) -> None:
        self.server = server
        self.links: List[int] = []
        self.failures: List[SendFailure] = []
        self.topics: List[Tuple[str, int, bytes]] = []
        self.states: List[ClusterState] = []
        self.gaps: List[Tuple[int, Channel, int]] = []
        lock = threading.Lock()

        @server.on_connect
        def connected(link: Link) -> bool:
            with lock:
                self.links.append(link.id)
            return True

        @server.on_disconnect
        def disconnected(link: Link) -> None:
            with lock:
                self.links.remove(link.id)

        @server.on_receive
        def received(link: Link, data: memoryview) -> bool:
            return True  # the clients only listen

        self.node = ClusterNode(server, redis.url, name=name, **options)
        self.node.on_send_failed = self.failures.append
        self.node.on_topic = lambda topic, publisher, data: self.topics.append(
            (topic, publisher, data))
        self.node.on_state = lambda state, text: self.states.append(state)
        self.node.on_gap = lambda publisher, channel, missed: self.gaps.append(
            (publisher, channel, missed))
        self.node.start()
        server.start("127.0.0.1", 0)
        wait_for(lambda: self.node.state == ClusterState.CONNECTED, f"node {name} to connect")

    def client(self) -> Tuple[LineClient, int]:
        """A connected client and its link id on this server."""
        before = set(self.links)
        client = LineClient(self.server.port)
        wait_for(lambda: set(self.links) - before, "the server to see the new link")
        (link_id,) = set(self.links) - before
        return client, link_id

    def close(self) -> None:
        self.node.close()  # stops the server too
        self.server.close()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    server = RedisServer()
    yield server
    server.stop()


@pytest.fixture
def pair(redis: RedisServer) -> Iterator[Tuple[Member, Member]]:
    a = Member(redis, Server(worker_threads=2), "a")
    b = Member(redis, Server(worker_threads=2), "b")
    yield a, b
    a.close()
    b.close()


def test_cluster_broadcast_reaches_every_link_of_both_nodes_once(pair) -> None:
    a, b = pair
    (a1, _), (a2, _) = a.client(), a.client()
    (b1, b1_id), (b2, _) = b.client(), b.client()
    assert a.node.broadcast(b"from a\n") == 2  # the local links, in the call
    for client in (a1, a2, b1, b2):
        assert client.next_line() == b"from a"
    assert b.node.broadcast(b"from b\n", except_id=b1_id) == 1
    for client in (a1, a2, b2):
        assert client.next_line() == b"from b"
    b.node.broadcast(b"end\n")  # b1's next line: it never got "from b"
    assert b1.next_line() == b"end"
    for client in (a1, a2, b2):
        assert client.next_line() == b"end"
    wait_for(lambda: a.node.counter("received") == 2 and b.node.counter("received") == 1,
             "both nodes to count what they received")
    wait_for(lambda: a.node.counter("published") == 1 and b.node.counter("published") == 2,
             "Redis to confirm every publish")
    for member in (a, b):
        counters = member.node.counters()
        assert set(counters) == set(COUNTER_NAMES)
        assert counters["queue_dropped"] == counters["down_dropped"] == 0
        assert counters["gaps"] == counters["bad_messages"] == 0
        assert counters["state"] == ClusterState.CONNECTED
        assert member.gaps == []
    for client in (a1, a2, b1, b2):
        client.close()


def test_send_to_link_reaches_the_other_node_and_failures_come_back(pair) -> None:
    a, b = pair
    b1, b1_id = b.client()
    a1, a1_id = a.client()
    a.node.send_to_link(b.node.id, b1_id, b"direct\n", tag=7)
    assert b1.next_line() == b"direct"
    b.node.send_to_link(a.node.id, a1_id, b"back\n")
    assert a1.next_line() == b"back"
    a.node.send_to_link(a.node.id, a1_id, b"local\n")  # this node's own link: at once
    assert a1.next_line() == b"local"

    a.node.send_to_link(b.node.id, 999_999_999, b"nobody\n", tag=8)  # no such link there
    a.node.send_to_link(0x5EED, 1, b"ghost\n", tag=9)  # no node has that id
    wait_for(lambda: len(a.failures) == 2, "two failures reported")
    by_tag = {f.tag: f for f in a.failures}
    assert by_tag[8].reason == SendFailureReason.LINK_GONE and by_tag[8].node == b.node.id
    assert by_tag[9].reason == SendFailureReason.NODE_GONE and by_tag[9].node == 0x5EED
    assert str(0x5EED) in by_tag[9].text
    assert a.node.counter("send_failed") == 2

    with pytest.raises(ClusterError) as raised:  # a local link that is not open: in the call
        a.node.send_to_link(a.node.id, 999_999_999, b"x\n")
    assert raised.value.code == ClusterErrorCode.LINK_CLOSED
    a1.close()
    b1.close()


def test_presence_routes_send_to_key_and_goes_with_its_link(pair, redis) -> None:
    a, b = pair
    b1, b1_id = b.client()
    b.node.set_key(b1_id, "alice")
    wait_for(lambda: redis.command("EXISTS", "tcpcluster:key:alice") == "1",
             "the key to reach Redis")
    assert b.node.counter("keys") == 1
    a.node.send_to_key("alice", b"hi alice\n", tag=3)
    assert b1.next_line() == b"hi alice"

    b1.close()  # the node removes a closed link's keys by itself
    wait_for(lambda: redis.command("EXISTS", "tcpcluster:key:alice") == "0",
             "the closed link's key to go")
    a.node.send_to_key("alice", b"anyone?\n", tag=4)
    wait_for(lambda: a.failures, "the failed send to be reported")
    (failure,) = a.failures
    assert (failure.tag, failure.reason, failure.key) == (4, SendFailureReason.NO_SUCH_KEY,
                                                           "alice")
    with pytest.raises(ClusterError) as raised:
        b.node.clear_key("nobody")
    assert raised.value.code == ClusterErrorCode.KEY_NOT_HELD


def test_topics_reach_on_topic_of_every_node(pair) -> None:
    a, b = pair
    a.node.publish("news", b"extra")
    assert a.topics == [("news", a.node.id, b"extra")]  # this node's own: in the call
    wait_for(lambda: b.topics, "the topic on the other node")
    assert b.topics == [("news", a.node.id, b"extra")]
    assert ClusterState.CONNECTED in a.states and ClusterState.CONNECTED in b.states


def test_drops_are_counted_and_local_delivery_goes_on_without_redis(pair) -> None:
    a, b = pair
    a1, _ = a.client()
    a.node.stop()
    assert a.node.state == ClusterState.STOPPED
    assert a.node.broadcast(b"local only\n") == 1  # local delivery goes on
    assert a1.next_line() == b"local only"
    assert a.node.counter("down_dropped") == 1  # the remote part: dropped and counted
    with pytest.raises(ClusterError) as raised:
        a.node.send_to_link(b.node.id, 1, b"x\n")
    assert raised.value.code == ClusterErrorCode.BROKER_DOWN
    assert a.node.counter("down_dropped") == 2
    old_id = a.node.id
    a.node.start()  # a new life: a new id
    assert a.node.id not in (0, old_id)
    wait_for(lambda: a.node.state == ClusterState.CONNECTED, "the node to reconnect")
    a1.close()


def test_a_node_on_the_default_server_works_beside_one_on_a_server(redis) -> None:
    flat = Member(redis, DefaultServer(worker_threads=2, idle_timeout_ms=0), "flat")
    own = Member(redis, Server(worker_threads=2), "own")
    try:
        f1, f1_id = flat.client()
        o1, _ = own.client()
        own.node.broadcast(b"to all\n")
        assert f1.next_line() == b"to all" and o1.next_line() == b"to all"
        own.node.send_to_link(flat.node.id, f1_id, b"to flat\n")
        assert f1.next_line() == b"to flat"
        f1.close()
        wait_for(lambda: not flat.links, "the default server's handlers to see the close")
        o1.close()
    finally:
        flat.close()
        own.close()


def test_closing_the_node_gives_the_server_its_own_handlers_back(redis) -> None:
    server = Server(worker_threads=1)
    node = ClusterNode(server, redis.url)
    node.start()
    server.start("127.0.0.1", 0)
    node.close()  # stops the server first: its events go through the node
    assert not server.active
    server.start("127.0.0.1", 0)  # no handler: the engine echoes
    client = LineClient(server.port)
    client.sock.sendall(b"echo\n")
    assert client.next_line() == b"echo"
    client.close()
    server.close()
    with pytest.raises(ClusterError) as raised:
        node.broadcast(b"x")
    assert "closed" in raised.value.text


def test_bad_input_raises_a_clear_error_and_changes_nothing(redis) -> None:
    server = Server()
    with pytest.raises(ClusterError) as raised:
        ClusterNode(server, "http://127.0.0.1:1")
    assert raised.value.code == ClusterErrorCode.BAD_URL and "redis://" in raised.value.text
    with pytest.raises(TypeError, match="unknown option"):
        ClusterNode(server, redis.url, key_tll_ms=5)
    with pytest.raises(ClusterError) as raised:
        ClusterNode(server, redis.url, queue_messages=0)
    assert raised.value.code == ClusterErrorCode.OPTION_RANGE
    node = ClusterNode(server, redis.url, key_ttl_ms=5000)  # the failed ones were freed
    assert node.get_option("key_ttl_ms") == 5000
    with pytest.raises(ClusterError) as raised:
        node.broadcast(b"x" * (node.get_option("max_message") + 1))
    assert raised.value.code == ClusterErrorCode.TOO_LARGE
    with pytest.raises(ClusterError) as raised:
        node.publish("", b"x")
    assert raised.value.code == ClusterErrorCode.INVALID_ARGUMENT
    server.start("127.0.0.1", 0)
    with pytest.raises(ClusterError) as raised:
        ClusterNode(server, redis.url)  # one node per server, and it runs
    assert raised.value.code in (ClusterErrorCode.INVALID_ARGUMENT,
                                 ClusterErrorCode.SERVER_RUNNING)
    node.close()
    server.close()
    assert cluster_version() == TCPCLUSTER_VERSION_NUMBER


def test_handler_exceptions_stay_in_the_binding(pair, caplog) -> None:
    a, b = pair

    def broken(topic: str, publisher: int, data: bytes) -> None:
        raise RuntimeError("handler failed on purpose")

    b.node.stop()
    b.node.on_topic = broken
    b.node.start()
    wait_for(lambda: b.node.state == ClusterState.CONNECTED, "b to reconnect")
    with caplog.at_level("ERROR", logger="tcpserver.cluster"):
        a.node.publish("t", b"1")
        wait_for(lambda: "handler failed on purpose" in caplog.text, "the exception logged")
    b1, _ = b.client()
    a.node.broadcast(b"still there\n")  # b's subscription survived its handler
    assert b1.next_line() == b"still there"
    b1.close()


def test_a_missing_library_is_reported_as_such() -> None:
    env = dict(os.environ, TCPCLUSTER_LIBRARY="/nonexistent/libtcpcluster.so")
    script = ("from tcpserver import Server\n"
              "from tcpserver.cluster import ClusterNode, ClusterLibraryNotFoundError\n"
              "try:\n"
              "    ClusterNode(Server(), 'redis://127.0.0.1:1')\n"
              "except ClusterLibraryNotFoundError as error:\n"
              "    print(error)\n")
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=WAIT)
    assert result.returncode == 0, result.stderr
    assert "/nonexistent/libtcpcluster.so: no such file" in result.stdout
    assert "Linux only" in result.stdout and "hiredis" in result.stdout
    assert issubclass(ClusterLibraryNotFoundError, OSError)
