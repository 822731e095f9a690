"""TcpServerError; ErrorCode (the header's TS_ERR_* as an IntEnum, generated into _abi)."""

from __future__ import annotations

from . import _native as n
from ._abi import ErrorCode

__all__ = ["ErrorCode", "TcpServerError", "last_error"]


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
