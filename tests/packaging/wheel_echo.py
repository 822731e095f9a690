"""Run by check_wheel.sh with a fresh venv's python and no environment variable of ours: the
installed wheel finds its own library, serves an echo on Server and on AsyncServer, and says
the versions of the package, its metadata and the library.

    python wheel_echo.py <venv folder>
"""
import asyncio
import importlib.metadata
import os
import socket
import sys

import tcpserver
from tcpserver.aio import AsyncServer

MESSAGE = b"wheel echo check\n"
TIMEOUT = 30.0


def echo_through(port: int) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as client:
        client.settimeout(TIMEOUT)
        client.sendall(MESSAGE)
        got = b""
        while len(got) < len(MESSAGE):
            chunk = client.recv(len(MESSAGE) - len(got))
            if not chunk:
                break
            got += chunk
        return got


async def async_echo() -> bytes:
    server = AsyncServer(worker_threads=1)

    @server.on_receive
    async def echo(link, data):
        link.send(data)

    async with await server.start("127.0.0.1", 0):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(MESSAGE)
        got = await asyncio.wait_for(reader.readexactly(len(MESSAGE)), TIMEOUT)
        writer.close()
        return got


def main() -> int:
    venv = os.path.realpath(sys.argv[1])
    package = os.path.realpath(tcpserver.__file__)
    assert package.startswith(venv + os.sep), f"tcpserver imported from {package}, not {venv}"
    assert not [name for name in os.environ if name.startswith(("TCPSERVER", "LD_", "PYTHON"))]
    metadata = importlib.metadata.version("tcpserver")
    assert metadata == tcpserver.__version__, (metadata, tcpserver.__version__)
    library = tcpserver.version()
    assert library == f"tcpserver {tcpserver.__version__}", (library, tcpserver.__version__)
    loaded = os.path.realpath(tcpserver._native.lib._name)
    assert loaded == os.path.join(os.path.dirname(package), "libtcpserver.so"), loaded

    with tcpserver.Server(worker_threads=1).start("127.0.0.1", 0) as server:
        got = echo_through(server.port)  # no on_receive: the engine echoes
    assert got == MESSAGE, got
    got = asyncio.run(async_echo())
    assert got == MESSAGE, got
    print(f"wheel {metadata}: {library} from {loaded} echoed on Server and AsyncServer")
    return 0


if __name__ == "__main__":
    sys.exit(main())
