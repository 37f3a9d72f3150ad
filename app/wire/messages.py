"""The wire format: a JSON header plus an optional safetensors payload. Never pickle.

Frame layout (all integers big-endian):

    b"FDM1" | u32 header length | header (UTF-8 JSON) | payload (safetensors bytes, may be empty)

The header carries the payload's size and SHA-256, so a truncated or altered frame is
refused before any tensor is built. `decode` raises `MessageRejected` with the reason for
anything it does not accept; callers count and log it and carry on.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
import time
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np

from app.wire import tensor_format

MAGIC = b"FDM1"
SCHEMA_VERSION = 1
MAX_HEADER_BYTES = 1 << 20
_PREFIX = struct.Struct(">4sI")


class MessageType(StrEnum):
    STATUS = "status"  # node state changes: online, offline, training, run status
    SYSTEM = "system"  # periodic heartbeat with CPU / memory / GPU / network load
    METRICS = "metrics"  # per-round metrics, local or aggregate
    LOG = "log"  # log lines
    MODEL_UP = "model_up"  # a client's update for the server
    MODEL_DOWN = "model_down"  # the global model for the clients
    CONTROL = "control"  # tasks and commands: join a run, leave, stop, ...
    PEER_MODEL = "peer_model"  # a server-free run: a model share pushed to a neighbour
    ARTIFACT = "artifact"  # a model file the server stored: round, node, path, sha256, size
    DATA = "data"  # anything else; used by tests and benchmarks


class MessageRejected(ValueError):
    """A frame that is not a valid message; the text says why."""


@dataclass(frozen=True)
class Message:
    type: MessageType
    job_id: int | None = None
    round: int | None = None
    sender: str = ""
    seq: int = 0
    body: dict[str, Any] = field(default_factory=dict)
    tensors: dict[str, np.ndarray] = field(default_factory=dict)
    created_at: float = field(default_factory=time.time)
    schema_version: int = SCHEMA_VERSION


def encode(message: Message) -> bytes:
    return b"".join(encode_parts(message))


def encode_parts(message: Message) -> list[bytes | memoryview]:
    """The frame as pieces whose concatenation is `encode(message)`; the tensors' pieces
    view the arrays themselves (nothing copied), so keep the arrays unchanged until sent."""
    payload: list[bytes | memoryview] = []
    digest = hashlib.sha256()
    if message.tensors:
        head, views = tensor_format.layout(message.tensors)
        payload = [head, *views]
        for part in payload:
            digest.update(part)
    payload_size = sum(len(p) for p in payload)
    header = {
        "v": message.schema_version,
        "type": message.type.value,
        "job_id": message.job_id,
        "round": message.round,
        "sender": message.sender,
        "seq": message.seq,
        "created_at": message.created_at,
        "body": message.body,
        "payload_size": payload_size,
        "payload_sha256": digest.hexdigest() if payload_size else "",
    }
    raw = json.dumps(header, separators=(",", ":"), allow_nan=False).encode()
    return [_PREFIX.pack(MAGIC, len(raw)) + raw, *payload]


def _field(header: dict, name: str, kinds: type | tuple[type, ...], optional: bool = False):
    value = header.get(name)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, kinds):  # no header field is a bool
        raise MessageRejected(f"header field {name!r} has the wrong type ({type(value).__name__})")
    return value


def payload_offset(start: bytes | memoryview) -> int | None:
    """Where the payload begins in a frame that starts with `start`; None if not a frame."""
    if len(start) < _PREFIX.size:
        return None
    magic, header_len = _PREFIX.unpack_from(start)
    return _PREFIX.size + header_len if magic == MAGIC else None


def decode(
    frame: bytes | bytearray | memoryview,
    max_size: int | None = None,
    payload_sha256: str | None = None,
) -> Message:
    """`payload_sha256`: the payload's digest if the caller already hashed it (the
    reassembler does, while the chunks arrive); it is still compared with the header."""
    view = memoryview(frame)
    if max_size is not None and len(view) > max_size:
        raise MessageRejected(f"frame of {len(view)} bytes exceeds the limit of {max_size}")
    if len(view) < _PREFIX.size:
        raise MessageRejected(f"frame of {len(view)} bytes is shorter than a header")
    magic, header_len = _PREFIX.unpack_from(view)
    if magic != MAGIC:
        raise MessageRejected("not a FedDeck frame (bad magic)")
    if header_len > MAX_HEADER_BYTES or _PREFIX.size + header_len > len(view):
        raise MessageRejected(f"header length {header_len} does not fit the frame")
    try:
        header = json.loads(bytes(view[_PREFIX.size : _PREFIX.size + header_len]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MessageRejected(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise MessageRejected("header is not a JSON object")
    version = header.get("v")
    if version != SCHEMA_VERSION:
        raise MessageRejected(f"unknown schema version {version!r} (this node speaks 1)")
    try:
        kind = MessageType(header.get("type"))
    except ValueError:
        raise MessageRejected(f"unknown message type {header.get('type')!r}") from None
    created_at = _field(header, "created_at", (int, float))
    if not math.isfinite(created_at):
        raise MessageRejected("created_at is not a finite number")
    payload = view[_PREFIX.size + header_len :]
    size = _field(header, "payload_size", int)
    if size != len(payload):
        raise MessageRejected(f"payload is {len(payload)} bytes, header says {size} (truncated?)")
    tensors: dict[str, np.ndarray] = {}
    if size:
        digest = payload_sha256 or hashlib.sha256(payload).hexdigest()
        if digest != header.get("payload_sha256"):
            raise MessageRejected("payload SHA-256 does not match the header (corrupted)")
        try:
            tensors = tensor_format.read(payload)
        except tensor_format.SafetensorsError as exc:
            raise MessageRejected(f"payload is not valid safetensors: {exc}") from None
    seq = _field(header, "seq", int)
    if seq < 0:
        raise MessageRejected("seq is negative")
    return Message(
        type=kind,
        # "run_id": what earlier 0.1 builds call it
        job_id=_field(header, "job_id" if "job_id" in header else "run_id", int, optional=True),
        round=_field(header, "round", int, optional=True),
        sender=_field(header, "sender", str),
        seq=seq,
        body=_field(header, "body", dict),
        tensors=tensors,
        created_at=float(created_at),
        schema_version=version,
    )
