"""on_connect refusal and what a Link tells about its peer."""

from __future__ import annotations

from support import HOST, Server, assert_closed_by_server, connect, options, recv_exactly, wait_for

from tcpserver import CloseReason, Link


def test_refused_link_is_closed_counted_and_gets_no_other_handler() -> None:
    server = Server(**options())
    calls = []
    server.on_connect(lambda link: False)
    server.on_receive(lambda link, data: calls.append("receive"))
    server.on_disconnect(lambda link: calls.append("disconnect"))
    refused_before = server.counters()["refused"]
    with server.start(HOST, 0):
        client = connect(server)
        client.sendall(b"let me in")
        assert_closed_by_server(client)
        wait_for(lambda: server.counters()["refused"] == refused_before + 1,
                 "the refused counter")
        # The engine counts the refusal just before it frees the slot: wait, don't assume.
        wait_for(lambda: server.stats().links == 0, "the refused link's slot to be freed")
        client.close()
    assert calls == []


def test_raising_on_connect_refuses_and_logs(caplog) -> None:
    server = Server(**options())

    @server.on_connect
    def broken(link: Link) -> bool:
        raise ValueError("no connections today")

    with server.start(HOST, 0):
        client = connect(server)
        assert_closed_by_server(client)
        client.close()
    assert any("on_connect raised" in r.getMessage() and r.exc_info for r in caplog.records)


def test_link_reports_peer_address_and_data_lives_until_disconnect() -> None:
    server = Server(**options())
    seen = {}

    @server.on_connect
    def remember(link: Link) -> bool:
        seen["address"] = link.remote_address
        seen["worker"] = link.worker
        link.data = {"count": 0}
        return True

    @server.on_receive
    def count(link: Link, data: memoryview) -> None:
        link.data["count"] += 1
        link.send(str(link.data["count"]).encode())

    @server.on_disconnect
    def bye(link: Link) -> None:
        seen["final"] = link.data["count"]
        seen["reason"] = link.close_reason
        seen["reason_text"] = link.close_reason_text
        seen["id"] = link.id

    with server.start(HOST, 0):
        client = connect(server)
        for expected in (b"1", b"2", b"3"):
            client.sendall(b"x")
            assert recv_exactly(client, 1) == expected
        local = client.getsockname()
        client.close()
        wait_for(lambda: "reason" in seen, "on_disconnect")
    assert seen["address"] == (local[0], local[1])
    assert seen["worker"] is not None and seen["worker"].is_worker_thread
    assert seen["final"] == 3
    assert seen["reason"] == CloseReason.PEER_CLOSED
    assert seen["reason_text"] == "peer closed"
    assert seen["id"] not in server._link_data  # the link's data is dropped after the call
