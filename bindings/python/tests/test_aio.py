"""tcpserver.aio: coroutine handlers on an asyncio loop, in the engine's order per link, with
receive backpressure, sends from the loop, drain, exceptions, refusal and stop."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import threading
from typing import Any, Awaitable, Callable, List, Tuple

import pytest

from support import HOST, options

from tcpserver import CloseReason, ErrorCode, TcpServerError
from tcpserver.aio import AsyncLink, AsyncServer

# AsyncServer always runs an engine server of its own: the DefaultServer run adds nothing.
pytestmark = pytest.mark.skipif(os.environ.get("TCPSERVER_TEST_DEFAULT_SERVER") == "1",
                                reason="AsyncServer does not use the default server")

DEADLINE = 30.0  # seconds any wait may take on a busy 2-core machine


def run(test: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(asyncio.wait_for(test(), 4 * DEADLINE))


async def until(condition: Callable[[], object], what: str) -> None:
    """Wait on the loop until condition() holds; fail after DEADLINE seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + DEADLINE
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {DEADLINE}s waiting for {what}")
        await asyncio.sleep(0.005)


async def connect(server: AsyncServer) -> Tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.wait_for(asyncio.open_connection(HOST, server.port), DEADLINE)


async def closed_by_server(reader: asyncio.StreamReader) -> None:
    """The server closed the connection: end of stream, or a reset (bytes it never read)."""
    try:
        rest = await asyncio.wait_for(reader.read(), DEADLINE)
    except ConnectionResetError:
        return
    assert rest == b"", f"expected the server to close the link, got {rest!r}"


async def read_exactly(reader: asyncio.StreamReader, size: int) -> bytes:
    return await asyncio.wait_for(reader.readexactly(size), DEADLINE)


def test_handlers_are_coroutines_on_the_loop_in_the_engines_order() -> None:
    async def test() -> None:
        loop_thread = threading.get_ident()
        events: List[Tuple[str, int, Any]] = []
        gone = asyncio.Event()
        server = AsyncServer(**options())

        @server.on_connect
        async def hello(link: AsyncLink) -> bool:
            assert threading.get_ident() == loop_thread
            events.append(("connect", link.id, link.remote_address[0]))
            await asyncio.sleep(0)  # a handler may await; the link's next event waits for it
            return True

        @server.on_receive
        async def shout(link: AsyncLink, data: bytes) -> None:
            assert threading.get_ident() == loop_thread
            events.append(("receive", link.id, data))
            link.send(data.upper())

        @server.on_disconnect
        async def bye(link: AsyncLink) -> None:
            events.append(("disconnect", link.id, link.close_reason))
            gone.set()

        async with await server.start(HOST, 0):
            reader, writer = await connect(server)
            sent = b"".join(b"message %d;" % i for i in range(200))
            for start in range(0, len(sent), 97):
                writer.write(sent[start:start + 97])
                await writer.drain()
            assert await read_exactly(reader, len(sent)) == sent.upper()
            writer.close()
            await asyncio.wait_for(gone.wait(), DEADLINE)

        kinds = [kind for kind, _, _ in events]
        assert kinds[0] == "connect" and kinds[-1] == "disconnect"
        assert kinds.count("connect") == 1 and kinds.count("disconnect") == 1
        assert set(kinds[1:-1]) == {"receive"}
        assert b"".join(data for kind, _, data in events if kind == "receive") == sent
        assert len({link_id for _, link_id, _ in events}) == 1
        assert events[0][2] == HOST and events[-1][2] == CloseReason.PEER_CLOSED
    run(test)


def test_a_slow_loop_pauses_the_link_and_every_byte_arrives_after() -> None:
    async def test() -> None:
        high_water = 256 << 10
        total = 16 << 20           # far more than the high-water mark and the socket buffers
        gate = asyncio.Event()     # on_receive waits on it: the loop "falls behind"
        digest = hashlib.sha256()
        received = 0
        most_pending = 0
        server = AsyncServer(receive_high_water=high_water, **options())
        links: List[AsyncLink] = []

        @server.on_connect
        async def keep(link: AsyncLink) -> None:
            links.append(link)

        @server.on_receive
        async def slow(link: AsyncLink, data: bytes) -> None:
            nonlocal received, most_pending
            most_pending = max(most_pending, link._pending)
            await gate.wait()
            digest.update(data)
            received += len(data)

        payload = bytes(range(256)) * (total // 256)
        async with await server.start(HOST, 0):
            reader, writer = await connect(server)
            writer.write(payload)
            sending = asyncio.ensure_future(writer.drain())
            await until(lambda: links and links[0]._paused, "the engine to stop reading the link")
            assert not sending.done(), "the peer could hand every byte over: no backpressure"
            gate.set()
            await until(lambda: received == total, f"all {total} bytes to be handled")
            await asyncio.wait_for(sending, DEADLINE)
            assert digest.digest() == hashlib.sha256(payload).digest()
            assert not links[0]._paused and links[0]._pending == 0
            # Bytes handed to the loop and not yet handled stayed near the mark (one engine
            # read may land on top of it), never the megabytes the peer had sent.
            assert most_pending <= high_water + (1 << 20), most_pending
            writer.close()
    run(test)


def test_sends_from_the_loop_broadcast_and_a_closed_link() -> None:
    async def test() -> None:
        opened: List[AsyncLink] = []
        closed = asyncio.Event()
        server = AsyncServer(**options())

        @server.on_connect
        async def keep(link: AsyncLink) -> None:
            opened.append(link)

        @server.on_receive
        async def ignore(link: AsyncLink, data: bytes) -> None:
            pass

        @server.on_disconnect
        async def gone(link: AsyncLink) -> None:
            closed.set()

        async with await server.start(HOST, 0):
            first = await connect(server)
            second = await connect(server)
            await until(lambda: len(opened) == 2, "two links")
            assert set(server.links) == {link.id for link in opened}
            # The links connect on two engine threads: match them to the clients by port.
            by_port = {link.remote_address[1]: link for link in opened}
            link_of_first = by_port[first[1].get_extra_info("sockname")[1]]
            link_of_second = by_port[second[1].get_extra_info("sockname")[1]]
            assert server.broadcast(b"to all\n") == 2
            for reader, _ in (first, second):
                assert await read_exactly(reader, 7) == b"to all\n"
            link_of_first.send(b"just you\n")  # an AsyncLink outlives its handler
            server.send(link_of_second.id, b"and you\n")
            assert await read_exactly(first[0], 9) == b"just you\n"
            assert await read_exactly(second[0], 8) == b"and you\n"
            first[1].close()
            await asyncio.wait_for(closed.wait(), DEADLINE)
            assert link_of_first.closed and link_of_first.id not in server.links
            with pytest.raises(TcpServerError) as error:
                link_of_first.send(b"too late")
            assert error.value.code in (ErrorCode.LINK_CLOSED, ErrorCode.NOT_A_LINK)
            second[1].close()
    run(test)


def test_drain_waits_until_the_peer_reads() -> None:
    async def test() -> None:
        opened: List[AsyncLink] = []
        server = AsyncServer(**options())

        @server.on_connect
        async def keep(link: AsyncLink) -> None:
            opened.append(link)

        async with await server.start(HOST, 0):
            reader, writer = await connect(server)
            await until(lambda: opened, "the link")
            link = opened[0]
            size = 12 << 20  # more than loopback's socket buffers, less than the queue limit
            link.send(b"x" * size)
            with pytest.raises(asyncio.TimeoutError):
                await link.drain(timeout=0.2)  # the peer reads nothing yet
            assert link.queued_bytes > 0
            draining = asyncio.ensure_future(link.drain(timeout=DEADLINE))
            assert len(await read_exactly(reader, size)) == size
            await draining
            assert link.queued_bytes == 0
            writer.close()
    run(test)


def test_an_exception_in_a_handler_is_logged_and_closes_the_link(caplog: Any) -> None:
    async def test() -> None:
        reasons: List[int] = []
        done = asyncio.Event()
        server = AsyncServer(**options())

        @server.on_receive
        async def broken(link: AsyncLink, data: bytes) -> None:
            raise ValueError("handler bug")

        @server.on_disconnect
        async def gone(link: AsyncLink) -> None:
            reasons.append(link.close_reason)
            done.set()

        async with await server.start(HOST, 0):
            reader, writer = await connect(server)
            writer.write(b"boom")
            await closed_by_server(reader)
            await asyncio.wait_for(done.wait(), DEADLINE)
            writer.close()
        assert reasons == [CloseReason.BY_APP]
        assert any("on_receive raised" in r.getMessage() and r.exc_info for r in caplog.records)

    with caplog.at_level(logging.ERROR, logger="tcpserver"):
        run(test)


def test_on_connect_false_closes_the_link_and_no_other_handler_runs() -> None:
    async def test() -> None:
        calls: List[str] = []
        server = AsyncServer(**options())

        @server.on_connect
        async def refuse(link: AsyncLink) -> bool:
            calls.append("connect")
            return False

        @server.on_receive
        async def never(link: AsyncLink, data: bytes) -> None:
            calls.append("receive")

        @server.on_disconnect
        async def never_either(link: AsyncLink) -> None:
            calls.append("disconnect")

        async with await server.start(HOST, 0):
            reader, writer = await connect(server)
            writer.write(b"anyone there?")
            await closed_by_server(reader)
            await until(lambda: not server.links, "the refused link's task to end")
            writer.close()
        assert calls == ["connect"]
    run(test)


def test_stop_runs_every_on_disconnect_first_even_from_a_handler() -> None:
    async def test() -> None:
        reasons: List[int] = []
        opened: List[AsyncLink] = []
        server = AsyncServer(**options())

        class StopOnCommand(AsyncServer):
            async def on_receive(self, link: AsyncLink, data: bytes) -> None:
                await self.stop()  # from inside a handler: must not deadlock

            async def on_disconnect(self, link: AsyncLink) -> None:
                reasons.append(link.close_reason)

        @server.on_connect
        async def keep(link: AsyncLink) -> None:
            opened.append(link)

        @server.on_disconnect
        async def gone(link: AsyncLink) -> None:
            reasons.append(link.close_reason)

        await server.start(HOST, 0)
        clients = [await connect(server) for _ in range(3)]
        await until(lambda: len(opened) == 3, "three links")
        await server.stop()
        assert reasons == [CloseReason.SERVER_STOP] * 3 and not server.active
        await server.close()

        reasons.clear()
        stopper = StopOnCommand(**options())
        await stopper.start(HOST, 0)
        reader, writer = await connect(stopper)
        writer.write(b"stop")
        await closed_by_server(reader)
        await until(lambda: not stopper.active and not stopper.links, "the server to stop")
        assert reasons == [CloseReason.SERVER_STOP]
        await stopper.close()
        for _, client in clients + [(reader, writer)]:
            client.close()
    run(test)


def test_handlers_must_be_coroutine_functions() -> None:
    server = AsyncServer(**options())
    with pytest.raises(TypeError, match="coroutine function"):
        server.on_receive(lambda link, data: None)
    with pytest.raises(ValueError, match="no handler"):
        server.handler("on_idle")
