"""Edge tokens are kept as their SHA-256 only: they carry 256 random bits, so a slow hash
would buy nothing and slow every hub connection check."""

from __future__ import annotations

import hashlib


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
