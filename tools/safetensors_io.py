"""Minimal safetensors writer and reader (numpy only; no `safetensors` package needed).

File layout (https://github.com/huggingface/safetensors, "Format"):
  8 bytes   little-endian u64 N = byte length of the JSON header
  N bytes   UTF-8 JSON header: {"__metadata__": {str: str}, name: {"dtype", "shape", "data_offsets"}}
            padded with trailing spaces so that 8 + N is a multiple of 8
  rest      raw little-endian tensor bytes, row-major; data_offsets = [begin, end) relative to
            the start of this section; the tensors cover it contiguously, without holes.

The writer is deterministic: compact JSON, "__metadata__" first, tensors laid out by element size
(largest first, so every tensor starts aligned to its element size) and then by name, the same order
the reference Rust implementation uses. Supported dtypes: F64 F32 F16 BF16 I64 I32 U8 BOOL.

    write(path, {"w": np.zeros((2, 3), np.float32), "b": bf16(np.ones(3, np.float32))}, {"k": "v"})
    tensors, metadata = read(path)          # BF16 tensors come back as float32 arrays

Used by tools/make_mha_goldens_pytorch.py and tools/export_example_mha.py; the Node generator in
tools/keras_goldens/ writes the same layout with its own ~30-line JavaScript writer.
"""
from __future__ import annotations

import json
import struct
from typing import Dict, Mapping, Tuple

import numpy as np

# safetensors dtype name -> (numpy little-endian dtype used for storage, element size in bytes)
_DTYPES = {
    "F64": (np.dtype("<f8"), 8),
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),  # stored as raw 16-bit patterns
    "I64": (np.dtype("<i8"), 8),
    "I32": (np.dtype("<i4"), 4),
    "U8": (np.dtype("u1"), 1),
    "BOOL": (np.dtype("u1"), 1),  # one byte per element, 0 or 1
}

_FROM_NUMPY = {
    np.dtype(np.float64): "F64",
    np.dtype(np.float32): "F32",
    np.dtype(np.float16): "F16",
    np.dtype(np.int64): "I64",
    np.dtype(np.int32): "I32",
    np.dtype(np.uint8): "U8",
    np.dtype(np.bool_): "BOOL",
}

MAX_HEADER_BYTES = 100 * 1024 * 1024


class BF16:
    """Marks an array to be stored as BF16 (round-to-nearest-even from float32; NaN kept NaN)."""

    def __init__(self, array):
        a = np.ascontiguousarray(array, dtype=np.float32)
        bits = a.view(np.uint32).astype(np.uint64)
        rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
        nan = np.isnan(a)
        rounded[nan] = (bits[nan] >> 16) | 0x40  # keep a quiet NaN
        self.bits = rounded.astype(np.uint16).reshape(a.shape)


def bf16(array) -> BF16:
    return BF16(array)


def _encode(name: str, value) -> Tuple[str, Tuple[int, ...], bytes]:
    if isinstance(value, BF16):
        return "BF16", tuple(value.bits.shape), value.bits.astype("<u2").tobytes(order="C")
    a = np.asarray(value)
    if a.dtype not in _FROM_NUMPY:
        raise TypeError(f"{name}: unsupported numpy dtype {a.dtype}")
    dtype = _FROM_NUMPY[a.dtype]
    storage, _ = _DTYPES[dtype]
    return dtype, tuple(int(s) for s in a.shape), np.ascontiguousarray(a).astype(storage).tobytes(order="C")


def to_bytes(tensors: Mapping[str, object], metadata: Mapping[str, str] | None = None) -> bytes:
    encoded = []
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise ValueError(f"bad tensor name {name!r}")
        encoded.append((name,) + _encode(name, value))
    encoded.sort(key=lambda e: (-_DTYPES[e[1]][1], e[0]))

    header: Dict[str, object] = {}
    if metadata:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise TypeError("__metadata__ keys and values must be strings")
        header["__metadata__"] = dict(metadata)
    offset = 0
    for name, dtype, shape, data in encoded:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(e[3] for e in encoded)


def self_test_metadata(tensors: Mapping[str, np.ndarray], config: Mapping) -> Dict[str, str]:
    """The sample's tolerance in the library's self-test convention (model/self_test.hpp), as
    decimal strings a C++ program reads without parsing JSON: `selftest.atol`, `selftest.rtol`,
    when the file carries a sample (`selftest.` tensors) and `config` states its tolerance."""
    if not any(name.startswith("selftest.") for name in tensors) or "atol" not in config:
        return {}
    return {"selftest.atol": repr(float(config["atol"])), "selftest.rtol": repr(float(config["rtol"]))}


def write(path, tensors: Mapping[str, object], metadata: Mapping[str, str] | None = None) -> None:
    blob = to_bytes(tensors, metadata)
    with open(path, "wb") as f:
        f.write(blob)


def from_bytes(blob: bytes, *, raw_bf16: bool = False):
    """Parses and validates a safetensors blob. Returns (tensors, metadata)."""
    if len(blob) < 8:
        raise ValueError("file shorter than 8 bytes")
    (n,) = struct.unpack("<Q", blob[:8])
    if n > MAX_HEADER_BYTES or 8 + n > len(blob):
        raise ValueError(f"bad header length {n}")
    header = json.loads(blob[8 : 8 + n].decode("utf-8"))
    if not isinstance(header, dict):
        raise ValueError("header is not a JSON object")
    data = blob[8 + n :]
    metadata = header.pop("__metadata__", {}) or {}
    for k, v in metadata.items():
        if not isinstance(v, str):
            raise ValueError(f"__metadata__[{k!r}] is not a string")
    spans = []
    tensors = {}
    for name, info in header.items():
        dtype = info["dtype"]
        if dtype not in _DTYPES:
            raise ValueError(f"{name}: unsupported dtype {dtype}")
        storage, size = _DTYPES[dtype]
        shape = tuple(int(s) for s in info["shape"])
        begin, end = (int(x) for x in info["data_offsets"])
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        if not (0 <= begin <= end <= len(data)) or end - begin != count * size:
            raise ValueError(f"{name}: data_offsets {begin},{end} do not fit {dtype}{list(shape)}")
        spans.append((begin, end, name))
        a = np.frombuffer(data[begin:end], dtype=storage).reshape(shape).copy()
        if dtype == "BOOL":
            if np.any(a > 1):
                raise ValueError(f"{name}: BOOL byte other than 0/1")
            a = a.astype(np.bool_)
        elif dtype == "BF16" and not raw_bf16:
            a = (a.astype(np.uint32) << 16).view(np.float32)
        tensors[name] = a
    spans.sort()
    pos = 0
    for begin, end, name in spans:
        if begin != pos:
            raise ValueError(f"{name}: hole or overlap at byte {pos} of the data section")
        pos = end
    if pos != len(data):
        raise ValueError(f"{len(data) - pos} trailing bytes after the last tensor")
    return tensors, dict(metadata)


def read(path, *, raw_bf16: bool = False):
    with open(path, "rb") as f:
        return from_bytes(f.read(), raw_bf16=raw_bf16)


def _self_test() -> None:
    rng = np.random.default_rng(0)
    src = {
        "f64": rng.standard_normal((2, 3)),
        "f32": rng.standard_normal((3, 1, 5)).astype(np.float32),
        "f16": rng.standard_normal(7).astype(np.float16),
        "i64": np.arange(-3, 3, dtype=np.int64),
        "i32": np.arange(5, dtype=np.int32).reshape(5, 1),
        "u8": np.array([0, 1, 255], np.uint8),
        "bool": np.array([[True, False, True]]),
        "scalar": np.array(1.5, np.float32),
        "empty": np.zeros((0, 4), np.float32),
    }
    bf = np.array([1.0, -2.5, 3.140625, np.inf, 1.00390625], np.float32)
    blob = to_bytes({**src, "bf16": BF16(bf)}, {"a": "b"})
    assert (8 + struct.unpack("<Q", blob[:8])[0]) % 8 == 0
    out, meta = from_bytes(blob)
    assert meta == {"a": "b"}
    for k, v in src.items():
        assert out[k].dtype == v.dtype and out[k].shape == v.shape and np.array_equal(out[k], v), k
    assert np.array_equal(out["bf16"], np.array([1.0, -2.5, 3.140625, np.inf, 1.0], np.float32))
    assert to_bytes({**src, "bf16": BF16(bf)}, {"a": "b"}) == blob
    print("safetensors_io self-test passed")


if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1:
        for p in sys.argv[1:]:
            t, m = read(p)
            print(p)
            for k, v in m.items():
                print(f"  __metadata__.{k} = {v}")
            for k, v in t.items():
                print(f"  {k}: {v.dtype} {list(v.shape)}")
    else:
        _self_test()
