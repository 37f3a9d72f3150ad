"""An edge's side of secure aggregation: its key pair, its masked update and its answer
when the server asks to take the masks off (see the package's docstring)."""

from __future__ import annotations

import base64
import os
import secrets

import numpy as np
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from app.core.secagg import shamir

Weights = dict[str, np.ndarray]
SCALE = float(2**24)  # fixed point: an update's weighted values, to 2^-24
MASK, SHARE = b"feddeck secagg mask", b"feddeck secagg share"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def unb64(text: object, what: str) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except ValueError:
        raise ValueError(f"{what} is not base64") from None


def derive(secret: bytes, label: bytes, job_id: int, rnd: int, a: str, b: str) -> bytes:
    """A 32-byte key for this pair of nodes (in either order), run and round."""
    low, high = sorted((a, b))
    info = label + f"|{job_id}|{rnd}|{low}|{high}".encode()
    return HKDF(hashes.SHA256(), 32, salt=None, info=info).derive(secret)


def prg(key: bytes, n: int) -> np.ndarray:
    """n uint64 words of AES-256-CTR keystream: the same on every machine."""
    stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return np.frombuffer(stream.update(bytes(8 * n)), dtype=np.uint64).copy()


def layout(reference: Weights) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, reference[name].shape) for name in sorted(reference)]


def vector_length(reference: Weights) -> int:
    return sum(int(np.prod(shape)) for _, shape in layout(reference)) + 1  # + the samples


def encode(update: Weights, num_samples: int) -> np.ndarray:
    """num_samples · update in fixed point, tensors by name, then num_samples: uint64
    words whose wrap-around sum is the sum of the edges' (as int64)."""
    parts = [
        np.rint(update[name].astype(np.float64).ravel() * (num_samples * SCALE))
        for name, _ in layout(update)
    ]
    flat = np.concatenate([*parts, [0.0]]).astype(np.int64)
    flat[-1] = num_samples
    return flat.view(np.uint64)


def decode(total: np.ndarray, reference: Weights) -> tuple[Weights, int]:
    """The mean update (in each tensor's dtype) and the samples behind it, from the sum."""
    signed = total.view(np.int64)
    samples = int(signed[-1])
    if samples <= 0:
        raise ValueError(f"the unmasked sample count is {samples}")
    out, at = {}, 0
    for name, shape in layout(reference):
        size = int(np.prod(shape))
        values = signed[at : at + size].astype(np.float64) / (SCALE * samples)
        ref = reference[name]
        values = values if np.issubdtype(ref.dtype, np.floating) else np.rint(values)
        out[name] = values.reshape(shape).astype(ref.dtype)
        at += size
    return out, samples


class EdgeSecrets:
    """One run's key pair on an edge, and the rounds it has answered an unmasking for."""

    def __init__(self, job_id: int, node: str) -> None:
        self.job_id, self.node = job_id, node
        self._private = X25519PrivateKey.generate()
        self.public = b64(self._private.public_key().public_bytes_raw())
        self._answered: set[int] = set()

    def _shared(self, peer_public: str) -> bytes:
        raw = unb64(peer_public, "a peer's key")
        try:
            return self._private.exchange(X25519PublicKey.from_public_bytes(raw))
        except ValueError as exc:
            raise ValueError(f"a peer's key is not an X25519 key: {exc}") from None

    def _peers(self, secagg: object) -> tuple[dict[str, str], int]:
        if not isinstance(secagg, dict) or not isinstance(secagg.get("keys"), dict):
            raise ValueError("the round has no secure-aggregation keys")
        keys = {str(k): str(v) for k, v in secagg["keys"].items()}
        threshold = secagg.get("threshold")
        if keys.get(self.node) != self.public:
            raise ValueError("the round does not carry this edge's own key")
        if not isinstance(threshold, int) or not 2 <= threshold <= len(keys):
            raise ValueError(f"secure-aggregation threshold {threshold!r} for {len(keys)} edges")
        return keys, threshold

    def mask(
        self, rnd: int, secagg: object, update: Weights, num_samples: int
    ) -> tuple[np.ndarray, dict[str, str]]:
        """The masked update and the shares of its self-mask seed, one per edge of the
        round, each encrypted to that edge."""
        keys, threshold = self._peers(secagg)
        order = sorted(keys)
        seed = secrets.token_bytes(32)
        vector = encode(update, num_samples)
        vector += prg(seed, len(vector))
        shares = shamir.split(
            int.from_bytes(seed, "big"), [i + 1 for i in range(len(order))], threshold
        )
        sealed = {}
        for i, peer in enumerate(order):
            shared = self._shared(keys[peer])
            if peer != self.node:
                mask = prg(derive(shared, MASK, self.job_id, rnd, self.node, peer), len(vector))
                vector += mask if self.node < peer else -mask  # cancels with the peer's
            key = derive(shared, SHARE, self.job_id, rnd, self.node, peer)
            nonce = os.urandom(12)
            share = shares[i + 1].to_bytes(shamir.SHARE_BYTES, "big")
            aad = f"{self.job_id}|{rnd}|{self.node}|{peer}".encode()
            sealed[peer] = b64(nonce + AESGCM(key).encrypt(nonce, share, aad))
        return vector, sealed

    def answer(self, rnd: int, secagg: object, survivors: object, sealed: object) -> dict:
        """What this edge reveals to take the round's masks off: its shares of the
        survivors' seeds (`sealed`: from each survivor, the share it encrypted to this
        edge) and its mask keys with the edges that dropped out. Once per round."""
        keys, threshold = self._peers(secagg)
        if rnd in self._answered:
            raise ValueError(f"round {rnd}'s unmasking was answered already")
        if not isinstance(survivors, list) or not set(map(str, survivors)) <= set(keys):
            raise ValueError("the survivors named are not edges of the round")
        alive = sorted(set(map(str, survivors)))
        if self.node not in alive or len(alive) < threshold:
            raise ValueError(f"{len(alive)} survivors named; the threshold is {threshold}")
        if not isinstance(sealed, dict):
            raise ValueError("no shares sent")
        self._answered.add(rnd)
        seed_shares = {}
        for peer in alive:
            blob = unb64(sealed.get(peer, ""), f"the share from {peer}")
            key = derive(self._shared(keys[peer]), SHARE, self.job_id, rnd, peer, self.node)
            aad = f"{self.job_id}|{rnd}|{peer}|{self.node}".encode()
            try:
                share = AESGCM(key).decrypt(blob[:12], blob[12:], aad)
            except (InvalidTag, ValueError):
                continue  # not from that peer, or not for this round: not answered for it
            seed_shares[peer] = int.from_bytes(share, "big")
        dropped = {
            peer: b64(derive(self._shared(keys[peer]), MASK, self.job_id, rnd, self.node, peer))
            for peer in sorted(set(keys) - set(alive))
        }
        return {"seed_shares": {k: hex(v) for k, v in seed_shares.items()}, "mask_keys": dropped}
