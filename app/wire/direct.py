"""A direct channel for big payloads, beside the hub: one TCP connection per transfer
between the node that serves it (the FL server) and a node that fetches or pushes one
payload (an edge). The hub carries only the announcement: address, size, SHA-256 and a
one-time capability, so the hub's authentication still decides who may move what.

Requests (big-endian):

    b"FDD1" | op (b"G" fetch, b"P" push) | capability (32 bytes) [| u64 size]

The server answers b"K" (go on) or b"E" | u16 length | reason. A fetch then gets the
payload's bytes; a push sends its bytes, then their SHA-256 (hashed while they were
sent, so the hash costs no time of its own), and gets one more answer once the server
checked it. Bytes land in one buffer of the announced size and are hashed as they land
(on a second thread: hashing and the socket overlap). With TLS the server's certificate is
made for the run and pinned by its SHA-256 in the announcement, so no CA is needed. The
serving side is `direct_server`.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import secrets
import socket
import ssl
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import numpy as np

from app.errors import FedDeckError
from app.wire.hashing import HashAside, fill_hashed

MAGIC = b"FDD1"
FETCH, PUSH = b"G", b"P"
REQUEST = struct.Struct(">4sc32s")
PUSH_HEAD = struct.Struct(">Q")
_REASON = struct.Struct(">H")


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


def address_towards(hub_url: str) -> str:
    """The address this machine reaches the hub from, to listen on and announce: so nodes
    that reach the hub likely reach it too (loopback for a hub on loopback)."""
    parsed = urlparse(hub_url)
    hub_host, port = parsed.hostname, parsed.port
    if not hub_host or hub_host == "localhost":
        return "127.0.0.1"
    try:
        if ipaddress.ip_address(hub_host).is_loopback:
            return "127.0.0.1"
    except ValueError:
        pass  # a name: ask the routing table below
    try:  # a UDP "connection" sends nothing; it only picks the outgoing address
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((hub_host, port or 9))
            return probe.getsockname()[0]
    except OSError:
        return "127.0.0.1"


def parse_hex32(value: object, what: str) -> bytes:
    """32 bytes given as hex (a capability, a SHA-256); DirectFailed naming `what`."""
    try:
        raw = bytes.fromhex(value) if isinstance(value, str) else b""
    except ValueError:
        raw = b""
    if len(raw) != 32:
        raise DirectFailed(f"the announced {what} is not 32 bytes of hex")
    return raw


# -- the fetching and pushing side --------------------------------------------------------------
def fetch(
    endpoint: Endpoint, cap: str, size: int, sha256: str, timeout_s: float = 60.0
) -> np.ndarray:
    """The announced payload, in a buffer of its size, checked against its SHA-256."""
    digest, capability = parse_hex32(sha256, "SHA-256"), parse_hex32(cap, "capability")
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise DirectFailed(f"the announced size {size!r} is not a size")
    try:
        with _connect(endpoint, timeout_s) as conn:
            conn.sendall(REQUEST.pack(MAGIC, FETCH, capability))
            expect_go(conn)
            buffer, got = receive(conn, size)
    except (OSError, ssl.SSLError, DirectFailed) as exc:
        raise DirectFailed(f"{endpoint}: {describe(exc)}") from None
    if got != digest:
        raise DirectFailed(f"{endpoint}: the bytes received do not match their SHA-256")
    return buffer


def push(
    endpoint: Endpoint,
    cap: str,
    parts: Sequence[bytes | memoryview],
    sha256: str | None = None,
    timeout_s: float = 60.0,
) -> tuple[int, str]:
    """Send the payload made of `parts`; returns its size and SHA-256 once the server
    checked it. Without `sha256` the payload is hashed on a second thread as it is sent."""
    capability = parse_hex32(cap, "capability")
    known = parse_hex32(sha256, "SHA-256") if sha256 is not None else None
    views = [memoryview(p).cast("B") for p in parts]
    size = sum(len(v) for v in views)
    try:
        with _connect(endpoint, timeout_s) as conn, HashAside(views if known is None else []) as h:
            conn.sendall(REQUEST.pack(MAGIC, PUSH, capability) + PUSH_HEAD.pack(size))
            expect_go(conn)
            for view in views:
                conn.sendall(view)
            digest = known or h.digest()
            conn.sendall(digest)
            expect_go(conn)
    except (OSError, ssl.SSLError, DirectFailed) as exc:
        raise DirectFailed(f"{endpoint}: {describe(exc)}") from None
    return size, digest.hex()


def digest_of(parts: Sequence[bytes | memoryview]) -> str:
    hasher = hashlib.sha256()
    for part in parts:
        hasher.update(part)
    return hasher.hexdigest()


# -- the pieces both sides share (direct_server too) -------------------------------------
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


def receive(conn: socket.socket, size: int) -> tuple[np.ndarray, bytes]:
    """`size` bytes into a fresh buffer, hashed as they land."""
    buffer, digest, got = fill_hashed(conn.recv_into, size)
    if got < size:
        raise DirectFailed(f"the connection closed after {got} of {size} bytes")
    return buffer, digest


def read_exact(conn: socket.socket, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        got = conn.recv(n - len(out))
        if not got:
            raise DirectFailed("the connection closed early")
        out += got
    return bytes(out)


def expect_go(conn: socket.socket) -> None:
    answer = read_exact(conn, 1)
    if answer == b"K":
        return
    if answer != b"E":
        raise DirectFailed(f"unexpected answer {answer!r}")
    (length,) = _REASON.unpack(read_exact(conn, _REASON.size))
    reason = read_exact(conn, length).decode("utf-8", "replace")
    raise DirectFailed(f"refused: {reason}")


def refuse(conn: socket.socket, reason: str) -> None:
    raw = reason.encode()[:1000]
    with contextlib.suppress(OSError):
        conn.sendall(b"E" + _REASON.pack(len(raw)) + raw)


def describe(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return "timed out"
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
