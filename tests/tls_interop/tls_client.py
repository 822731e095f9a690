#!/usr/bin/python3
"""tls_client.py — a scriptable TLS client (Python's ssl) for tests written in languages whose
runtime has no TLS client of its own here (the Pascal binding's test_tls). It reads commands on
standard input, one per line, and answers each with one line on standard output:

  connect NAME PORT [sni=HOST] [ca=FILE] [cert=FILE] [key=FILE] [alpn=A,B] [max=1.2|1.3]
      -> "OK version=TLSv1.3 cipher=... subject=commonName=... alpn=..." or "FAIL <why>"
         (ca: verify the server against it, else no verification; cert/key: a client
          certificate; a server that refuses the handshake gives FAIL)
  echo NAME TEXT    -> "OK" when TEXT (the rest of the line) came back, else "FAIL <why>"
  close NAME [bare] -> "OK": close_notify then FIN, or with bare a FIN alone
  quit              -> exits 0

Every wait is bounded (10 s). Standard library only; single-threaded.
"""

from __future__ import annotations

import socket
import ssl
import sys
from typing import Dict

TIMEOUT = 10.0


def connect(port: int, options: Dict[str, str]) -> ssl.SSLSocket:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if "ca" in options:
        context.load_verify_locations(cafile=options["ca"])
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    if "cert" in options:
        context.load_cert_chain(options["cert"], options.get("key"))
    if "alpn" in options:
        context.set_alpn_protocols(options["alpn"].split(","))
    if options.get("max") == "1.2":
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    raw = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
    try:
        # TLS 1.3: a server that refuses the client's certificate says so only after the
        # client's side of the handshake is done; the next echo then fails.
        return context.wrap_socket(raw, server_hostname=options.get("sni", "localhost"))
    except BaseException:
        raw.close()
        raise


def subject(client: ssl.SSLSocket) -> str:
    """The server certificate's subject ("commonName=localhost"); "(unverified)" without ca=
    (Python's ssl decodes only a verified certificate)."""
    peer = client.getpeercert()
    if not peer:
        return "(unverified)"
    return ",".join(f"{key}={value}" for item in peer.get("subject", ()) for key, value in item)


def main() -> int:
    links: Dict[str, ssl.SSLSocket] = {}
    for line in sys.stdin:
        words = line.rstrip("\n").split(" ")
        command, args = words[0], words[1:]
        try:
            if command == "connect":
                name, port = args[0], int(args[1])
                options = dict(arg.split("=", 1) for arg in args[2:])
                client = connect(port, options)
                links[name] = client
                reply = (f"OK version={client.version()} cipher={client.cipher()[0]} "
                         f"subject={subject(client)} "
                         f"alpn={client.selected_alpn_protocol() or ''}")
            elif command == "echo":
                name, text = args[0], " ".join(args[1:]).encode()
                client = links[name]
                client.sendall(text)
                back = b""
                while len(back) < len(text):
                    chunk = client.recv(len(text) - len(back))
                    if not chunk:
                        raise ConnectionError(f"closed after {len(back)} bytes")
                    back += chunk
                reply = "OK" if back == text else f"FAIL got {back!r}"
            elif command == "close":
                client = links.pop(args[0])
                if args[1:] == ["bare"]:
                    socket.socket.close(client)
                else:
                    client.unwrap().close()
                reply = "OK"
            elif command == "quit":
                return 0
            else:
                reply = f"FAIL unknown command {command!r}"
        except (OSError, ssl.SSLError, KeyError, IndexError, ValueError) as error:
            reply = f"FAIL {type(error).__name__}: {error}"
        print(reply, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
