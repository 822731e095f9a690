"""TLS for Server: the settings in the shape of ssl.SSLContext (load_cert_chain,
load_verify_locations, set_alpn_protocols, verify_mode, set_ciphers), SNI certificates, ticket
keys, per-cause failure counts, and what a link's TLS session reports (tls_info).

The engine keeps the settings of each engine server and applies a change made while it runs to
new handshakes at once (links already open keep theirs). A Server also keeps what it was given,
so a new engine server (after close()) gets the same settings at its first use. The options
(tls, tls_min_version, ...) are plain Server options: they apply at start().
"""

from __future__ import annotations

import ctypes
import os
import ssl
import threading
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Tuple, Union

from . import _native as n
# The TLS enums are generated from the header (TS_TLS_*, TS_TLS_CLIENT_CERT_*, TS_TLS_CAUSE_*).
from ._abi import TlsCause, TlsClientCert, TlsVersion
from .errors import ErrorCode, TcpServerError, last_error

if TYPE_CHECKING:
    from .server import Server

PathLike = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]
Password = Union[None, str, bytes, bytearray, Callable[[], Union[str, bytes, bytearray]]]


_SSL_VERSIONS = {ssl.TLSVersion.TLSv1_2: TlsVersion.TLS_1_2,
                 ssl.TLSVersion.TLSv1_3: TlsVersion.TLS_1_3}
_VERIFY_MODES = {ssl.CERT_NONE: TlsClientCert.NONE, ssl.CERT_OPTIONAL: TlsClientCert.REQUEST,
                 ssl.CERT_REQUIRED: TlsClientCert.REQUIRE}


def min_version_value(value: Any) -> int:
    """An option value for tls_min_version from a TlsVersion, an ssl.TLSVersion or a number."""
    if isinstance(value, ssl.TLSVersion):
        if value not in _SSL_VERSIONS:
            raise TcpServerError(ErrorCode.OPTION_RANGE,
                                 f"tls_min_version={value.name}: tcpserver offers TLS 1.2 and "
                                 "1.3 only (TLSv1_2 or TLSv1_3)")
        return int(_SSL_VERSIONS[value])
    return int(value)


# TS_TLS_INFO_* -> the key of Link.tls_info()'s dict.
INFO_KEYS: Dict[str, int] = {
    "protocol": n.TS_TLS_INFO_PROTOCOL,
    "cipher": n.TS_TLS_INFO_CIPHER,
    "server_name": n.TS_TLS_INFO_SERVER_NAME,
    "alpn": n.TS_TLS_INFO_ALPN,
    "client_subject": n.TS_TLS_INFO_CLIENT_SUBJECT,
    "client_issuer": n.TS_TLS_INFO_CLIENT_ISSUER,
    "verify_result": n.TS_TLS_INFO_VERIFY_RESULT,
    "resumed": n.TS_TLS_INFO_RESUMED,
    "client_fingerprint": n.TS_TLS_INFO_CLIENT_FINGERPRINT,
    "certificate_pattern": n.TS_TLS_INFO_CERTIFICATE_PATTERN,
}

_INFO_FIRST_GUESS = 256


def read_tls_info(fetch: Callable[[int, Any, int], int], what: str) -> Optional[Dict[str, Any]]:
    """Every TS_TLS_INFO_* of one link as a dict, through fetch(what, buffer, size) (a
    GetLinkTlsInfo call); None when the link is not a TLS link. "resumed" is a bool."""
    info: Dict[str, Any] = {}
    buffer = ctypes.create_string_buffer(_INFO_FIRST_GUESS)
    for key, code in INFO_KEYS.items():
        while True:
            length = fetch(code, buffer, len(buffer))
            if length >= 0:
                break
            error = last_error(f"{what}: {key}")
            if error.code == ErrorCode.TLS_NOT_ESTABLISHED:
                return None
            if error.code != ErrorCode.BUFFER_TOO_SMALL or len(buffer) > 1 << 20:
                raise error
            buffer = ctypes.create_string_buffer(len(buffer) * 4)
        info[key] = buffer.raw[:length].decode("utf-8", "replace")
    info["resumed"] = info["resumed"] == "1"
    return info


def _fs_path(path: PathLike, what: str) -> str:
    try:
        return os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(f"{what} should be a path (str, bytes or os.PathLike), "
                        f"not {type(path).__name__}") from None


def _read_file(path: PathLike, what: str) -> bytes:
    """The file's bytes; OSError (FileNotFoundError, ...) as ssl.SSLContext raises it."""
    with open(_fs_path(path, what), "rb") as file:
        return file.read()


def _password_bytes(value: Any, from_callable: bool) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    elif isinstance(value, (bytes, bytearray)):
        value = bytes(value)
    elif from_callable:
        raise TypeError("password callback must return a string (str, bytes or bytearray), "
                        f"not {type(value).__name__}")
    else:
        raise TypeError("password should be a string (str, bytes or bytearray) or a callable "
                        f"returning one, not {type(value).__name__}")
    if b"\0" in value:
        raise ValueError("password must not contain a NUL character")
    return value


def _as_bytes(data: Union[str, bytes, bytearray, memoryview], what: str) -> bytes:
    if isinstance(data, str):
        return data.encode("ascii")  # PEM text
    if isinstance(data, (bytes, bytearray, memoryview)):
        return bytes(data)
    raise TypeError(f"{what} should be bytes (PEM, DER or PKCS#12) or PEM text, "
                    f"not {type(data).__name__}")


def _der_certificates(data: bytes) -> List[bytes]:
    """Concatenated DER certificates (as ssl's cadata takes them) split one by one."""
    certificates = []
    offset = 0
    while offset < len(data):
        if data[offset] != 0x30 or offset + 2 > len(data):
            raise ValueError("cadata: not PEM text nor DER certificates")
        length = data[offset + 1]
        header = 2
        if length & 0x80:
            count = length & 0x7F
            if not 1 <= count <= 4 or offset + 2 + count > len(data):
                raise ValueError("cadata: a DER certificate with a bad length")
            length = int.from_bytes(data[offset + 2:offset + 2 + count], "big")
            header += count
        end = offset + header + length
        if end > len(data):
            raise ValueError("cadata: a DER certificate is cut short")
        certificates.append(data[offset:end])
        offset = end
    return certificates


def _ca_pem(data: bytes) -> str:
    """PEM text for CA data: PEM kept as it is, DER certificates (one or several) converted."""
    if b"-----BEGIN" in data:
        return data.decode("ascii", "replace")
    return "".join(ssl.DER_cert_to_PEM_cert(cert) for cert in _der_certificates(data))


class TlsSettings:
    """The TLS part of Server (a mixin): see the module's docstring. Every method raises
    TcpServerError (code TLS_CERTIFICATE or TLS_CONFIG, the text says what to fix) when the
    engine refuses a setting; a refused call changes nothing."""

    def _init_tls(self) -> None:
        # What this object was given, replayed onto a new engine server (see _engine()).
        self._tls_lock = threading.Lock()
        self._tls_given: Dict[Any, Tuple[str, tuple]] = {}
        self._ca_pem: List[str] = []

    # -- applying --------------------------------------------------------------------------

    def _tls_call(self: "Server", key: Any, call: str, args: tuple, what: str) -> None:
        """Run engine.<call>(*args) on this server's engine server and remember it under key
        (a later call with the same key replaces it)."""
        with self._tls_lock:
            if not getattr(self._engine(), call)(*args):
                raise last_error(what)
            self._tls_given[key] = (call, args)

    def _replay_tls(self, engine: Any) -> None:
        """Give a new engine server every setting this object was given."""
        for call, args in list(self._tls_given.values()):
            if not getattr(engine, call)(*args):
                raise last_error(f"TLS setting {call} on a new engine server")

    # -- the server's certificate --------------------------------------------------------------

    def load_cert_chain(self, certfile: PathLike, keyfile: Optional[PathLike] = None,
                        password: Password = None) -> None:
        """The server's certificate chain and private key, as ssl.SSLContext.load_cert_chain:
        certfile holds the certificate (PEM: then the chain; the key too when keyfile is None),
        keyfile the key. Also DER, and PKCS#12/PFX (key inside). password opens an encrypted key
        or a PFX: str, bytes, or a callable returning one (called only if a password is needed).
        Raises OSError for a file that cannot be read, TcpServerError (TLS_CERTIFICATE) for
        content the engine cannot use. On a running server it applies to new handshakes."""
        cert = _read_file(certfile, "certfile")
        key = _read_file(keyfile, "keyfile") if keyfile is not None else None
        names = f"certfile={_fs_path(certfile, 'certfile')!r}" + (
            f", keyfile={_fs_path(keyfile, 'keyfile')!r}" if keyfile is not None else "")
        self._load_certificate(cert, key, password, f"load_cert_chain({names})")

    def load_cert_data(self, certdata: Union[str, bytes], keydata: Union[str, bytes, None] = None,
                       password: Password = None) -> None:
        """load_cert_chain from memory: PEM (text or bytes; the key may be inside), DER, or a
        PKCS#12/PFX (bytes, key inside)."""
        self._load_certificate(_as_bytes(certdata, "certdata"),
                               None if keydata is None else _as_bytes(keydata, "keydata"),
                               password, "load_cert_data")

    def _load_certificate(self, cert: bytes, key: Optional[bytes], password: Password,
                          what: str) -> None:
        self._with_password(password, what, lambda pw: self._tls_call(
            "certificate", "tls_certificate",
            (cert, len(cert), key, len(key) if key else 0, pw), what))

    @staticmethod
    def _with_password(password: Password, what: str,
                       attempt: Callable[[Optional[bytes]], None]) -> None:
        """attempt(password bytes or None); a callable password is called only when the attempt
        without one fails (the key or PFX needs it), as ssl does."""
        if not callable(password):
            attempt(None if password is None else _password_bytes(password, False))
            return
        try:
            attempt(None)
            return
        except TcpServerError as error:
            if error.code != ErrorCode.TLS_CERTIFICATE:
                raise
        attempt(_password_bytes(password(), True))

    # -- SNI -------------------------------------------------------------------------------------

    def add_server_name(self, hostname: str, certfile: Optional[PathLike] = None,
                        keyfile: Optional[PathLike] = None, password: Password = None, *,
                        certdata: Union[str, bytes, None] = None,
                        keydata: Union[str, bytes, None] = None) -> None:
        """SNI: clients asking for `hostname` (or a wildcard "*.example.com", one label) get this
        certificate; an exact name wins over a wildcard, other names and clients without SNI get
        the load_cert_chain one. From files (as load_cert_chain) or from memory (certdata,
        keydata). The same name again replaces its certificate."""
        if (certfile is None) == (certdata is None):
            raise TypeError("add_server_name: give certfile or certdata (one of them)")
        if certfile is not None:
            cert = _read_file(certfile, "certfile")
            key = _read_file(keyfile, "keyfile") if keyfile is not None else None
        else:
            cert = _as_bytes(certdata, "certdata")
            key = None if keydata is None else _as_bytes(keydata, "keydata")
        host = hostname.encode("utf-8")
        what = f"add_server_name({hostname!r})"
        self._with_password(password, what, lambda pw: self._tls_call(
            ("server_name", hostname.lower()), "tls_server_name",
            (host, cert, len(cert), key, len(key) if key else 0, pw), what))

    def remove_server_name(self, hostname: str) -> None:
        """Forget the certificate add_server_name gave `hostname`."""
        what = f"remove_server_name({hostname!r})"
        with self._tls_lock:
            if not self._engine().tls_server_name(hostname.encode("utf-8"), None, 0, None, 0,
                                                  None):
                raise last_error(what)
            self._tls_given.pop(("server_name", hostname.lower()), None)

    # -- ALPN, client certificates, ciphers, tickets ----------------------------------------------

    def set_alpn_protocols(self, alpn_protocols: Iterable[str]) -> None:
        """ALPN protocols in order of preference (["h2", "http/1.1"]), as
        ssl.SSLContext.set_alpn_protocols; [] turns ALPN off. A client offering ALPN with nothing
        in common is refused; link.tls_info()["alpn"] tells the choice."""
        protocols = list(alpn_protocols)
        for protocol in protocols:
            if not isinstance(protocol, str) or not protocol or "," in protocol:
                raise TcpServerError(ErrorCode.TLS_CONFIG,
                                     f"set_alpn_protocols: {protocol!r} is not a protocol name "
                                     "(a non-empty string without commas)")
        text = ",".join(protocols).encode("utf-8")
        self._tls_call("alpn", "tls_alpn", (text,), f"set_alpn_protocols({protocols!r})")

    def load_verify_locations(self, cafile: Optional[PathLike] = None,
                              capath: Optional[PathLike] = None,
                              cadata: Union[str, bytes, None] = None) -> None:
        """CA certificates that client certificates must chain to (see verify_mode), as
        ssl.SSLContext.load_verify_locations: cafile (PEM or DER), cadata (PEM text, or DER
        bytes). Each call adds to those loaded before. capath (a hashed folder) is not
        supported: concatenate the CAs into one file."""
        if cafile is None and capath is None and cadata is None:
            raise TypeError("cafile, capath and cadata cannot be all omitted")
        if capath is not None:
            raise TcpServerError(ErrorCode.NOT_SUPPORTED,
                                 "load_verify_locations: capath is not supported; put the CA "
                                 "certificates into one PEM file and give it as cafile")
        added = []
        if cafile is not None:
            added.append(_ca_pem(_read_file(cafile, "cafile")))
        if cadata is not None:
            if isinstance(cadata, str):
                added.append(cadata if cadata.endswith("\n") else cadata + "\n")
            else:
                added.append(_ca_pem(_as_bytes(cadata, "cadata")))
        with self._tls_lock:
            bundle = "".join(self._ca_pem + added).encode("ascii", "replace")
        self._tls_call("client_ca", "tls_client_ca", (bundle, len(bundle)),
                       "load_verify_locations")
        with self._tls_lock:
            self._ca_pem += added

    @property
    def verify_mode(self) -> ssl.VerifyMode:
        """Client certificates, as ssl.SSLContext.verify_mode: CERT_NONE (not asked for),
        CERT_OPTIONAL (asked for; one sent must verify), CERT_REQUIRED (no verified certificate,
        no handshake). The same option as tls_client_cert; applied at start()."""
        value = TlsClientCert(self.tls_client_cert)
        return next(mode for mode, ours in _VERIFY_MODES.items() if ours == value)

    @verify_mode.setter
    def verify_mode(self, mode: ssl.VerifyMode) -> None:
        if mode not in _VERIFY_MODES:
            raise ValueError(f"verify_mode must be ssl.CERT_NONE, CERT_OPTIONAL or CERT_REQUIRED, "
                             f"not {mode!r}")
        self.tls_client_cert = int(_VERIFY_MODES[mode])

    def set_ciphers(self, ciphers: Optional[str], tls13_suites: Optional[str] = None) -> None:
        """OpenSSL cipher list for TLS 1.2 (as ssl.SSLContext.set_ciphers) and, optionally, the
        TLS 1.3 suites ("TLS_AES_256_GCM_SHA384:..."); None or "" keeps the safe default. NULL,
        export, RC4, 3DES, anonymous and non-forward-secret suites are never enabled."""
        args = tuple(None if text is None else text.encode("ascii")
                     for text in (ciphers, tls13_suites))
        self._tls_call("ciphers", "tls_ciphers", args, f"set_ciphers({ciphers!r})")

    def set_ticket_keys(self, keys: Union[None, bytes, Iterable[bytes]]) -> None:
        """Session-ticket keys shared by several servers behind one balancer (each resumes the
        others' sessions): 1 to 16 keys of 80 bytes (nginx's ssl_session_ticket_key format), as
        one bytes object or a list; the first encrypts, all decrypt. None = a new random key."""
        if keys is None:
            data = None
        elif isinstance(keys, (bytes, bytearray, memoryview)):
            data = bytes(keys)
        else:
            data = b"".join(bytes(key) for key in keys)
        self._tls_call("ticket_keys", "tls_ticket_keys", (data, len(data) if data else 0),
                       "set_ticket_keys")

    # -- what happened -------------------------------------------------------------------------

    def tls_failures(self) -> Dict[str, int]:
        """Handshakes of this server that failed, by cause (TlsCause names, lower case), since
        its engine server was made."""
        engine = self._statistics_engine()
        result = {}
        for cause in TlsCause:
            count = engine.tls_failure_count(int(cause))
            if count < 0:
                raise last_error(f"tls_failures: {cause.name}")
            result[cause.name.lower()] = count
        return result

    def tls_info(self, link_id: int) -> Optional[Dict[str, Any]]:
        """link.tls_info() for a link id, from any thread (None if it is not a TLS link);
        TcpServerError(LINK_CLOSED) for a closed link."""
        return read_tls_info(lambda what, buffer, size:
                             n.GetLinkTlsInfoById(link_id, what, buffer, size),
                             f"tls_info of link {link_id}")
