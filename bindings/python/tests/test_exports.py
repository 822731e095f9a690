"""The library under test has every export of tcpserver.h, bound with the header's types.

The declarations are generated from the header (tcpserver._abi, by tools/abi/abi.py; CTest's
abi_generated_files_current fails when they drift from it); this proves the library matches
them at run time."""

from __future__ import annotations

import ctypes

from tcpserver import _native as n


def test_every_export_of_the_header_is_in_the_library() -> None:
    assert len(n.EXPORTS) > 80
    assert n.missing_exports == []
    for name, restype, argtypes, _since in n.EXPORTS:
        function = getattr(n, name)
        assert isinstance(function, ctypes._CFuncPtr), f"{name} is not bound to the library"
        assert function.restype is restype, name
        assert list(function.argtypes) == list(argtypes), name
        assert ctypes.cast(function, ctypes.c_void_p).value, f"{name} has no address"


def test_callbacks_use_the_calling_convention_of_the_header() -> None:
    expected = ctypes.WINFUNCTYPE if n.STDCALL else ctypes.CFUNCTYPE
    assert n.FUNCTYPE is expected
    assert n.TOnReceive._flags_ == expected(None)._flags_
