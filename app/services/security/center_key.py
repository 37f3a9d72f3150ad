"""The control center's Ed25519 signing key: it signs every task the center ships, and its
fingerprint is what an edge's operator passes to `feddeck edge --trust-center`. Made on
first use in the data dir, readable by its owner only."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.core.tasks.signature import fingerprint, signed_bytes
from app.errors import InvalidInput

KEY_FILE = "center-signing.pem"


@dataclass(frozen=True)
class CenterKey:
    private: Ed25519PrivateKey

    @property
    def public_bytes(self) -> bytes:
        return self.private.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_bytes)

    def sign(self, name: str, version: str, sha256: str) -> str:
        return self.private.sign(signed_bytes(name, version, sha256)).hex()


def center_key(data_dir: Path) -> CenterKey:
    path = data_dir / KEY_FILE
    if not path.exists():
        data_dir.mkdir(parents=True, exist_ok=True)
        pem = Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        try:  # O_EXCL: two processes starting at once keep the first key
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"{path}: not a usable signing key ({exc})") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput(f"{path}: not an Ed25519 key")
    return CenterKey(key)
