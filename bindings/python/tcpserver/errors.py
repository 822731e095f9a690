"""TcpServerError and the error codes of tcpserver.h."""

from __future__ import annotations

import enum

from . import _native as n


class ErrorCode(enum.IntEnum):
    """GetLastErrorCode() values (TS_ERR_*)."""
    OK = n.TS_OK
    INVALID_ARGUMENT = n.TS_ERR_INVALID_ARGUMENT
    NOT_ACTIVE = n.TS_ERR_NOT_ACTIVE
    ALREADY_ACTIVE = n.TS_ERR_ALREADY_ACTIVE
    IN_CALLBACK = n.TS_ERR_IN_CALLBACK
    BAD_ADDRESS = n.TS_ERR_BAD_ADDRESS
    ADDRESS_IN_USE = n.TS_ERR_ADDRESS_IN_USE
    SOCKET = n.TS_ERR_SOCKET
    NOT_A_BUFFER = n.TS_ERR_NOT_A_BUFFER
    BUFFER_NOT_OWNED = n.TS_ERR_BUFFER_NOT_OWNED
    BAD_LENGTH = n.TS_ERR_BAD_LENGTH
    NOT_A_LINK = n.TS_ERR_NOT_A_LINK
    LINK_CLOSED = n.TS_ERR_LINK_CLOSED
    POOL_EXHAUSTED = n.TS_ERR_POOL_EXHAUSTED
    SEND_QUEUE_FULL = n.TS_ERR_SEND_QUEUE_FULL
    UNKNOWN_OPTION = n.TS_ERR_UNKNOWN_OPTION
    OPTION_RANGE = n.TS_ERR_OPTION_RANGE
    TIMEOUT = n.TS_ERR_TIMEOUT
    BUFFER_TOO_SMALL = n.TS_ERR_BUFFER_TOO_SMALL
    NOT_FOUND = n.TS_ERR_NOT_FOUND
    OUT_OF_MEMORY = n.TS_ERR_OUT_OF_MEMORY
    SYSTEM = n.TS_ERR_SYSTEM
    BUSY = n.TS_ERR_BUSY
    NOT_SUPPORTED = n.TS_ERR_NOT_SUPPORTED
    MEMORY_BUDGET = n.TS_ERR_MEMORY_BUDGET
    TLS_CERTIFICATE = n.TS_ERR_TLS_CERTIFICATE
    TLS_CONFIG = n.TS_ERR_TLS_CONFIG
    TLS_UNAVAILABLE = n.TS_ERR_TLS_UNAVAILABLE
    TLS_NOT_ESTABLISHED = n.TS_ERR_TLS_NOT_ESTABLISHED


class TcpServerError(Exception):
    """A tcpserver call failed. `code` is an ErrorCode (a plain int if the library sent one
    this binding does not know), `text` says what went wrong."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(code, text)
        try:
            self.code: int = ErrorCode(code)
        except ValueError:
            self.code = code
        self.text = text

    def __str__(self) -> str:
        name = self.code.name if isinstance(self.code, ErrorCode) else "unknown"
        return f"{self.text} [tcpserver error {int(self.code)}: {name}]"


def last_error(what: str) -> TcpServerError:
    """The calling thread's last library error as an exception; `what` names the failed call.

    Must be called right after the failing call, on the same thread (the error is per thread)."""
    code = n.GetLastErrorCode()
    raw = n.GetLastErrorText()
    text = raw.decode("utf-8", "replace") if raw else "no error text"
    return TcpServerError(code, f"{what}: {text}")
