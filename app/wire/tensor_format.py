"""The safetensors format, written and read without copying the tensor data.

`safetensors.numpy.save` builds one bytes object holding every tensor and `load` copies each
tensor out again: for a 100 MB model that is two extra full copies on each side of every
transfer. Here the writer returns the header and a view of each array, so chunks are cut
straight from the arrays, and the reader builds arrays that view the received buffer.

The bytes are the safetensors format exactly (u64 little-endian header length, a JSON
header padded with spaces to 8 bytes, tensors sorted by alignment then name, data
contiguous); tests check both directions against the safetensors package.
"""

from __future__ import annotations

import json
import math
import struct

import numpy as np

_LEN = struct.Struct("<Q")
MAX_HEADER_BYTES = 100_000_000  # safetensors' own cap
# In the order safetensors writes tensors (then by name), so the bytes match its own.
_DTYPES: dict[str, np.dtype] = {
    "U64": np.dtype(np.uint64),
    "I64": np.dtype(np.int64),
    "F64": np.dtype(np.float64),
    "C64": np.dtype(np.complex64),
    "F32": np.dtype(np.float32),
    "U32": np.dtype(np.uint32),
    "I32": np.dtype(np.int32),
    "F16": np.dtype(np.float16),
    "U16": np.dtype(np.uint16),
    "I16": np.dtype(np.int16),
    "I8": np.dtype(np.int8),
    "U8": np.dtype(np.uint8),
    "BOOL": np.dtype(np.bool_),
}
_RANK = {code: rank for rank, code in enumerate(_DTYPES)}
_CODES = {dtype: code for code, dtype in _DTYPES.items()}


class SafetensorsError(ValueError):
    """Bytes that are not a valid safetensors payload; the text says why."""


def layout(
    tensors: dict[str, np.ndarray], metadata: dict[str, str] | None = None
) -> tuple[bytes, list[memoryview]]:
    """The header (length prefix included, `metadata` as its `__metadata__`) and one byte
    view per tensor, in file order."""
    entries = []
    for name, value in tensors.items():
        if not isinstance(name, str):
            raise TypeError(f"tensor names are strings, not {type(name).__name__}")
        array = np.asarray(value)
        code = _CODES.get(array.dtype.newbyteorder("="))
        if code is None:
            raise TypeError(f"tensor {name!r} has dtype {array.dtype}, which safetensors lacks")
        if array.dtype.byteorder == ">":  # the format is little-endian
            array = array.astype(array.dtype.newbyteorder("<"))
        entries.append((name, code, np.require(array, requirements="C")))
    entries.sort(key=lambda e: (_RANK[e[1]], e[0]))
    header: dict[str, dict] = {}
    if metadata is not None:
        if not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
            raise TypeError("metadata maps strings to strings")
        header["__metadata__"] = dict(sorted(metadata.items()))
    views: list[memoryview] = []
    offset = 0
    for name, code, array in entries:
        end = offset + array.nbytes
        header[name] = {"dtype": code, "shape": list(array.shape), "data_offsets": [offset, end]}
        views.append(memoryview(array.reshape(-1).view(np.uint8)))
        offset = end
    raw = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode()
    raw += b" " * (-len(raw) % 8)
    return _LEN.pack(len(raw)) + raw, views


def read(buffer: memoryview) -> dict[str, np.ndarray]:
    """Arrays viewing `buffer`; a read-only buffer is copied once, so that the arrays are
    always writable (torch warns on, and training may write to, read-only arrays).

    Refuses anything the format forbids: a header that does not fit or is not JSON, unknown
    dtypes, shapes that disagree with their byte ranges, ranges that overlap, leave gaps or
    stop short of the end."""
    if len(buffer) < _LEN.size:
        raise SafetensorsError(f"{len(buffer)} bytes is shorter than the header length")
    (size,) = _LEN.unpack_from(buffer)
    if size > MAX_HEADER_BYTES or _LEN.size + size > len(buffer):
        raise SafetensorsError(f"header length {size} does not fit {len(buffer)} bytes")
    try:
        header = json.loads(bytes(buffer[_LEN.size : _LEN.size + size]))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SafetensorsError(f"header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise SafetensorsError("header is not a JSON object")
    data = buffer[_LEN.size + size :]
    if data.readonly:
        data = memoryview(bytearray(data))
    spans = []
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise SafetensorsError("__metadata__ must map names to strings")
            continue
        spans.append((name, *_span(name, entry)))
    spans.sort(key=lambda s: (s[1], s[2], s[0]))
    tensors: dict[str, np.ndarray] = {}
    expected = 0
    for name, begin, end, dtype, shape in spans:
        if begin != expected:
            raise SafetensorsError(f"tensor {name!r} starts at {begin}, expected {expected}")
        if end > len(data):
            raise SafetensorsError(f"tensor {name!r} ends at {end}, past the data ({len(data)})")
        count = math.prod(shape)
        tensors[name] = np.frombuffer(data, dtype, count, begin).reshape(shape)
        expected = end
    if expected != len(data):
        raise SafetensorsError(f"{len(data) - expected} bytes after the last tensor")
    return tensors


def _span(name: str, entry: object) -> tuple[int, int, np.dtype, tuple[int, ...]]:
    if not isinstance(entry, dict):
        raise SafetensorsError(f"tensor {name!r}: entry is not an object")
    named = entry.get("dtype")
    dtype = _DTYPES.get(named) if isinstance(named, str) else None
    if dtype is None:
        raise SafetensorsError(f"tensor {name!r}: unknown dtype {entry.get('dtype')!r}")
    shape, offsets = entry.get("shape"), entry.get("data_offsets")
    if not isinstance(shape, list) or not all(_count(d) for d in shape):
        raise SafetensorsError(f"tensor {name!r}: shape {shape!r} is not a list of counts")
    if not isinstance(offsets, list) or len(offsets) != 2 or not all(_count(o) for o in offsets):
        raise SafetensorsError(f"tensor {name!r}: data_offsets {offsets!r} are not two counts")
    begin, end = offsets
    if end - begin != math.prod(shape) * dtype.itemsize:
        raise SafetensorsError(
            f"tensor {name!r}: shape {shape} of {entry['dtype']} needs "
            f"{math.prod(shape) * dtype.itemsize} bytes, its range holds {end - begin}"
        )
    return begin, end, dtype, tuple(shape)


def _count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
