#!/usr/bin/python3
"""certs.py — the test PKI of every TLS test outside the engine (bindings, conformance samples,
interop, testssl.sh), made at test time with the openssl command-line tool into a temporary
folder: no key is ever committed. Standard library only; called by pytest fixtures (import
make_test_certs) and by the C# and Pascal tests (run as a script: certs.py DIR).

What it writes into DIR (all PEM unless said; keys unencrypted unless said):

  ca.pem, ca.key            "tcpserver test CA" (signs everything below)
  server.pem, server.key    CN=localhost, SAN DNS:localhost, IP:127.0.0.1 (ECDSA P-256)
  server-chain.pem          server.pem followed by ca.pem
  server-full.pem           server.pem + server.key in one file
  server-enc.key            server.key encrypted with the password PASSWORD (AES-256)
  server.pfx                PKCS#12 of server.pem + server.key + ca.pem, password PASSWORD
  server.der, server-key.der DER forms
  reloaded.pem, .key        CN=reloaded.localhost, the same SANs (a second server certificate)
  server-rsa.pem, .key, .pfx CN=localhost with an RSA-2048 key, PFX password PASSWORD
  server-rsa-legacy.pfx     the same as PKCS#12 with 3DES and a SHA-1 MAC (what Windows and
                            .NET Framework write, and all Mono's X509Certificate2 can import)
  one.test.pem, .key        CN/SAN one.test       (SNI)
  two.test.pem, .key        CN/SAN two.test       (SNI)
  wild.test.pem, .key       CN/SAN *.wild.test    (SNI wildcard)
  one.test-full.pem, two.test-full.pem   certificate + key in one file
  client.pem, client.key    CN=client one,O=tcpserver tests (clientAuth), signed by ca
  client-full.pem           client.pem + client.key
  client-legacy.pfx         client.pem + client.key as a 3DES/SHA-1 PKCS#12, password PASSWORD
  rogue-ca.pem, rogue-client.pem, rogue-client.key   a client signed by another CA
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional

PASSWORD = "test password"
DAYS = "30"

# One config for every `openssl req`: the system's openssl.cnf is not read (its defaults differ
# between distributions), so the certificates are the same everywhere.
_REQ_CONFIG = """\
[ req ]
distinguished_name = dn
prompt = no
[ dn ]
CN = unused
[ v3_ca ]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
"""


def _openssl(args: List[str], cwd: Path) -> None:
    tool = shutil.which("openssl")
    if tool is None:
        raise RuntimeError("the openssl command-line tool is not installed: apt-get install "
                           "openssl (scripts/deps.sh lists it in TEST_PACKAGES)")
    result = subprocess.run([tool, *args], cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed ({result.returncode}):\n"
                           f"{result.stderr}")


def _key(cwd: Path, name: str, rsa: bool = False) -> None:
    if rsa:
        _openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048",
                  "-out", name], cwd)
    else:
        _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                  "-out", name], cwd)


def _ca(cwd: Path, stem: str, cn: str) -> None:
    _key(cwd, f"{stem}.key")
    _openssl(["req", "-config", "req.cnf", "-new", "-x509", "-key", f"{stem}.key",
              "-subj", f"/CN={cn}", "-days", DAYS, "-extensions", "v3_ca",
              "-out", f"{stem}.pem"], cwd)


_serial = 1000


def _leaf(cwd: Path, stem: str, subject: str, ca: str, sans: Optional[str],
          client: bool = False, rsa: bool = False) -> None:
    """A certificate signed by `ca` (its .pem/.key), with SANs ("DNS:a,IP:1.2.3.4")."""
    global _serial
    _serial += 1
    _key(cwd, f"{stem}.key", rsa)
    _openssl(["req", "-config", "req.cnf", "-new", "-key", f"{stem}.key", "-subj", subject,
              "-out", f"{stem}.csr"], cwd)
    lines = ["basicConstraints = critical, CA:FALSE",
             "keyUsage = critical, digitalSignature" + (", keyEncipherment" if rsa else ""),
             "extendedKeyUsage = " + ("clientAuth" if client else "serverAuth")]
    if sans:
        lines.append("subjectAltName = " + sans)
    (cwd / f"{stem}.ext").write_text("\n".join(lines) + "\n")
    _openssl(["x509", "-req", "-in", f"{stem}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
              "-set_serial", str(_serial), "-days", DAYS, "-extfile", f"{stem}.ext",
              "-out", f"{stem}.pem"], cwd)
    (cwd / f"{stem}.csr").unlink()
    (cwd / f"{stem}.ext").unlink()


def _concat(cwd: Path, out: str, *parts: str) -> None:
    (cwd / out).write_bytes(b"".join((cwd / part).read_bytes() for part in parts))


def make_test_certs(directory: Path) -> Path:
    """Write the test PKI into `directory` (created if missing; about a second) and return it."""
    cwd = Path(directory)
    cwd.mkdir(parents=True, exist_ok=True)
    (cwd / "req.cnf").write_text(_REQ_CONFIG)
    local_sans = "DNS:localhost, IP:127.0.0.1, IP:::1"
    _ca(cwd, "ca", "tcpserver test CA")
    _leaf(cwd, "server", "/CN=localhost", "ca", local_sans)
    _leaf(cwd, "reloaded", "/CN=reloaded.localhost", "ca", local_sans)
    _leaf(cwd, "server-rsa", "/CN=localhost", "ca", local_sans, rsa=True)
    _leaf(cwd, "one.test", "/CN=one.test", "ca", "DNS:one.test")
    _leaf(cwd, "two.test", "/CN=two.test", "ca", "DNS:two.test")
    _leaf(cwd, "wild.test", "/CN=*.wild.test", "ca", "DNS:*.wild.test")
    _leaf(cwd, "client", "/O=tcpserver tests/CN=client one", "ca", None, client=True)
    _ca(cwd, "rogue-ca", "rogue CA")
    _leaf(cwd, "rogue-client", "/CN=rogue client", "rogue-ca", None, client=True)

    _concat(cwd, "server-chain.pem", "server.pem", "ca.pem")
    _concat(cwd, "server-full.pem", "server.pem", "server.key")
    _concat(cwd, "client-full.pem", "client.pem", "client.key")
    for name in ("one.test", "two.test", "wild.test"):
        _concat(cwd, f"{name}-full.pem", f"{name}.pem", f"{name}.key")
    _openssl(["pkey", "-in", "server.key", "-aes256", "-passout", f"pass:{PASSWORD}",
              "-out", "server-enc.key"], cwd)
    for stem in ("server", "server-rsa"):
        _openssl(["pkcs12", "-export", "-in", f"{stem}.pem", "-inkey", f"{stem}.key",
                  "-certfile", "ca.pem", "-passout", f"pass:{PASSWORD}", "-out", f"{stem}.pfx"],
                 cwd)
    for stem, out in (("server-rsa", "server-rsa-legacy.pfx"), ("client", "client-legacy.pfx")):
        _openssl(["pkcs12", "-export", "-in", f"{stem}.pem", "-inkey", f"{stem}.key",
                  "-certfile", "ca.pem", "-passout", f"pass:{PASSWORD}", "-certpbe",
                  "PBE-SHA1-3DES", "-keypbe", "PBE-SHA1-3DES", "-macalg", "sha1", "-out", out],
                 cwd)
    _openssl(["x509", "-in", "server.pem", "-outform", "DER", "-out", "server.der"], cwd)
    _openssl(["pkey", "-in", "server.key", "-outform", "DER", "-out", "server-key.der"], cwd)
    (cwd / "req.cnf").unlink()
    for serial in cwd.glob("*.srl"):
        serial.unlink()
    return cwd


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print("usage: certs.py DIR   (writes the test PKI into DIR)", file=sys.stderr)
        sys.exit(2)
    make_test_certs(Path(sys.argv[1]))
