"""Locating the library: loaded at first use, not at import; TCPSERVER_LIBRARY is
authoritative; failures say what was tried."""

from __future__ import annotations

import os
import subprocess
import sys


def import_with(library: str, code: str = "import tcpserver; tcpserver.version()"
                ) -> subprocess.CompletedProcess:
    env = dict(os.environ, TCPSERVER_LIBRARY=library)
    return subprocess.run([sys.executable, "-c", code], env=env,
                          capture_output=True, text=True, timeout=30)


# What documentation tools and type checkers do with a package: import it, read its enums,
# signatures and docs. None of it may need the library.
WITHOUT_LIBRARY = """
import inspect, pydoc, sys
import tcpserver, tcpserver.aio
assert tcpserver.__version__.count(".") == 2, tcpserver.__version__
assert tcpserver.Option.MAX_LINKS == 1 and tcpserver.ErrorCode.OK == 0
assert "max_links" in pydoc.render_doc(tcpserver.Server)
assert "coroutine" in pydoc.render_doc(tcpserver.aio.AsyncServer).lower()
assert "link" in str(inspect.signature(tcpserver.Server.on_receive))
assert tcpserver.Server.max_links.__doc__.startswith("max concurrent links")
assert "tcpserver._native" in sys.modules and "lib" not in vars(sys.modules["tcpserver._native"])
print("imported without the library")
"""


def test_import_reads_docs_and_enums_without_the_library(tmp_path) -> None:
    result = import_with(str(tmp_path / "nowhere" / "libtcpserver.so"), WITHOUT_LIBRARY)
    assert result.returncode == 0, result.stderr
    assert "imported without the library" in result.stdout


def test_missing_library_error_lists_what_was_tried(tmp_path) -> None:
    missing = str(tmp_path / "nowhere" / "libtcpserver.so")
    result = import_with(missing)
    assert result.returncode != 0
    assert "LibraryNotFoundError: cannot load the tcpserver library" in result.stderr
    assert f"{missing}: no such file" in result.stderr
    assert "set TCPSERVER_LIBRARY" in result.stderr


def test_a_library_that_is_not_tcpserver_is_named(tmp_path) -> None:
    not_a_library = tmp_path / "libtcpserver.so"
    not_a_library.write_bytes(b"this is not an ELF or PE file")
    result = import_with(str(not_a_library))
    assert result.returncode != 0
    assert str(not_a_library) in result.stderr


def test_a_missing_newer_export_fails_when_called_and_names_its_api() -> None:
    from tcpserver import _native as n
    for name, api in (("PauseReceive", "1.1"), ("TcpServerGetLinkFree", "1.2")):
        stub = n._missing(name, api)
        try:
            stub(None)
        except n.MissingExportError as error:
            assert f"has no export {name}" in str(error)
            assert f"API {api}: update the library" in str(error)
        else:
            raise AssertionError("a missing export must raise when called")
    optional = {name for name, _restype, _argtypes, since in n.EXPORTS if since != "1.0"}
    assert set(n.missing_exports) <= optional
