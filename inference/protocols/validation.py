"""Check request tensors against a model's inputs in OVMS's order and with its texts, and turn them into
the arrays OpenVINO takes (request_validation_utils in OVMS)."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from math import prod

import numpy as np

from inference.protocols import errors
from inference.protocols.images import decode_images
from inference.protocols.limits import run_decoding
from inference.protocols.tensors import BY_KSERVE, BYTES, TensorSpec, shape_text


@dataclass(slots=True)
class RequestTensor:
    """An input as the client sent it. Exactly one of `array`, `raw`, `strings` carries the data."""

    name: str
    datatype: str  # KServe datatype name as sent (TFS requests: the model's, or BYTES for strings)
    shape: tuple[int, ...]
    array: np.ndarray | None = None
    raw: memoryview | bytes | None = None
    strings: list[bytes] | None = field(default=None)
    shaped: bool = False  # TFS: `array` already has `shape`

    @property
    def is_bytes(self) -> bool:
        return self.datatype == BYTES.kserve


async def avalidate_inputs(
    specs: Sequence[TensorSpec], tensors: dict[str, RequestTensor], sent_count: int, *, tfs: bool = False
) -> dict[int, np.ndarray]:
    """`validate_inputs`, in the decoding pool when it will decode images (issue 20 finding 7: off the event
    loop, a bounded number at a time); inline otherwise, as the hot path wants."""
    if any(tensor.is_bytes for tensor in tensors.values()) and any(
        spec.datatype is not BYTES and tensors.get(spec.name, _NO_TENSOR).is_bytes for spec in specs
    ):
        return await run_decoding(validate_inputs, specs, tensors, sent_count, tfs=tfs)
    return validate_inputs(specs, tensors, sent_count, tfs=tfs)


def validate_inputs(
    specs: Sequence[TensorSpec], tensors: dict[str, RequestTensor], sent_count: int, *, tfs: bool = False
) -> dict[int, np.ndarray]:
    """`specs` sorted by name (OVMS checks inputs in that order); returns input index -> array."""
    if sent_count == 0 or sent_count != len(specs):
        raise errors.INVALID_NO_OF_INPUTS.with_details(f"Expected: {len(specs)}; Actual: {sent_count}")
    arrays: dict[int, np.ndarray] = {}
    for spec in specs:
        tensor = tensors.get(spec.name)
        if tensor is None:
            raise errors.INVALID_MISSING_INPUT.with_details(f"Required input: {spec.name}")
        arrays[spec.index] = _validate_one(spec, tensor, tfs)
    return arrays


def _validate_one(spec: TensorSpec, tensor: RequestTensor, tfs: bool) -> np.ndarray:
    where = f"input name: {spec.name}"
    shape = tensor.shape
    if any(dim <= 0 for dim in shape):
        raise errors.INVALID_SHAPE.with_details(
            f"Negative or zero dimension size is not acceptable: {shape_text(shape)}; {where}"
        )
    if tensor.is_bytes:
        return _bytes_input(spec, tensor, tfs)

    if tensor.datatype != spec.datatype.kserve:
        actual = spec_tfs_name(tensor.datatype) if tfs else tensor.datatype
        raise errors.INVALID_PRECISION.with_details(
            f"Expected: {spec.datatype.ovms}; Actual: {actual}; {where}"
        )
    dims = spec.dims
    if dims is not None:
        if (not shape and dims) or len(shape) != len(dims):
            raise errors.INVALID_NO_OF_SHAPE_DIMENSIONS.with_details(
                f"Expected: {spec.shape_text}; Actual: {shape_text(shape)}; {where}"
            )
        if dims and not dims[0].matches(shape[0]):
            raise errors.INVALID_BATCH_SIZE.with_details(f"Expected: {dims[0]}; Actual: {shape[0]}; {where}")
        for dim, value in zip(dims, shape, strict=True):
            if not dim.matches(value):
                raise errors.INVALID_SHAPE.with_details(
                    f"Expected: {spec.shape_text}; Actual: {shape_text(shape)}; {where}"
                )

    count = prod(shape)
    dtype = spec.datatype.numpy
    assert dtype is not None
    if tensor.raw is not None:
        expected = count * dtype.itemsize
        if len(tensor.raw) != expected:
            raise errors.INVALID_CONTENT_SIZE.with_details(
                f"Expected: {expected} bytes; Actual: {len(tensor.raw)} bytes; {where}"
            )
        return np.frombuffer(tensor.raw, dtype=dtype).reshape(shape)
    array = tensor.array
    assert array is not None
    if tensor.shaped:
        return array
    if array.size != count:
        raise errors.INVALID_VALUE_COUNT.with_details(
            f"Expected: {count} values; Actual: {array.size} values; {where}"
        )
    return array.reshape(shape)


def _bytes_input(spec: TensorSpec, tensor: RequestTensor, tfs: bool) -> np.ndarray:
    where = f"input name: {spec.name}"
    strings = tensor.strings if tensor.strings is not None else []
    if spec.datatype is BYTES:
        if prod(tensor.shape) != len(strings):
            raise errors.INVALID_VALUE_COUNT.with_details(
                f"Expected: {prod(tensor.shape)} values; Actual: {len(strings)} values; {where}"
            )
        return np.array(strings, dtype=object).reshape(tensor.shape)
    if spec.dims is None or len(spec.dims) != 4:
        actual = "DT_STRING" if tfs else "BYTES"
        raise errors.INVALID_PRECISION.with_details(
            f"Expected: {spec.datatype.ovms}; Actual: {actual}; {where}"
        )
    if len(tensor.shape) != 1:
        raise errors.INVALID_NO_OF_SHAPE_DIMENSIONS.with_details(
            f"Expected number of binary input shape dimensions: 1; Actual: {len(tensor.shape)}; {where}"
        )
    if not strings:
        raise errors.INVALID_BATCH_SIZE.with_details(f"Batch size must be positive; {where}")
    if not spec.dims[0].matches(len(strings)):
        raise errors.INVALID_BATCH_SIZE.with_details(
            f"Expected: {spec.dims[0]}; Actual: {len(strings)}; {where}"
        )
    return decode_images(strings, spec)


_NO_TENSOR = RequestTensor("", "", ())


def spec_tfs_name(kserve_datatype: str) -> str:
    datatype = BY_KSERVE.get(kserve_datatype)
    return datatype.tfs if datatype else kserve_datatype
