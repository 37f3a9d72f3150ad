"""The zero-copy safetensors writer and reader agree byte for byte with the safetensors package,
and the chunker cuts frames given as pieces exactly as it cuts them joined."""

import hashlib
import json
import struct

import numpy as np
import pytest
import safetensors
import safetensors.numpy
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.wire import tensor_format
from app.wire.chunking import Reassembler, WireLimits, split
from app.wire.messages import (
    Message,
    MessageRejected,
    MessageType,
    decode,
    encode,
    encode_parts,
    payload_offset,
)

DTYPES = [
    np.float64,
    np.float32,
    np.float16,
    np.int64,
    np.uint64,
    np.int32,
    np.uint32,
    np.int16,
    np.uint16,
    np.int8,
    np.uint8,
    np.bool_,
    np.complex64,
]
tensor_dicts = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_.]{0,12}", fullmatch=True),
    st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(dt, hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    ),
    max_size=6,
)


def written(tensors) -> bytes:
    head, views = tensor_format.layout(tensors)
    return b"".join([head, *views])


@given(tensor_dicts)
@settings(max_examples=200)
def test_writer_matches_safetensors_byte_for_byte(tensors):
    assert written(tensors) == safetensors.numpy.save(tensors)


@given(tensor_dicts, st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4))
@settings(max_examples=100)
def test_metadata_is_written_as_safetensors_reads_it(tmp_path_factory, tensors, metadata):
    """(safetensors orders metadata as its hash map does, so not byte for byte.)"""
    head, views = tensor_format.layout(tensors, metadata)
    path = tmp_path_factory.mktemp("st") / "m.safetensors"
    path.write_bytes(b"".join([head, *views]))
    with safetensors.safe_open(path, "numpy") as f:
        assert f.metadata() == metadata
        for name, value in tensors.items():
            assert np.array_equal(f.get_tensor(name), value, equal_nan=True)


@given(tensor_dicts)
@settings(max_examples=200)
def test_reader_reads_what_safetensors_writes(tensors):
    got = tensor_format.read(memoryview(bytearray(safetensors.numpy.save(tensors))))
    expected = safetensors.numpy.load(safetensors.numpy.save(tensors))
    assert set(got) == set(expected)
    for name, value in expected.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape
        assert np.array_equal(got[name], value, equal_nan=True)
        assert got[name].flags.writeable


def test_arrays_view_a_writable_buffer_and_copy_a_readonly_one():
    data = safetensors.numpy.save({"w": np.arange(4, dtype=np.float32)})
    buffer = bytearray(data)
    view = tensor_format.read(memoryview(buffer))["w"]
    buffer[-4:] = np.float32(9).tobytes()
    assert view[-1] == 9  # no copy: the array is the buffer
    frozen = tensor_format.read(memoryview(data))["w"]
    frozen[0] = 5  # a copy, writable
    assert frozen[0] == 5


def test_big_endian_and_strided_arrays_are_written_little_endian_and_contiguous():
    tensors = {"be": np.arange(6, dtype=">i4").reshape(2, 3), "t": np.arange(6.0).reshape(2, 3).T}
    assert written(tensors) == safetensors.numpy.save(
        {"be": tensors["be"].astype("<i4"), "t": np.ascontiguousarray(tensors["t"])}
    )


def test_writer_refuses_dtypes_the_format_lacks():
    with pytest.raises(TypeError, match="'s' has dtype <U3"):
        tensor_format.layout({"s": np.array(["abc"])})


def _payload(header: dict, data: bytes = b"") -> memoryview:
    raw = json.dumps(header).encode()
    return memoryview(bytearray(struct.pack("<Q", len(raw)) + raw + data))


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (memoryview(b"\x01"), "shorter than the header length"),
        (
            _payload({"a": {"dtype": "F8", "shape": [1], "data_offsets": [0, 1]}}, b"x"),
            "unknown dtype",
        ),
        (
            _payload({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"xxxx"),
            "needs 8 bytes",
        ),
        (
            _payload({"a": {"dtype": "U8", "shape": [-1], "data_offsets": [0, 1]}}, b"x"),
            "not a list of counts",
        ),
        (
            _payload(
                {
                    "a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]},
                    "b": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]},
                },
                b"xxx",
            ),
            "starts at 1, expected 2",
        ),
        (
            _payload({"a": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}}, b"xxx"),
            "1 bytes after the last tensor",
        ),
        (
            _payload({"a": {"dtype": "U8", "shape": [4], "data_offsets": [0, 4]}}, b"xx"),
            "past the data",
        ),
        (_payload({"__metadata__": {"k": 1}}), "__metadata__"),
        (_payload(["a"]), "not a JSON object"),
    ],
)
def test_reader_refuses_malformed_payloads(payload, reason):
    with pytest.raises(tensor_format.SafetensorsError, match=reason):
        tensor_format.read(payload)


@given(st.binary(max_size=2048))
@settings(max_examples=500)
def test_reader_refuses_random_bytes_with_a_reason(blob):
    try:
        tensor_format.read(memoryview(blob))
    except tensor_format.SafetensorsError as exc:
        assert str(exc)


@given(tensor_dicts, st.integers(1024, 3000), st.randoms(use_true_random=False))
@settings(max_examples=100)
def test_pieces_chunk_and_reassemble_in_any_order(tensors, chunk_size, rng):
    message = Message(MessageType.MODEL_UP, job_id=1, round=2, tensors=tensors)
    parts = encode_parts(message)
    frame = b"".join(parts)
    chunks = list(split(parts, chunk_size))
    assert [c[36:] for c in chunks] == [c[36:] for c in split(frame, chunk_size)]
    rng.shuffle(chunks)
    reassembler = Reassembler(WireLimits(chunk_size=chunk_size))
    outputs = [reassembler.feed(c) for c in chunks]
    assert outputs[-1] == frame and all(o is None for o in outputs[:-1])
    got = decode(outputs[-1])
    for name, value in tensors.items():
        assert np.array_equal(got.tensors[name], value, equal_nan=True)


def test_chunks_of_a_message_must_agree_on_their_size():
    chunks = list(split(b"q" * 5000, 2048))
    reassembler = Reassembler(WireLimits(chunk_size=2048))
    reassembler.feed(chunks[0])
    forged = chunks[1][:-10]  # a middle chunk cut short
    with pytest.raises(MessageRejected, match="chunk 1 holds 2038 bytes, expected 2048"):
        reassembler.feed(forged)
    assert reassembler.pending_messages == 0


def test_a_last_chunk_first_is_checked_once_the_size_is_known():
    chunks = list(split(b"r" * 5000, 2048))
    reassembler = Reassembler(WireLimits(chunk_size=2048))
    assert reassembler.feed(chunks[2]) is None
    assert reassembler.feed(chunks[0]) is None
    assert reassembler.feed(chunks[1]) == b"r" * 5000


def test_a_chunk_size_that_cannot_make_the_count_is_refused():
    first = next(split(b"s" * 5000, 2048))
    lying = first[:24] + struct.pack(">I", 4) + first[28:]  # 4 chunks of 2048 for 5000
    with pytest.raises(MessageRejected, match="4 chunks of 2048 bytes cannot hold 5000"):
        Reassembler(WireLimits(chunk_size=2048)).feed(lying)


@given(st.integers(1, 200_000), st.integers(1024, 8192), st.randoms(use_true_random=False))
@settings(max_examples=50)
def test_the_payload_is_hashed_while_chunks_arrive(size, chunk_size, rng):
    message = Message(MessageType.DATA, tensors={"w": np.arange(size, dtype=np.uint8)})
    frame = encode(message)
    chunks = list(split(frame, chunk_size))
    rng.shuffle(chunks)
    reassembler = Reassembler(WireLimits(chunk_size=chunk_size), payload_offset=payload_offset)
    out = [reassembler.feed(c) for c in chunks][-1]
    if len(chunks) > 1:  # one chunk is hashed by decode itself
        offset = payload_offset(frame)
        assert reassembler.payload_sha256 == hashlib.sha256(frame[offset:]).hexdigest()
    assert np.array_equal(
        decode(out, None, reassembler.payload_sha256).tensors["w"], message.tensors["w"]
    )


def test_a_payload_altered_in_flight_is_refused_after_incremental_hashing():
    frame = encode(Message(MessageType.DATA, tensors={"w": np.zeros(5000, np.uint8)}))
    chunks = list(split(frame, 1024))
    chunks[3] = chunks[3][:-1] + b"\x01"
    reassembler = Reassembler(WireLimits(chunk_size=1024), payload_offset=payload_offset)
    out = [reassembler.feed(c) for c in chunks][-1]
    with pytest.raises(MessageRejected, match="SHA-256 does not match"):
        decode(out, None, reassembler.payload_sha256)
