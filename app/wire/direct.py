"""A direct channel for big payloads, beside the hub: one TCP connection per transfer
between the node that serves it (the FL server) and a node that fetches or pushes one
payload (an edge). The hub carries only the announcement: address, size, SHA-256 and a
one-time capability, so the hub's authentication still decides who may move what.

Requests (big-endian):

    b"FDD1" | op (b"G" fetch, b"P" push) | capability (32 bytes) [| u64 size | sha256 (32)]

The server answers b"K" (go on) or b"E" | u16 length | reason. A fetch then gets the
payload's bytes; a push sends its bytes and gets one more answer once the server checked
their SHA-256. Bytes land in one buffer of the announced size and are hashed as they land
(on a second thread: hashing and the socket overlap). With TLS the server's certificate is
made for the run and pinned by its SHA-256 in the announcement, so no CA is needed.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import queue
import secrets
import socket
import ssl
import struct
import tempfile
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from app.errors import FedDeckError

log = logging.getLogger(__name__)

MAGIC = b"FDD1"
FETCH, PUSH = b"G", b"P"
_REQUEST = struct.Struct(">4sc32s")
_PUSH_HEAD = struct.Struct(">Q32s")
_REASON = struct.Struct(">H")
_STEP = 4 << 20  # bytes received (and hashed) per step
_MAX_CONNECTIONS = 64


class DirectFailed(FedDeckError):
    """A direct transfer did not happen; the text says why (the caller falls back)."""


@dataclass(frozen=True)
class Endpoint:
    """Where and how to reach a direct channel, as an announcement carries it."""

    host: str
    port: int
    pin: str = ""  # SHA-256 of the server's certificate (DER, hex); empty: no TLS

    def to_json(self) -> dict[str, Any]:
        return {"host": self.host, "port": self.port, "pin": self.pin}

    @classmethod
    def from_json(cls, data: object) -> Endpoint:
        if not isinstance(data, dict):
            raise DirectFailed("the announcement has no direct endpoint")
        host, port, pin = data.get("host"), data.get("port"), data.get("pin", "")
        if not isinstance(host, str) or not host or len(host) > 255:
            raise DirectFailed(f"the announced host {host!r} is not a host name")
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise DirectFailed(f"the announced port {port!r} is not a port")
        if not isinstance(pin, str) or (pin and len(pin) != 64):
            raise DirectFailed("the announced certificate pin is not a SHA-256")
        return cls(host, port, pin)

    def __str__(self) -> str:
        return f"{self.host}:{self.port}" + (" (TLS)" if self.pin else "")


def parse_capability(value: object) -> bytes:
    try:
        cap = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        cap = b""
    if len(cap) != 32:
        raise DirectFailed("the announced capability is not 32 bytes of hex")
    return cap


def parse_digest(value: object) -> bytes:
    try:
        digest = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise DirectFailed("the announced SHA-256 is not 32 bytes of hex")
    return digest


# -- the serving side ---------------------------------------------------------------------
@dataclass
class _Offer:
    parts: list[memoryview]
    size: int
    holders: int  # capabilities not used yet


@dataclass
class _Expected:
    key: Any
    max_size: int


class DirectServer:
    """Serves offered payloads and takes pushed ones, each against a one-time capability.

    `offer` and `expect` hand out capabilities; pushed payloads wait in `take` until the
    hub brings their announcement. Pushed bytes held at once are bounded by `max_pending`.
    """

    def __init__(
        self, host: str, *, tls: bool = False, max_pending: int = 4 << 30, timeout_s=60.0
    ) -> None:
        self._lock = threading.Lock()
        self._fetches: dict[bytes, _Offer] = {}
        self._pushes: dict[bytes, _Expected] = {}
        self._received: dict[Any, tuple[str, np.ndarray]] = {}
        self._pending = 0
        self.max_pending = max_pending
        self.timeout_s = timeout_s
        self.bytes_sent = self.bytes_received = 0
        self._slots = threading.BoundedSemaphore(_MAX_CONNECTIONS)
        self._listener = socket.create_server((host, 0))
        self._context: ssl.SSLContext | None = None
        pin = ""
        if tls:
            self._context, pin = _run_certificate(host)
        self.endpoint = Endpoint(host, self._listener.getsockname()[1], pin)
        self._closed = False
        self._thread = threading.Thread(target=self._accept, name="direct-accept", daemon=True)
        self._thread.start()

    # -- what the owner hands out -------------------------------------------------------------
    def offer(self, parts: Sequence[bytes | memoryview], holders: int) -> list[str]:
        """`holders` one-time capabilities to fetch the payload made of `parts` (viewed, not
        copied: keep them unchanged until `withdraw`)."""
        views = [memoryview(p).cast("B") for p in parts]
        offer = _Offer(views, sum(len(v) for v in views), holders)
        caps = [secrets.token_bytes(32) for _ in range(holders)]
        with self._lock:
            for cap in caps:
                self._fetches[cap] = offer
        return [cap.hex() for cap in caps]

    def withdraw_all(self) -> None:
        """Forget every offer not fetched yet (the round they were for is over)."""
        with self._lock:
            self._fetches.clear()

    def expect(self, key: Any, max_size: int) -> str:
        """A one-time capability to push one payload of at most `max_size` bytes, kept
        under `key` once it arrived whole and matched its SHA-256."""
        cap = secrets.token_bytes(32)
        with self._lock:
            self._pushes = {c: e for c, e in self._pushes.items() if e.key != key}
            self._pushes[cap] = _Expected(key, max_size)
        return cap.hex()

    def take(self, key: Any, sha256: str) -> np.ndarray | None:
        """The payload pushed under `key`, if it arrived and its SHA-256 is `sha256`."""
        with self._lock:
            got = self._received.pop(key, None)
            if got is not None:
                self._pending -= got[1].nbytes
        if got is None or got[0] != sha256:
            return None
        return got[1]

    def discard(self, keep=lambda key: False) -> None:
        """Drop pushed payloads (and push capabilities) whose key `keep` does not accept."""
        with self._lock:
            for key in [k for k in self._received if not keep(k)]:
                self._pending -= self._received.pop(key)[1].nbytes
            self._pushes = {c: e for c, e in self._pushes.items() if keep(e.key)}

    def close(self) -> None:
        self._closed = True
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        with self._lock:
            self._fetches.clear()
            self._pushes.clear()
            self._received.clear()
            self._pending = 0

    # -- connections ----------------------------------------------------------------------------
    def _accept(self) -> None:
        while not self._closed:
            try:
                conn, peer = self._listener.accept()
            except OSError:
                return
            if not self._slots.acquire(blocking=False):
                _refuse(conn, "too many direct transfers at once")
                conn.close()
                continue
            threading.Thread(
                target=self._serve, args=(conn, peer), name="direct-transfer", daemon=True
            ).start()

    def _serve(self, conn: socket.socket, peer) -> None:
        try:
            conn.settimeout(self.timeout_s)
            if self._context is not None:
                conn = self._context.wrap_socket(conn, server_side=True)
            magic, op, cap = _REQUEST.unpack(_read_exact(conn, _REQUEST.size))
            if magic != MAGIC:
                raise DirectFailed("not a FedDeck direct request")
            if op == FETCH:
                self._serve_fetch(conn, cap)
            elif op == PUSH:
                self._serve_push(conn, cap)
            else:
                raise DirectFailed(f"unknown operation {op!r}")
        except (OSError, DirectFailed, ssl.SSLError, struct.error) as exc:
            log.warning("direct transfer with %s failed: %s", peer[0], exc)
        finally:
            self._slots.release()
            conn.close()

    def _serve_fetch(self, conn: socket.socket, cap: bytes) -> None:
        with self._lock:
            offer = self._fetches.pop(cap, None)
        if offer is None:
            _refuse(conn, "unknown or used capability")
            return
        conn.sendall(b"K")
        for part in offer.parts:
            conn.sendall(part)
        with self._lock:
            self.bytes_sent += offer.size

    def _serve_push(self, conn: socket.socket, cap: bytes) -> None:
        size, digest = _PUSH_HEAD.unpack(_read_exact(conn, _PUSH_HEAD.size))
        with self._lock:
            expected = self._pushes.pop(cap, None)
            fits = expected is not None and size <= expected.max_size
            room = self._pending + size <= self.max_pending
            if fits and room:
                self._pending += size
        if expected is None:
            _refuse(conn, "unknown or used capability")
            return
        if not fits:
            _refuse(conn, f"{size} bytes is more than the {expected.max_size} expected")
            return
        if not room:
            _refuse(conn, "too many pushed bytes held; try the hub")
            return
        try:
            conn.sendall(b"K")
            buffer, got = _receive(conn, size)
        except BaseException:
            with self._lock:
                self._pending -= size
            raise
        if got != digest:
            with self._lock:
                self._pending -= size
            _refuse(conn, "the bytes do not match their SHA-256")
            return
        with self._lock:
            old = self._received.pop(expected.key, None)
            if old is not None:
                self._pending -= old[1].nbytes
            self._received[expected.key] = (got.hex(), buffer)
            self.bytes_received += size
        conn.sendall(b"K")


# -- the fetching and pushing side --------------------------------------------------------------
def fetch(
    endpoint: Endpoint, cap: str, size: int, sha256: str, timeout_s: float = 60.0
) -> np.ndarray:
    """The announced payload, in a buffer of its size, checked against its SHA-256."""
    digest, capability = parse_digest(sha256), parse_capability(cap)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise DirectFailed(f"the announced size {size!r} is not a size")
    try:
        with _connect(endpoint, timeout_s) as conn:
            conn.sendall(_REQUEST.pack(MAGIC, FETCH, capability))
            _expect_go(conn)
            buffer, got = _receive(conn, size)
    except (OSError, ssl.SSLError, DirectFailed) as exc:
        raise DirectFailed(f"{endpoint}: {_describe(exc)}") from None
    if got != digest:
        raise DirectFailed(f"{endpoint}: the bytes received do not match their SHA-256")
    return buffer


def push(
    endpoint: Endpoint,
    cap: str,
    parts: Sequence[bytes | memoryview],
    sha256: str,
    timeout_s: float = 60.0,
) -> int:
    """Send the payload made of `parts`; returns its size once the server checked it."""
    digest, capability = parse_digest(sha256), parse_capability(cap)
    views = [memoryview(p).cast("B") for p in parts]
    size = sum(len(v) for v in views)
    try:
        with _connect(endpoint, timeout_s) as conn:
            conn.sendall(_REQUEST.pack(MAGIC, PUSH, capability) + _PUSH_HEAD.pack(size, digest))
            _expect_go(conn)
            for view in views:
                conn.sendall(view)
            _expect_go(conn)
    except (OSError, ssl.SSLError, DirectFailed) as exc:
        raise DirectFailed(f"{endpoint}: {_describe(exc)}") from None
    return size


def digest_of(parts: Sequence[bytes | memoryview]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part)
    return hasher.hexdigest()


# -- the pieces both sides share ----------------------------------------------------------------
def _connect(endpoint: Endpoint, timeout_s: float) -> socket.socket:
    conn = socket.create_connection((endpoint.host, endpoint.port), timeout=min(timeout_s, 10))
    conn.settimeout(timeout_s)
    if not endpoint.pin:
        return conn
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # the pin below is the check: stronger than a CA
    tls = context.wrap_socket(conn)
    seen = hashlib.sha256(tls.getpeercert(binary_form=True) or b"").hexdigest()
    if not secrets.compare_digest(seen, endpoint.pin):
        tls.close()
        raise DirectFailed("the server's certificate is not the one announced")
    return tls


def _receive(conn: socket.socket, size: int) -> tuple[np.ndarray, bytes]:
    """`size` bytes into a fresh buffer, hashed on a second thread as they land (both the
    socket and hashlib let go of the GIL, so the two overlap)."""
    buffer = np.empty(size, dtype=np.uint8)
    view = memoryview(buffer)
    ranges: queue.SimpleQueue = queue.SimpleQueue()
    hasher = hashlib.sha256()

    def hash_ranges() -> None:
        while (span := ranges.get()) is not None:
            hasher.update(view[span[0] : span[1]])

    thread = threading.Thread(target=hash_ranges, name="direct-hash", daemon=True)
    thread.start()
    pos = hashed = 0
    try:
        while pos < size:
            got = conn.recv_into(view[pos : min(size, pos + _STEP)])
            if not got:
                raise DirectFailed(f"the connection closed after {pos} of {size} bytes")
            pos += got
            if pos - hashed >= _STEP or pos == size:
                ranges.put((hashed, pos))
                hashed = pos
    finally:
        ranges.put(None)
        thread.join()
    return buffer, hasher.digest()


def _read_exact(conn: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        got = conn.recv(n - len(out))
        if not got:
            raise DirectFailed("the connection closed early")
        out += got
    return bytes(out)


def _expect_go(conn: socket.socket) -> None:
    answer = _read_exact(conn, 1)
    if answer == b"K":
        return
    if answer != b"E":
        raise DirectFailed(f"unexpected answer {answer!r}")
    (length,) = _REASON.unpack(_read_exact(conn, _REASON.size))
    reason = _read_exact(conn, length).decode("utf-8", "replace")
    raise DirectFailed(f"refused: {reason}")


def _refuse(conn: socket.socket, reason: str) -> None:
    raw = reason.encode()[:1000]
    with contextlib.suppress(OSError):
        conn.sendall(b"E" + _REASON.pack(len(raw)) + raw)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _run_certificate(host: str) -> tuple[ssl.SSLContext, str]:
    """A self-signed certificate made for this server's life; its SHA-256 is the pin the
    announcements carry (over the hub's own TLS), so the peers need no CA."""
    import datetime

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"feddeck-direct {host}")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    # ssl loads a chain from files only: a private folder that lives for the call.
    with tempfile.TemporaryDirectory(prefix="feddeck-direct-") as folder:
        cert_path, key_path = os.path.join(folder, "cert.pem"), os.path.join(folder, "key.pem")
        with open(cert_path, "wb") as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(
                key.private_bytes(
                    serialization.Encoding.PEM,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            )
        context.load_cert_chain(cert_path, key_path)
    pin = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
    return context, pin
