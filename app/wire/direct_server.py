"""The serving side of the direct channel (`app.wire.direct` has the protocol): one
listener for a run's server, one thread per transfer, one-time capabilities to fetch
what it offers and to push what it expects."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
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

from app.wire.direct import (
    FETCH,
    MAGIC,
    PUSH,
    PUSH_HEAD,
    REQUEST,
    DirectFailed,
    Endpoint,
    read_exact,
    receive,
    refuse,
)

log = logging.getLogger(__name__)

_MAX_CONNECTIONS = 64


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

    def withdraw(self, caps: Sequence[str]) -> None:
        """Forget these offers' capabilities, fetched or not (their round is long over)."""
        with self._lock:
            for cap in caps:
                self._fetches.pop(bytes.fromhex(cap), None)

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
                refuse(conn, "too many direct transfers at once")
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
            magic, op, cap = REQUEST.unpack(read_exact(conn, REQUEST.size))
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
            refuse(conn, "unknown or used capability")
            return
        conn.sendall(b"K")
        for part in offer.parts:
            conn.sendall(part)
        with self._lock:
            self.bytes_sent += offer.size

    def _serve_push(self, conn: socket.socket, cap: bytes) -> None:
        (size,) = PUSH_HEAD.unpack(read_exact(conn, PUSH_HEAD.size))
        with self._lock:
            expected = self._pushes.pop(cap, None)
            fits = expected is not None and size <= expected.max_size
            room = self._pending + size <= self.max_pending
            if fits and room:
                self._pending += size
        if expected is None:
            refuse(conn, "unknown or used capability")
            return
        if not fits:
            refuse(conn, f"{size} bytes is more than the {expected.max_size} expected")
            return
        if not room:
            refuse(conn, "too many pushed bytes held; try the hub")
            return
        try:
            conn.sendall(b"K")
            buffer, got = receive(conn, size)
            digest = read_exact(conn, 32)  # the pusher hashed while it sent
        except BaseException:
            with self._lock:
                self._pending -= size
            raise
        if got != digest:
            with self._lock:
                self._pending -= size
            refuse(conn, "the bytes do not match their SHA-256")
            return
        with self._lock:
            old = self._received.pop(expected.key, None)
            if old is not None:
                self._pending -= old[1].nbytes
            self._received[expected.key] = (got.hex(), buffer)
            self.bytes_received += size
        conn.sendall(b"K")


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
