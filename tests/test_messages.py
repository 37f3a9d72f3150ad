"""The wire format: round trips, and a decoder that refuses anything else with a reason."""

import contextlib
import json
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.wire.chunking import Reassembler, WireLimits, split
from app.wire.messages import Message, MessageRejected, MessageType, decode, encode

json_scalars = st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20)
json_values = st.recursive(
    json_scalars | st.floats(allow_nan=False, allow_infinity=False),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
dtypes = st.sampled_from(
    [np.float32, np.float64, np.float16, np.int64, np.int32, np.uint8, np.int8]
)
arrays = dtypes.flatmap(
    lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, max_side=6))
)
messages = st.builds(
    Message,
    type=st.sampled_from(list(MessageType)),
    job_id=st.none() | st.integers(0, 2**40),
    round=st.none() | st.integers(0, 10**6),
    sender=st.text(max_size=30),
    seq=st.integers(0, 2**62),
    body=st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    tensors=st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_.]{0,15}", fullmatch=True), arrays, max_size=4
    ),
    created_at=st.floats(0, 4e9, allow_nan=False),
)


@given(messages)
@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
def test_encode_decode_round_trip(message):
    got = decode(encode(message))
    assert (got.type, got.job_id, got.round, got.sender, got.seq) == (
        message.type,
        message.job_id,
        message.round,
        message.sender,
        message.seq,
    )
    assert got.body == json.loads(json.dumps(message.body))
    assert got.created_at == message.created_at
    assert set(got.tensors) == set(message.tensors)
    for name, value in message.tensors.items():
        assert got.tensors[name].dtype == value.dtype and got.tensors[name].shape == value.shape
        assert np.array_equal(got.tensors[name], value, equal_nan=True)


@given(messages, st.integers(1024, 4096))
@settings(max_examples=100)
def test_chunks_reassemble_to_the_frame(message, chunk_size):
    frame = encode(message)
    reassembler = Reassembler(WireLimits(chunk_size=chunk_size))
    outputs = [reassembler.feed(c) for c in split(frame, chunk_size)]
    assert outputs[-1] == frame and all(o is None for o in outputs[:-1])
    assert reassembler.pending_messages == 0


@given(st.binary(max_size=4096))
@settings(max_examples=500)
def test_decoder_refuses_random_bytes_with_a_reason(blob):
    try:
        decode(blob)
    except MessageRejected as exc:
        assert str(exc)


@given(messages, st.data())
@settings(max_examples=200)
def test_any_single_byte_change_or_cut_is_caught_or_harmless(message, data):
    frame = bytearray(encode(message))
    if data.draw(st.booleans()):
        cut = data.draw(st.integers(0, len(frame) - 1))
        with pytest.raises(MessageRejected):
            decode(bytes(frame[:cut]))
    else:
        pos = data.draw(st.integers(0, len(frame) - 1))
        frame[pos] ^= data.draw(st.integers(1, 255))
        # A flip inside the JSON text may still be a valid message; anything else is refused.
        with contextlib.suppress(MessageRejected):
            decode(bytes(frame))


@given(st.lists(st.binary(max_size=200), max_size=20))
@settings(max_examples=300)
def test_reassembler_refuses_random_chunks(blobs):
    reassembler = Reassembler(WireLimits())
    for blob in blobs:
        try:
            reassembler.feed(blob)
        except MessageRejected as exc:
            assert str(exc)


def _frame_with(header_patch=None, payload=b"", drop=None):
    header = {
        "v": 1,
        "type": "data",
        "job_id": None,
        "round": None,
        "sender": "s",
        "seq": 1,
        "created_at": 1.0,
        "body": {},
        "payload_size": len(payload),
        "payload_sha256": "",
    }
    header.update(header_patch or {})
    for key in drop or ():
        header.pop(key)
    raw = json.dumps(header).encode()
    return struct.pack(">4sI", b"FDM1", len(raw)) + raw + payload


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (_frame_with({"v": 2}), "unknown schema version"),
        (_frame_with({"type": "exploit"}), "unknown message type"),
        (_frame_with({"seq": "1"}), "'seq' has the wrong type"),
        (_frame_with({"round": True}), "'round' has the wrong type"),
        (_frame_with({"body": []}), "'body' has the wrong type"),
        (_frame_with({"payload_size": 10}), "truncated"),
        (_frame_with(drop=["sender"]), "'sender' has the wrong type"),
        (_frame_with({"seq": -4}), "seq is negative"),
        (b"FDM1\xff\xff\xff\xff{}", "does not fit"),
        (b"XXXX\x00\x00\x00\x02{}", "bad magic"),
        (struct.pack(">4sI", b"FDM1", 2) + b"[]", "not a JSON object"),
    ],
)
def test_specific_rejections(frame, reason):
    with pytest.raises(MessageRejected, match=reason):
        decode(frame)


def test_payload_that_is_not_safetensors():
    import hashlib

    junk = b"\x08\x00\x00\x00\x00\x00\x00\x00{notjson"
    frame = _frame_with({"payload_sha256": hashlib.sha256(junk).hexdigest()}, payload=junk)
    with pytest.raises(MessageRejected, match="not valid safetensors"):
        decode(frame)


def test_frame_over_the_size_limit():
    with pytest.raises(MessageRejected, match="exceeds the limit"):
        decode(encode(Message(MessageType.DATA, tensors={"w": np.zeros(100)})), max_size=64)


def test_stalled_partial_messages_are_dropped():
    now = [0.0]
    reassembler = Reassembler(WireLimits(chunk_size=1024, stall_timeout_s=5), clock=lambda: now[0])
    first, _second = list(split(b"x" * 2000, 1024))
    assert reassembler.feed(first) is None and reassembler.pending_messages == 1
    now[0] = 10.0
    reassembler.feed(next(split(b"y", 1024)))
    assert reassembler.pending_messages == 0


def test_pending_memory_is_bounded():
    limits = WireLimits(chunk_size=1024, max_message_size=8192, max_pending_bytes=10_000)
    reassembler = Reassembler(limits)
    reassembler.feed(next(split(b"a" * 8000, 1024)))
    with pytest.raises(MessageRejected, match="too many incomplete"):
        reassembler.feed(next(split(b"b" * 8000, 1024)))


def test_duplicate_chunks_are_ignored():
    reassembler = Reassembler(WireLimits(chunk_size=1024))
    chunks = list(split(b"z" * 3000, 1024))
    assert reassembler.feed(chunks[0]) is None
    assert reassembler.feed(chunks[0]) is None
    assert reassembler.feed(chunks[1]) is None
    assert reassembler.feed(chunks[2]) == b"z" * 3000
    assert reassembler.feed(chunks[2]) is None  # a late duplicate of a finished message
