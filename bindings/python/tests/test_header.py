"""tcpserver._native against tcpserver.h itself: an export, callback type or constant added to
(or changed in) the header fails here until the binding mirrors it."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path
from typing import Any, Dict, List

from tcpserver import _native as n

HEADER = Path(__file__).resolve().parents[3] / "dll" / "include" / "tcpserver.h"

# Scalar C types of the header -> the ctypes the binding must use for them.
SCALARS: Dict[str, Any] = {
    "void": None, "int32_t": ctypes.c_int32, "uint32_t": ctypes.c_uint32,
    "int64_t": ctypes.c_int64, "uint64_t": ctypes.c_uint64, "double": ctypes.c_double,
}


def header_text() -> str:
    """The header without comments (they hold declarations in prose)."""
    return re.sub(r"/\*.*?\*/", " ", HEADER.read_text(), flags=re.S)


def expected_ctype(c_type: str) -> Any:
    """The ctypes type this binding declares for a C type of the header."""
    c_type = re.sub(r"\bconst\b", "", c_type).replace(" ", "")
    if c_type.startswith("TOn"):
        return getattr(n, c_type)  # the same-named callback type
    if c_type in SCALARS:
        return SCALARS[c_type]
    target = c_type[:-1]
    if target == "char":
        return ctypes.c_char_p                   # UTF-8 text, in or out
    if target == "TcpLink":
        return n.PLink
    if target == "TcpServerHandle":
        return n.PTcpServerHandle
    if target in ("void", "uint8_t"):
        return ctypes.c_void_p                   # buffers: plain addresses
    return ctypes.POINTER(SCALARS[target])       # an out value


def parameter_types(text: str) -> List[Any]:
    text = re.sub(r"\s+", " ", text).strip()
    if text == "void":
        return []
    # Drop each parameter's name: what remains is its type.
    return [expected_ctype(re.sub(r"\w+$", "", item.strip())) for item in text.split(",")]


def test_every_export_is_declared_with_the_header_types() -> None:
    declared = {name: (restype, argtypes)
                for name, restype, argtypes in n._EXPORTS + n._EXPORTS_1_1 + n._EXPORTS_1_2}
    exports = re.findall(r"TS_API\s+([\w\s*]+?)\s*TS_CALL\s+(\w+)\s*\(([^)]*)\)\s*;",
                         header_text())
    assert len(exports) > 70, "too few exports parsed: has the header's format changed?"
    problems = []
    for c_return, name, c_parameters in exports:
        if name not in declared:
            problems.append(f"{name} is not declared")
            continue
        restype, argtypes = declared.pop(name)
        if restype is not expected_ctype(c_return):
            problems.append(f"{name}: returns {restype}, the header {c_return.strip()}")
        if list(argtypes) != parameter_types(c_parameters):
            problems.append(f"{name}: parameters {argtypes}, the header ({c_parameters})")
        if not callable(getattr(n, name, None)):
            problems.append(f"{name} is not bound")
    problems += [f"{name} is declared but not in the header" for name in declared]
    assert problems == []


def test_every_callback_type_matches_the_header() -> None:
    typedefs = re.findall(r"typedef\s+([\w\s*]+?)\s*\(\s*TS_CALL\s*\*\s*(\w+)\s*\)\s*"
                          r"\(([^)]*)\)\s*;", header_text())
    assert len(typedefs) == 13
    for c_return, name, c_parameters in typedefs:
        functype = getattr(n, name)
        assert functype._restype_ is expected_ctype(c_return), name
        assert list(functype._argtypes_) == parameter_types(c_parameters), name
        assert functype._flags_ == n.TOnReceive._flags_, f"{name}: calling convention"


def test_every_constant_has_the_header_value() -> None:
    defines = re.findall(r"^\s*#define\s+((?:TS|TCPSERVER)_\w+)[ \t]+(-?\d+)\s*$",
                         header_text(), flags=re.M)
    assert len(defines) > 70
    wrong = {name: (getattr(n, name, "missing"), int(value)) for name, value in defines
             if getattr(n, name, None) != int(value)}
    assert wrong == {}
    header_names = {name for name, _ in defines} | {"TCPSERVER_VERSION_NUMBER"}
    extra = [name for name in vars(n) if re.match(r"(TS|TCPSERVER)_[A-Z0-9_]+$", name)
             and name not in header_names]
    assert extra == []
    assert n.TCPSERVER_VERSION_NUMBER == (n.TCPSERVER_VERSION_MAJOR * 10000
                                          + n.TCPSERVER_VERSION_MINOR * 100
                                          + n.TCPSERVER_VERSION_PATCH)


def test_record_fields_follow_the_header() -> None:
    text = header_text()
    for record in (n.TcpWorker, n.TcpLink):
        body = re.search(r"typedef struct %s \{(.*?)\}" % record.__name__, text, re.S).group(1)
        names = re.findall(r"(\w+)\s*(?:\[[^\]]*\])?\s*;", body)
        assert [field for field, *_ in record._fields_] == names


def test_the_library_exports_everything_the_header_declares() -> None:
    # The library under test is built from this header: none may be a MissingExportError stub.
    assert n.missing_exports == []
