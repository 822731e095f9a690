"""Tests of tools/abi/abi.py (pytest; CTest runs them as abi_tool).

abi.py reads the real header and gets its facts right; it refuses what it does not understand,
naming the line; it enforces the constant families' number ranges and the frozen API 1.2; --check
names a stale file and what to run; adding an option rewrites generated files only. Each case
edits a copy of tcpserver.h in a scratch repository (pytest's tmp_path), never the real one.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import sys
from pathlib import Path
from typing import List, Sequence

import pytest

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
import abi  # noqa: E402

HEADER = "dll/include/tcpserver.h"
TEXT = (ROOT / HEADER).read_text(encoding="utf-8")
CLUSTER_HEADER = "cluster/include/tcpcluster.h"
DERIVED = [rel for rel, _ in abi.OUTPUTS["TCPSERVER"]]
CLUSTER_DERIVED = [rel for rel, _ in abi.OUTPUTS["TCPCLUSTER"]]


def scratch(tmp_path: Path, text: str, derived: bool = False) -> Path:
    """A repository holding this header text, the cluster library's header as committed, the
    frozen snapshots and (if asked) copies of the derived files as committed."""
    (tmp_path / "dll/include").mkdir(parents=True)
    (tmp_path / HEADER).write_text(text, encoding="utf-8")
    (tmp_path / CLUSTER_HEADER).parent.mkdir(parents=True)
    shutil.copy(ROOT / CLUSTER_HEADER, tmp_path / CLUSTER_HEADER)
    (tmp_path / "tools/abi").mkdir(parents=True)
    for snapshot in abi.snapshots(ROOT):
        shutil.copy(snapshot, tmp_path / "tools/abi" / snapshot.name)
    if derived:
        for rel in DERIVED + CLUSTER_DERIVED:
            (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / rel, tmp_path / rel)
    return tmp_path


def edited(old: str, new: str, text: str = TEXT) -> str:
    assert text.count(old) == 1, f"the test's anchor is not unique in the header: {old}"
    return text.replace(old, new)


def error_of(tmp_path: Path, text: str) -> str:
    with pytest.raises(abi.AbiError) as raised:
        abi.load(scratch(tmp_path, text), HEADER)
    return str(raised.value)


def line_of(text: str, needle: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def pin_problems(tmp_path: Path, text: str) -> List[str]:
    root = scratch(tmp_path, text)
    return abi.check_pins(root, abi.load(root, HEADER))


def run(argv: Sequence[str]) -> int:
    return abi.main(list(argv))


# ---- the real header ------------------------------------------------------------------------

def test_the_header_is_read_with_its_facts() -> None:
    m = abi.load(ROOT, HEADER)
    # The API only grows: what 1.2 had is a floor, not the exact count.
    assert m.version[0] == 1 and m.version[1] >= 2
    assert m.call_macro == "TS_CALL" and m.api_macro == "TS_API"
    assert len(m.exports) >= 84 and len(m.callbacks) == 13 and list(m.records) == [
        "TcpWorker", "TcpLink"]
    kinds = {name: (f.ret_kind, [p.kind for p in f.params]) for name, f in m.exports.items()}
    assert kinds["GetServerOptionRange"] == ("bool", ["value", "out", "out"])
    assert kinds["GetLinkIds"] == ("value", ["array", "value"])
    assert kinds["GetLocalIP"] == ("value", ["bool", "array", "value"])
    assert kinds["StartTcpServer"] == ("bool", ["text", "value"])
    assert kinds["TcpServerGetPort"] == ("value", ["handle"])
    assert kinds["CreateTcpServer"] == ("handle", ["pointer"])
    assert [p.kind for p in m.callbacks["TOnReceive"].params] == ["record", "bytes", "value"]
    assert m.callbacks["TOnThreadCreateEx"].params[1].kind == "bool"
    assert [f.kind for f in m.records["TcpWorker"].fields][3] == "bool"
    assert m.exports["GetVersion"].only_if == "!defined(_WIN32)"
    assert m.exports["PostSendById"].stdcall_bytes() == 16  # uint64_t + void* + int32_t
    assert m.exports["TcpServerGetExecCount"].since == (1, 2)
    assert m.exports["PauseReceive"].since == (1, 1) and m.exports["PostRecv"].since == (1, 0)
    links = m.constants["TS_OPT_MAX_LINKS"]
    assert (links.default, links.minimum, links.maximum) == (3000, 1, (1 << 24) - 1)
    policy = m.constants["TS_OPT_SEND_QUEUE_POLICY"]  # bounds named by later constants
    assert (policy.default, policy.minimum, policy.maximum) == (0, 0, 1)
    assert m.constants["TS_OK"].family == "TS_ERR_"
    assert m.constants["TS_CLOSE_FLAG_ABORT"].family == "TS_CLOSE_FLAG_"
    assert (20, 29, "memory budget") in m.family("TS_OPT_").ranges
    assert abi.layout(m.records["TcpLink"], 4)["TcpLink.size"] == 96


def test_the_computed_layout_is_the_library_s() -> None:
    library = os.environ.get("TCPSERVER_LIBRARY")
    if not library:
        pytest.skip("TCPSERVER_LIBRARY is not set (CTest sets it to the library of the build)")
    lib = ctypes.CDLL(library)
    lib.GetAbiLayout.restype = ctypes.c_char_p
    reported = dict(item.split("=") for item in lib.GetAbiLayout().decode().split(";"))
    ours = abi.layouts(abi.load(ROOT, HEADER), ctypes.sizeof(ctypes.c_void_p))
    compared = {k: int(v) for k, v in reported.items() if k in ours}
    assert len(compared) == len(reported) - 1  # all but the version
    assert compared == {k: ours[k] for k in compared}


def test_the_generated_python_compiles_and_its_enum_members_are_names() -> None:
    # A family member whose name after its prefix starts with a digit (TS_TLS_1_2) once became
    # `1_2 = TS_TLS_1_2`: a SyntaxError at `import tcpserver`.
    model = abi.load(ROOT, HEADER)
    source = abi.gen_python(model)
    compile(source, "_abi.py", "exec")
    for fam, members in abi.py_enum_families(model):
        for c in members:
            assert abi.py_member_name(c.name, fam).isidentifier(), c.name
    tls = {c.name: abi.py_member_name(c.name, fam)
           for fam, members in abi.py_enum_families(model) for c in members
           if fam.key == "TS_TLS_"}
    assert tls == {"TS_TLS_1_2": "TLS_1_2", "TS_TLS_1_3": "TLS_1_3"}
    assert abi.py_enum_of(next(f for f, _ in abi.py_enum_families(model)
                               if f.key == "TS_TLS_"))[0] == "TlsVersion"


def test_check_and_pin_pass_on_the_repository(capsys) -> None:
    assert run(["--check"]) == 0
    assert run(["--pin", str(ROOT / "tools/abi/api-1.2.json")]) == 0
    assert "keeps all" in capsys.readouterr().out


# ---- strictness: what abi.py does not understand is an error naming the line ---------------

@pytest.mark.parametrize("inserted, message", [
    ("#pragma once", "a directive abi.py does not understand"),
    ("int Counter;", "a declaration abi.py does not understand"),
    ("TS_API int32_t TS_CALL Odd(int32_t A) = 0;", "unexpected character '='"),
    ("TS_API int32_t TS_CALL Odd(struct Foo* A);", "a type abi.py does not understand"),
    ("TS_API int32_t TS_CALL Odd(size_t A);", "unknown type 'size_t'"),
    ("TS_API int32_t TS_CALL Odd(int64_t* Value); /* @since 1.3 */",
     "say what it points to with @out Value"),
    ("TS_API double TS_CALL Odd(void); /* @bool @since 1.3 */", "@bool on Odd, which returns "
                                                                 "double"),
    ("TS_API int32_t TS_CALL Odd(int32_t A); /* @out Nope @since 1.3 */",
     "Odd has no parameter Nope"),
    ("TS_API int32_t TS_CALL Odd(int32_t A); /* @sinse 1.3 */", "unknown tag @sinse"),
    ("#define TS_WHATEVER 7", "TS_WHATEVER belongs to no constant family"),
    ("typedef struct TcpOdd { int32_t A; uint64_t B; } TcpOdd;", "differs between 32-bit ABIs"),
    ("typedef struct TcpOdd { int32_t A[4]; } TcpOdd;", "arrays of int32_t are not understood"),
])
def test_what_is_not_understood_is_an_error_naming_its_line(tmp_path: Path, inserted: str,
                                                           message: str) -> None:
    anchor = "TS_API const char* TS_CALL GetAbiLayout(void);"
    text = edited(anchor, anchor + "\n\n" + inserted)
    error = error_of(tmp_path, text)
    assert message in error
    assert f"tcpserver.h:{line_of(text, inserted)}:" in error


def test_a_declaration_under_an_unknown_condition_is_an_error(tmp_path: Path) -> None:
    anchor = "TS_API const char* TS_CALL GetAbiLayout(void);"
    text = edited(anchor, anchor + "\n#if defined(FOO)\nTS_API int32_t TS_CALL Odd(void);\n#endif")
    assert "understands only #if !defined(_WIN32)" in error_of(tmp_path, text)


def test_an_option_needs_its_default_and_range(tmp_path: Path) -> None:
    text = edited("#define TS_OPT_TCP_NODELAY       9  /* 1 = Nagle off. @default 1 @range 0..1 */",
                  "#define TS_OPT_TCP_NODELAY       9  /* 1 = Nagle off. @range 0..1 */")
    assert "option TS_OPT_TCP_NODELAY needs @default" in error_of(tmp_path / "a", text)
    text = edited("Nagle off. @default 1 @range 0..1 */", "Nagle off. @default 2 @range 0..1 */")
    assert "the default 2 is outside its range 0..1" in error_of(tmp_path / "b", text)


# ---- number ranges --------------------------------------------------------------------------

def with_option(number: int, since: str = " @since 1.3") -> str:
    anchor = "#define TS_QUEUE_CLOSE_LINK"
    return edited(anchor, f"#define TS_OPT_DUMMY {number} /* a test option. @default 0 "
                          f"@range 0..1{since} */\n\n{anchor}")


def test_a_new_constant_outside_its_family_s_ranges_is_refused(tmp_path: Path) -> None:
    error = error_of(tmp_path, with_option(60))
    assert "TS_OPT_DUMMY = 60 is outside the numbers of its family" in error
    assert "20-29 memory budget" in error and "50-59 backend and deployment" in error
    assert f"tcpserver.h:{line_of(with_option(60), 'TS_OPT_DUMMY')}:" in error


def test_a_number_taken_twice_in_a_family_is_refused(tmp_path: Path) -> None:
    assert "takes the number of TS_OPT_IPV6_ONLY" in error_of(tmp_path / "a", with_option(19))
    text = edited("#define TS_ERR_NOT_SUPPORTED     23", "#define TS_ERR_NOT_SUPPORTED     22")
    assert "takes the number of TS_ERR_BUSY" in error_of(tmp_path / "b", text)


def test_a_reserved_range_stays_reserved(tmp_path: Path) -> None:
    # 25 is still free (the budget took 24): narrowing the range drops it.
    text = edited("; 24-25 memory budget; 26-29 TLS", "; 24-24 memory budget; 26-29 TLS")
    problems = pin_problems(tmp_path, text)
    assert any("range 24-25 (memory budget) of TS_ERR_ is no longer reserved" in p
               for p in problems)


# ---- the frozen API 1.2 ---------------------------------------------------------------------

def test_a_new_option_in_its_range_keeps_api_1_2(tmp_path: Path) -> None:
    assert pin_problems(tmp_path, with_option(29)) == []


def test_a_new_item_must_say_it_is_new(tmp_path: Path) -> None:
    problems = pin_problems(tmp_path, with_option(29, since=""))
    assert problems == ["api-1.2.json: constant TS_OPT_DUMMY is new after API 1.2 but says "
                        "@since 1.0: tag it @since with the next version (e.g. 1.3)"]


@pytest.mark.parametrize("old, new, expected", [
    ("TS_API int32_t TS_CALL PostRecv(", "TS_API int32_t TS_CALL PostReceive(",
     "export PostRecv of API 1.2 is gone"),
    ("#define TS_ERR_BUSY              22", "#define TS_ERR_BUSY              25",
     "constant TS_ERR_BUSY changed"),
    ("CloseLinkEx(TcpLink* Link, int32_t Flags)", "CloseLinkEx(TcpLink* Link, uint32_t Flags)",
     "export CloseLinkEx changed"),
    ("before a stop begins). @bool */", "before a stop begins). */",
     "export IsTcpServerActive changed"),
    ("typedef void (TS_CALL* TOnLog)(int32_t Level, const char* Text);",
     "typedef void (TS_CALL* TOnLog)(int32_t Level, const char* Line);",
     "callback type TOnLog changed"),
    ("  uint32_t   RemotePort;", "  uint32_t   Extra0;\n  uint32_t   Extra1;\n  uint32_t   RemotePort;",
     "TcpLink.RemotePort (ptr=4) moved from 64 to 72"),
    ("@default 3000 @range", "@default 4000 @range", "TS_OPT_MAX_LINKS's default changed"),
    ("@default 1024 @range 1..65535", "@default 1024 @range 2..65535",
     "TS_OPT_LISTEN_BACKLOG's range narrowed"),
    ("#define TCPSERVER_VERSION_MAJOR 1", "#define TCPSERVER_VERSION_MAJOR 2",
     "the version went from 1.2.0 to 2."),
])
def test_a_change_to_api_1_2_fails_the_pin(tmp_path: Path, old: str, new: str,
                                           expected: str) -> None:
    problems = pin_problems(tmp_path, edited(old, new))
    assert any(expected in p for p in problems), problems


def test_a_widened_range_keeps_api_1_2(tmp_path: Path) -> None:
    assert pin_problems(tmp_path, edited("@range 1..65535 */", "@range 1..131071 */")) == []


# ---- derived files --------------------------------------------------------------------------

def test_check_names_a_stale_file_and_what_to_run(tmp_path: Path, capsys) -> None:
    root = scratch(tmp_path, TEXT, derived=True)
    assert run(["--check", "--root", str(root)]) == 0
    stale = root / "bindings/csharp/TcpServerNative.g.cs"
    stale.write_text(stale.read_text().replace("int TS_OPT_MAX_LINKS = 1", "int TS_OPT_MAX_LINKS = 9"))
    (root / "bindings/pascal/TcpServerLayout.inc").unlink()
    capsys.readouterr()
    assert run(["--check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert ("bindings/csharp/TcpServerNative.g.cs is out of date with dll/include/tcpserver.h; "
            "run: python3 tools/abi/abi.py --write") in err
    assert "-        public const int TS_OPT_MAX_LINKS = 9;" in err
    assert "bindings/pascal/TcpServerLayout.inc is missing" in err


def test_check_refuses_a_header_that_breaks_the_pin(tmp_path: Path, capsys) -> None:
    root = scratch(tmp_path, edited("#define TS_ERR_BUSY              22",
                                    "#define TS_ERR_BUSY              25"), derived=True)
    assert run(["--write", "--root", str(root)]) == 1
    assert "constant TS_ERR_BUSY changed" in capsys.readouterr().err


def test_adding_an_option_rewrites_generated_files_only(tmp_path: Path, capsys) -> None:
    root = scratch(tmp_path, with_option(29), derived=True)
    capsys.readouterr()
    assert run(["--write", "--root", str(root)]) == 0
    out = capsys.readouterr().out
    assert "0 of 7 files derived from cluster/include/tcpcluster.h rewritten" in out
    written = {line.strip() for line in out.splitlines() if line.startswith("  ")}
    assert written == {"dll/src/core/option_table.inc", "bindings/python/tcpserver/_abi.py",
                       "bindings/csharp/TcpServerNative.g.cs", "bindings/csharp/TcpServerEnums.g.cs",
                       "bindings/pascal/TcpServerConsts.inc",
                       "bindings/pascal/TcpServerOptionProps.inc", "tests/abi/abi_header_check.cpp"}
    table = (root / "dll/src/core/option_table.inc").read_text()
    assert '{TS_OPT_DUMMY, "TS_OPT_DUMMY", 0, 0, 1}' in table
    assert "Dummy = N.TS_OPT_DUMMY" in (root / "bindings/csharp/TcpServerEnums.g.cs").read_text()
    # The idiomatic layers that enumerate options take it from the generated files alone:
    python = (root / "bindings/python/tcpserver/_abi.py").read_text()
    assert "    DUMMY = TS_OPT_DUMMY" in python                       # tcpserver.Option
    assert "    dummy = OptionAttribute(TS_OPT_DUMMY, " in python     # Server(dummy=...)
    assert '"dummy": Option.DUMMY' in python                          # OPTION_NAMES
    props = (root / "bindings/pascal/TcpServerOptionProps.inc").read_text()
    assert "    property Dummy: Boolean index TS_OPT_DUMMY" in props  # the component's property
    assert run(["--check", "--root", str(root)]) == 0


# ---- another header written to the same conventions ------------------------------------------

EXTRA = """/* tcpextra.h — a test header in the cluster library's style, with no derived files. */
#ifndef TCPEXTRA_H
#define TCPEXTRA_H

#include <stdint.h>
#include <tcpserver.h>

#define TCPEXTRA_VERSION_MAJOR 0
#define TCPEXTRA_VERSION_MINOR 1
#define TCPEXTRA_VERSION_PATCH 0
#define TCPEXTRA_VERSION_NUMBER \\
  (TCPEXTRA_VERSION_MAJOR * 10000 + TCPEXTRA_VERSION_MINOR * 100 + TCPEXTRA_VERSION_PATCH)

#if defined(_WIN32)
#define TC_API __declspec(dllimport)
#else
#define TC_API
#endif

/* @family TC_ERR_ cluster errors: 100-119 */

#define TC_ERR_NO_BROKER 100 /* Redis is unreachable */

/* Join a server to the cluster. @bool */
TC_API int32_t TS_CALL TcpClusterJoin(TcpServerHandle* Server, const char* Url);

#endif
"""


def test_another_header_is_described_with_what_it_includes(tmp_path: Path, capsys) -> None:
    root = scratch(tmp_path, TEXT)
    (root / "extra/include").mkdir(parents=True)
    (root / "extra/include/tcpextra.h").write_text(EXTRA)
    m = abi.load(root, "extra/include/tcpextra.h")
    assert m.stem == "TCPEXTRA" and m.version == (0, 1, 0) and m.api_macro == "TC_API"
    join = m.exports["TcpClusterJoin"]
    assert (join.ret_kind, [p.kind for p in join.params]) == ("bool", ["handle", "text"])
    assert m.constants["TC_ERR_NO_BROKER"].family == "TC_ERR_"
    assert run(["--check", "--root", str(root), "--header", "extra/include/tcpextra.h"]) == 0
    assert "no derived files are registered" in capsys.readouterr().out
    broken = EXTRA.replace("TC_ERR_NO_BROKER 100", "TC_ERR_NO_BROKER 120")
    (root / "extra/include/tcpextra.h").write_text(broken)
    with pytest.raises(abi.AbiError, match="tcpextra.h:22: TC_ERR_NO_BROKER = 120 is outside"):
        abi.load(root, "extra/include/tcpextra.h")


# ---- the cluster library's header (tcpcluster.h, with outputs of its own) -------------------

def test_the_cluster_header_is_read_with_its_facts() -> None:
    m = abi.load(ROOT, CLUSTER_HEADER)
    assert m.stem == "TCPCLUSTER" and m.imported is not None and m.imported.stem == "TCPSERVER"
    assert m.call_macro == "TC_CALL" and m.api_macro == "TC_API"  # TC_CALL is TS_CALL
    assert list(m.opaques) == ["TcpClusterNode"] and not m.records
    kinds = {name: (f.ret_kind, [p.kind for p in f.params]) for name, f in m.exports.items()}
    assert kinds["TcpClusterCreate"] == ("handle", ["handle", "text", "text", "text", "pointer"])
    assert kinds["TcpClusterSetEventProc"][1][1:] == ["callback"] * 5  # tcpserver.h's types
    assert kinds["TcpClusterGetOptionRange"] == ("bool", ["value", "out", "out"])
    assert kinds["TcpClusterBroadcast"] == ("value", ["handle", "pointer", "value", "value"])
    assert kinds["TcpClusterGetOption"] == ("value", ["handle", "value"])
    assert [p.kind for p in m.callbacks["TOnClusterTopic"].params][3] == "bytes"
    ttl = m.constants["TC_OPT_KEY_TTL_MS"]
    assert (ttl.default, ttl.minimum, ttl.maximum) == (15000, 300, 86400000)
    assert m.constants["TC_OPT_QUEUE_BYTES"].maximum == 16 << 30
    assert m.constants["TC_OK"].family == "TC_ERR_"
    assert abi.imported_names(m, python=True) == [
        "PTcpServerHandle", "TOnConnectEx", "TOnDisconnectEx", "TOnLinkIdleOvertimeEx",
        "TOnReceiveEx", "TOnThreadCreateEx"]


def test_the_cluster_options_are_the_library_s() -> None:
    """The bounds and defaults generated into cluster/src/option_table.inc are what the built
    library reports (TcpClusterGetOptionRange)."""
    library = os.environ.get("TCPCLUSTER_LIBRARY")
    if not library:
        pytest.skip("TCPCLUSTER_LIBRARY is not set (CTest sets it where the library is built)")
    lib = ctypes.CDLL(library)
    m = abi.load(ROOT, CLUSTER_HEADER)
    options = [c for c in m.constants.values() if c.family == "TC_OPT_"]
    assert len(options) == 11
    for c in options:
        low, high = ctypes.c_int64(), ctypes.c_int64()
        assert lib.TcpClusterGetOptionRange(c.value, ctypes.byref(low), ctypes.byref(high)) == 1
        assert (low.value, high.value) == (c.minimum, c.maximum), c.name


def test_check_covers_the_cluster_header_s_files(tmp_path: Path, capsys) -> None:
    root = scratch(tmp_path, TEXT, derived=True)
    assert run(["--check", "--root", str(root)]) == 0
    assert "all 7 files derived from cluster/include/tcpcluster.h are current" in (
        capsys.readouterr().out)
    header = root / CLUSTER_HEADER
    header.write_text(header.read_text().replace("@default 15000 @range 300..86400000",
                                                 "@default 20000 @range 300..86400000"))
    assert run(["--check", "--root", str(root)]) == 1
    err = capsys.readouterr().err
    assert ("cluster/src/option_table.inc is out of date with cluster/include/tcpcluster.h; "
            "run: python3 tools/abi/abi.py --write") in err
    assert '+    {"TC_OPT_KEY_TTL_MS", 20000, 300, 86400000},' in err
    assert "bindings/python/tcpserver/_cluster_abi.py is out of date" in err
    assert run(["--write", "--root", str(root)]) == 0
    assert run(["--check", "--root", str(root)]) == 0
