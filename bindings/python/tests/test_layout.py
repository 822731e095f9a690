"""The binding's records and version agree with the loaded library, and drift is caught."""

from __future__ import annotations

import ctypes

import pytest

import tcpserver
import tcpserver.server
from tcpserver import ErrorCode, Server, TcpServerError
from tcpserver import _native as n


def test_library_layout_matches_the_binding() -> None:
    reported = n.parse_layout(n.GetAbiLayout().decode())
    ours = n.expected_layout()
    assert reported["version"] == n.GetVersion() == n.TCPSERVER_VERSION_NUMBER
    assert reported["ptr"] == ctypes.sizeof(ctypes.c_void_p)
    compared = [key for key in reported if key in ours]
    # Every record field the library reports is compared, not just a few.
    assert {"TcpLink.size", "TcpLink.Id", "TcpLink.RemoteIP", "TcpLink.CloseError",
            "TcpWorker.size", "TcpWorker.IsWorkerThread"} <= set(compared)
    assert {key: reported[key] for key in compared} == {key: ours[key] for key in compared}
    assert n.layout_mismatches(n.GetAbiLayout().decode(), n.GetVersion()) == []
    tcpserver.check_abi()


def test_records_are_laid_out_as_the_header_says() -> None:
    # The records of tcpserver._abi and the sizes and offsets tools/abi/abi.py computed from
    # tcpserver.h for this pointer size (all fields, also those the library does not report).
    assert n.expected_layout() == n.header_layout()


def layout_text(fields: dict, version: int = n.TCPSERVER_VERSION_NUMBER) -> str:
    return f"version={version};" + ";".join(f"{key}={value}" for key, value in fields.items())


def test_layout_drift_and_major_version_are_reported() -> None:
    ours = n.expected_layout()
    assert n.layout_mismatches(layout_text(ours), 10000) == []
    drifted = dict(ours)
    drifted["TcpLink.RemotePort"] += 4
    drifted["TcpWorker.size"] += 8
    problems = n.layout_mismatches(layout_text(drifted), 10000)
    assert len(problems) == 2
    assert problems[0].startswith("TcpLink.RemotePort: library")
    assert problems[1].startswith("TcpWorker.size: library")
    assert any("major 2" in p for p in n.layout_mismatches(layout_text(ours), 20001))
    assert n.layout_mismatches("version=10000", 10000)  # a layout without records fails too


def test_start_refuses_a_mismatched_library(monkeypatch) -> None:
    monkeypatch.setattr(n, "GetAbiLayout", lambda: b"version=10000;ptr=8;TcpLink.size=1;"
                                                   b"TcpLink.Id=16;TcpWorker.size=56")
    monkeypatch.setattr(tcpserver.server, "_abi_problems", None)  # forget the cached check
    with pytest.raises(TcpServerError) as raised:
        Server(worker_threads=1).start("127.0.0.1", 0)
    assert raised.value.code == ErrorCode.NOT_SUPPORTED
    assert "does not match this Python binding" in str(raised.value)
    assert "TcpLink.size" in str(raised.value)


def test_version_and_helpers() -> None:
    assert tcpserver.version().startswith("tcpserver 1.")
    first = tcpserver.tick_count()
    assert 0 <= first < 2**32
    address = tcpserver.local_ip()
    assert address.count(".") == 3
