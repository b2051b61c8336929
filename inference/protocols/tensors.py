"""Tensor descriptions shared by both protocols: datatypes (OpenVINO, numpy, KServe, TFS, OVMS names), shapes,
and the JSON reader with OVMS's error texts."""

from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

from inference.protocols import errors

MAX_JSON_DEPTH = 100


@dataclass(frozen=True, slots=True)
class DataType:
    ov_name: str  # openvino.Type.get_type_name()
    numpy: np.dtype | None  # None: strings (object arrays)
    kserve: str
    tfs: str
    ovms: str  # OVMS precision name, used in "Expected: ..." texts

    @property
    def itemsize(self) -> int:
        return self.numpy.itemsize if self.numpy is not None else 0


_TYPES = [
    DataType("f32", np.dtype(np.float32), "FP32", "DT_FLOAT", "FP32"),
    DataType("f16", np.dtype(np.float16), "FP16", "DT_HALF", "FP16"),
    DataType("f64", np.dtype(np.float64), "FP64", "DT_DOUBLE", "FP64"),
    DataType("i8", np.dtype(np.int8), "INT8", "DT_INT8", "I8"),
    DataType("i16", np.dtype(np.int16), "INT16", "DT_INT16", "I16"),
    DataType("i32", np.dtype(np.int32), "INT32", "DT_INT32", "I32"),
    DataType("i64", np.dtype(np.int64), "INT64", "DT_INT64", "I64"),
    DataType("u8", np.dtype(np.uint8), "UINT8", "DT_UINT8", "U8"),
    DataType("u16", np.dtype(np.uint16), "UINT16", "DT_UINT16", "U16"),
    DataType("u32", np.dtype(np.uint32), "UINT32", "DT_UINT32", "U32"),
    DataType("u64", np.dtype(np.uint64), "UINT64", "DT_UINT64", "U64"),
    DataType("boolean", np.dtype(np.bool_), "BOOL", "DT_BOOL", "BOOL"),
    DataType("string", None, "BYTES", "DT_STRING", "STRING"),
]
BY_OV_NAME = {t.ov_name: t for t in _TYPES}
BY_KSERVE = {t.kserve: t for t in _TYPES}
BY_NUMPY = {t.numpy: t for t in _TYPES if t.numpy is not None}
BYTES = BY_KSERVE["BYTES"]
UNSUPPORTED = DataType("undefined", None, "UNDEFINED", "DT_INVALID", "UNDEFINED")


@dataclass(frozen=True, slots=True)
class Dim:
    """One dimension: static when low == high; high == -1 means unbounded."""

    low: int
    high: int

    @property
    def static(self) -> bool:
        return self.low == self.high and self.low >= 0

    def matches(self, value: int) -> bool:
        if self.static:
            return value == self.low
        return value >= self.low and (self.high < 0 or value <= self.high)

    @property
    def public(self) -> int:
        """As shown in metadata: the size, or -1 when dynamic."""
        return self.low if self.static else -1

    def __str__(self) -> str:
        if self.static:
            return str(self.low)
        if self.low <= 0 and self.high < 0:
            return "-1"
        return f"{self.low}:{self.high if self.high >= 0 else ''}"


@dataclass(frozen=True, slots=True)
class TensorSpec:
    """A model input or output as the protocols see it."""

    name: str
    index: int
    datatype: DataType
    dims: tuple[Dim, ...] | None  # None: dynamic rank

    @property
    def shape_text(self) -> str:
        return "(-1)" if self.dims is None else shape_text(str(d) for d in self.dims)

    @property
    def public_shape(self) -> list[int]:
        return [-1] if self.dims is None else [d.public for d in self.dims]

    def static_shape(self) -> tuple[int, ...] | None:
        if self.dims is None or not all(d.static for d in self.dims):
            return None
        return tuple(d.low for d in self.dims)

    def warmup_shape(self) -> tuple[int, ...]:
        """A concrete shape for a warm-up inference: dynamic dimensions take their lowest allowed size (>= 1)."""
        if self.dims is None:
            return (1,)
        return tuple(d.low if d.static else max(d.low, 1) for d in self.dims)


def shape_text(dims: Any) -> str:
    return "(" + ",".join(str(d) for d in dims) + ")"


def loads(body: bytes | bytearray | memoryview | str) -> Any:
    """Parse a JSON request body; malformed or too deeply nested JSON is OVMS's 412."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        message = exc.msg[:1].upper() + exc.msg[1:]
        if message == "Depth limit exceeded":
            message = f"JSON nested deeper than {MAX_JSON_DEPTH} levels"
        raise errors.JSON_INVALID.with_details(f"Error: {message}. Offset: {exc.pos}") from None
    _check_depth(body)
    return document


_DEPTH_CHUNK = 256 * 1024  # ~30 bytes of temporary arrays per byte of a chunk


def _check_depth(body: bytes | bytearray | memoryview | str) -> None:
    raw = body.encode() if isinstance(body, str) else body
    if isinstance(raw, memoryview) and len(raw) <= _DEPTH_CHUNK:
        raw = bytes(raw)  # the JSON part of a binary request: small, and count() is the fast check
    if isinstance(raw, (bytes, bytearray)):
        if raw.count(b"[") + raw.count(b"{") <= MAX_JSON_DEPTH:  # fewer openings than the limit: done
            return
    data = np.frombuffer(raw, dtype=np.uint8)
    # Brackets inside strings are counted too; a false alarm needs > 100 of them unbalanced within a string.
    # In chunks, carrying the depth over: the temporary arrays cost ~8 MiB, whatever the size of the body.
    depth = 0
    for start in range(0, len(data), _DEPTH_CHUNK):
        chunk = data[start : start + _DEPTH_CHUNK]
        step = (chunk == 0x5B).astype(np.int32) + (chunk == 0x7B) - (chunk == 0x5D) - (chunk == 0x7D)
        depths = np.cumsum(step, dtype=np.int64)
        depths += depth
        too_deep = np.flatnonzero(depths > MAX_JSON_DEPTH)
        if too_deep.size:
            raise errors.JSON_INVALID.with_details(
                f"Error: JSON nested deeper than {MAX_JSON_DEPTH} levels. Offset: {start + int(too_deep[0])}"
            )
        depth = int(depths[-1])
