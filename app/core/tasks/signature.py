"""What a control center's signature on a task says, and how an edge checks it (Ed25519).

The center signs its task's name, version and archive SHA-256; an edge that trusts the
center (by the fingerprint of its public key) checks the signature and the archive's hash
before it writes a byte of the code to disk."""

from __future__ import annotations

import hashlib

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.errors import InvalidInput

_DOMAIN = b"feddeck-task-signature-v1\n"


def signed_bytes(name: str, version: str, sha256: str) -> bytes:
    return _DOMAIN + f"{name}\n{version}\n{sha256}\n".encode()


def fingerprint(public_key: bytes) -> str:
    """The center's public key as an operator copies it: 64 hex digits."""
    return hashlib.sha256(public_key).hexdigest()


def normalise_fingerprint(text: str) -> str:
    cleaned = text.strip().lower().replace(":", "").removeprefix("sha256")
    if len(cleaned) != 64 or any(c not in "0123456789abcdef" for c in cleaned):
        raise InvalidInput(f"{text!r} is not a center fingerprint (64 hex digits)")
    return cleaned


def verify(
    public_key: bytes, signature: bytes, name: str, version: str, sha256: str, trusted: str
) -> None:
    """Raises InvalidInput with the reason unless `trusted` signed exactly this archive."""
    if fingerprint(public_key) != trusted:
        raise InvalidInput(
            f"task {name} {version} is signed by center {fingerprint(public_key)[:16]}…, "
            f"not by the trusted center {trusted[:16]}…"
        )
    try:
        Ed25519PublicKey.from_public_bytes(public_key).verify(
            signature, signed_bytes(name, version, sha256)
        )
    except (InvalidSignature, ValueError):
        raise InvalidInput(f"task {name} {version}: the signature does not match") from None
