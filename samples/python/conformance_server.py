"""The conformance server of tests/conformance/PROTOCOL.md, on the Python binding.

Echoes everything; a chunk "BCAST <text>\\n" broadcasts "<text>\\n" to every link, "STATS\\n"
answers with the statistics, "CLOSE\\n" closes the link, "THROW\\n" raises in the handler (the
binding logs it and closes the link), "REFUSE ON|OFF\\n" toggles refusing new links.
Standard input: "stats" prints a STATS line; "quit" or end of input stops the server.

Run: PYTHONPATH=<repo>/bindings/python TCPSERVER_LIBRARY=<path of libtcpserver.so> \\
     python3 samples/python/conformance_server.py [--port N] [--ip TEXT] ...
"""

from __future__ import annotations

import argparse
import logging
import sys
import threading

from tcpserver import Link, Server, TcpServerError

# Command-line flag -> Server option (PROTOCOL.md: each maps to the same-named option).
OPTION_FLAGS = {
    "idle_ms": "idle_timeout_ms",
    "max_links": "max_links",
    "workers": "worker_threads",
    "buffer_size": "io_buffer_size",
    "buffer_count": "io_buffer_count",
}


class ConformanceServer(Server):
    def __init__(self, **options: int) -> None:
        super().__init__(**options)
        self.refuse = False
        self._lock = threading.Lock()  # handlers run on several engine threads
        self.disconnects = 0
        self.idle = 0

    def stats_line(self) -> str:
        s = self.stats()
        with self._lock:
            disconnects, idle = self.disconnects, self.idle
        return (f"STATS links={s.links} accepts={s.accepts} refused={s.refused} "
                f"closed={s.closed} idle_closed={s.idle_closed} bytes_in={s.bytes_in} "
                f"bytes_out={s.bytes_out} msgs_in={s.msgs_in} msgs_out={s.msgs_out} "
                f"iomem_free={s.iomem_free} iomem_count={self.io_buffer_count} "
                f"workers={s.workers} disconnects={disconnects} idle={idle}\n")

    def on_connect(self, link: Link) -> bool:
        return not self.refuse

    def on_receive(self, link: Link, data: memoryview) -> bool:
        if data[-1] == 0x0A:  # only a chunk ending in a newline can be a command
            command = bytes(data[:10])
            if command.startswith(b"BCAST "):
                self.broadcast(data[6:])
                return True
            if command == b"STATS\n":
                return self.reply(link, self.stats_line().encode("ascii"))
            if command == b"CLOSE\n":
                link.close()
                return True
            if command == b"THROW\n":
                raise RuntimeError("THROW requested by the client")
            if command.startswith(b"REFUSE "):
                self.refuse = command == b"REFUSE ON\n"
                return self.reply(link, b"OK\n")
        return self.reply(link, data)

    @staticmethod
    def reply(link: Link, data: bytes | memoryview) -> bool:
        """Send, or close the link quietly if the send is refused (as the C sample does)."""
        try:
            link.send(data)
            return True
        except TcpServerError:
            return False

    def on_disconnect(self, link: Link) -> None:
        with self._lock:
            self.disconnects += 1

    def on_idle(self, link: Link) -> None:
        with self._lock:
            self.idle += 1


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ip", default="127.0.0.1")
    for flag in OPTION_FLAGS:
        parser.add_argument("--" + flag.replace("_", "-"), type=int, dest=flag)
    return parser.parse_args(argv)


def main(argv: list[str]) -> int:
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING,
                        format="conformance_server: %(name)s %(levelname)s: %(message)s")
    args = parse_args(argv)
    options = {option: getattr(args, flag) for flag, option in OPTION_FLAGS.items()
               if getattr(args, flag) is not None}
    try:
        server = ConformanceServer(**options)
        server.start(args.ip, args.port)
    except TcpServerError as error:
        print(f"conformance_server: cannot start: {error}", file=sys.stderr)
        return 1
    print(f"PORT {server.port}", flush=True)
    for line in sys.stdin:
        command = line.strip()
        if command == "stats":
            print(server.stats_line(), end="", flush=True)
        elif command == "quit":
            break
    server.stop()
    print(f"STOPPED disconnects={server.disconnects} idle={server.idle}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
