"""KServe v2 REST protocol (as OVMS implements it), including the binary data extension.

Request: JSON header (optionally followed by raw tensor bytes, split at Inference-Header-Content-Length).
Inputs without "data" take their bytes in order: `binary_data_size` bytes, or shape x itemsize; BYTES elements
carry a 4-byte little-endian length. Response outputs go as JSON "data" or as raw bytes after the JSON when
`binary_data` (per output) or `binary_data_output` (request) asks for it.
"""

import struct
from collections.abc import Sequence
from dataclasses import dataclass, field
from math import prod
from typing import Any

import numpy as np
import orjson

from inference.protocols import errors, limits
from inference.protocols.tensors import BY_KSERVE, BY_NUMPY, BYTES, TensorSpec, loads
from inference.protocols.validation import RequestTensor
from inference.triton import EXTENSIONS as TRITON_EXTENSIONS

EXTENSIONS = ["binary_data", *TRITON_EXTENSIONS]
# JSON value kinds accepted per datatype (OVMS KFSRestParser::parseData).
_FLOAT = frozenset("iuf")
_INT = frozenset("iu")
_BOOL = frozenset("b")
_INT_RANGES = {"INT8": (-(2**31), 2**31 - 1), "INT16": (-(2**31), 2**31 - 1), "INT32": (-(2**31), 2**31 - 1),
               "INT64": (-(2**63), 2**63 - 1), "UINT8": (0, 2**32 - 1), "UINT16": (0, 2**32 - 1),
               "UINT32": (0, 2**32 - 1), "UINT64": (0, 2**64 - 1)}  # fmt: skip


@dataclass(slots=True)
class OutputRequest:
    name: str
    binary: bool | None  # None: not said, follow binary_data_output
    classification: int = 0  # Triton's class_count: the top k as BYTES "value:index[:label]"; 0 = the tensor


@dataclass(slots=True)
class InferRequest:
    id: str
    inputs: list[RequestTensor]
    outputs: list[OutputRequest] = field(default_factory=list)
    binary_output: bool = False


def header_length(value: bytes | None, body_length: int) -> int | None:
    """The Inference-Header-Content-Length header: None when absent; OVMS's 400s when malformed or too large."""
    if value is None:
        return None
    try:
        length = int(value)
    except ValueError:
        raise errors.HEADER_CONTENT_LENGTH_INVALID from None
    if length < 0 or length >= 2**31:
        raise errors.HEADER_CONTENT_LENGTH_INVALID
    if length > body_length:
        raise errors.HEADER_CONTENT_LENGTH_EXCEEDED
    return length


def parse_infer(body: bytes | bytearray, json_length: int | None) -> InferRequest:
    if json_length is None:
        document = loads(body)
        binary = memoryview(b"")
    else:
        view = memoryview(body)
        document = loads(view[:json_length])
        binary = view[json_length:]
    if not isinstance(document, dict):
        raise errors.BODY_NOT_OBJECT
    request_id = document.get("id", "")
    if not isinstance(request_id, str):
        raise errors.COULD_NOT_PARSE_INPUT
    parameters = _parameters(document.get("parameters"))
    outputs = _outputs(document["outputs"]) if "outputs" in document else []
    if "inputs" not in document:
        raise errors.NO_INPUTS_FOUND
    nodes = document["inputs"]
    if not isinstance(nodes, list):
        raise errors.COULD_NOT_PARSE_INPUT
    if not nodes:
        raise errors.NO_INPUTS_FOUND
    inputs = [_input(node, len(nodes) == 1) for node in nodes]
    _attach_binary(inputs, nodes, binary)
    return InferRequest(request_id, inputs, outputs, parameters.get("binary_data_output") is True)


def _parameters(node: Any) -> dict[str, Any]:
    if node is None:
        return {}
    if not isinstance(node, dict):
        raise errors.COULD_NOT_PARSE_PARAMETERS
    for value in node.values():
        if not isinstance(value, (str, bool, int)) or (type(value) is int and not -(2**31) <= value < 2**31):
            raise errors.COULD_NOT_PARSE_PARAMETERS
    return node


def _outputs(node: Any) -> list[OutputRequest]:
    if not isinstance(node, list):
        raise errors.COULD_NOT_PARSE_INPUT
    outputs = []
    for item in node:
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise errors.COULD_NOT_PARSE_OUTPUT
        parameters = _parameters(item.get("parameters"))
        binary = parameters.get("binary_data")
        classes = parameters.get("classification", 0)
        if type(classes) is not int or classes < 0:
            raise errors.COULD_NOT_PARSE_OUTPUT.with_details(
                f"classification must be a non-negative integer; output name: {item['name']}"
            )
        outputs.append(OutputRequest(item["name"], binary if isinstance(binary, bool) else None, classes))
    return outputs


def _input(node: Any, only_input: bool) -> RequestTensor:
    if not isinstance(node, dict):
        raise errors.COULD_NOT_PARSE_INPUT
    name = node.get("name")
    shape = node.get("shape")
    datatype = node.get("datatype")
    if not isinstance(name, str) or not isinstance(shape, list):
        raise errors.COULD_NOT_PARSE_INPUT
    for dim in shape:
        if type(dim) is not int or not 0 < dim < 2**31:
            raise errors.COULD_NOT_PARSE_INPUT
    if not isinstance(datatype, str):
        raise errors.COULD_NOT_PARSE_INPUT
    parameters = _parameters(node.get("parameters"))
    tensor = RequestTensor(name, datatype, tuple(shape))
    if "data" in node:
        data = node["data"]
        if not isinstance(data, list):
            raise errors.COULD_NOT_PARSE_INPUT
        if datatype == BYTES.kserve:
            tensor.strings = _strings(data)
        else:
            tensor.array = _numbers(data, datatype)
        return tensor
    if (
        "binary_data_size" not in parameters
        and datatype == BYTES.kserve
        and not (only_input and tensor.shape == (1,))
    ):
        raise errors.COULD_NOT_PARSE_INPUT  # the size of such data cannot be told from the shape
    return tensor


def _numbers(data: list[Any], datatype: str) -> np.ndarray:
    target = BY_KSERVE.get(datatype)
    if target is None or target.numpy is None:
        raise errors.UNSUPPORTED_PRECISION
    kinds = _BOOL if datatype == "BOOL" else _FLOAT if target.numpy.kind == "f" else _INT
    try:
        array = np.array(data)
        if array.dtype.kind not in kinds:
            raise ValueError
    except (ValueError, OverflowError):
        array = _flatten_checked(data, kinds)
    if array.dtype == object:
        raise errors.COULD_NOT_PARSE_INPUT
    if kinds is _INT and array.size:
        low, high = _INT_RANGES[datatype]
        if array.min() < low or array.max() > high:
            raise errors.COULD_NOT_PARSE_INPUT
    return array.reshape(-1).astype(target.numpy, copy=False)


def _flatten_checked(data: list[Any], kinds: frozenset[str]) -> np.ndarray:
    """Slow path for ragged nesting (OVMS flattens whatever nesting it gets) and for precise type errors."""
    flat: list[Any] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            if isinstance(value, bool):
                ok = kinds is _BOOL
            elif isinstance(value, int):
                ok = kinds is not _BOOL
            elif isinstance(value, float):
                ok = kinds is _FLOAT
            else:
                ok = False
            if not ok:
                raise errors.COULD_NOT_PARSE_INPUT
            flat.append(value)
        else:
            stack.pop()
    try:
        return np.array(flat)
    except OverflowError:
        raise errors.COULD_NOT_PARSE_INPUT from None


def _strings(data: list[Any]) -> list[bytes]:
    strings: list[bytes] = []
    stack = [iter(data)]
    while stack:
        for value in stack[-1]:
            if isinstance(value, list):
                stack.append(iter(value))
                break
            if not isinstance(value, str):
                raise errors.COULD_NOT_PARSE_INPUT
            strings.append(value.encode())
        else:
            stack.pop()
    return strings


def _attach_binary(inputs: list[RequestTensor], nodes: list[dict[str, Any]], buffer: memoryview) -> None:
    offset = 0
    for tensor, node in zip(inputs, nodes, strict=True):
        has_data = tensor.array is not None and tensor.array.size > 0 or bool(tensor.strings)
        parameters = node.get("parameters") or {}
        if "binary_data_size" in parameters:
            if has_data:
                raise errors.CONTENTS_FIELD_NOT_EMPTY
            size = parameters["binary_data_size"]
            if type(size) is not int or size < 0:
                raise errors.BINARY_DATA_SIZE_INVALID
        elif has_data:
            continue
        elif len(inputs) == 1 and tensor.is_bytes:
            size = len(buffer) - offset
        else:
            datatype = BY_KSERVE.get(tensor.datatype)
            size = prod(tensor.shape) * (datatype.itemsize if datatype else 0)
        if offset + size > len(buffer):
            raise errors.BINARY_BUFFER_EXCEEDED
        chunk = buffer[offset : offset + size]
        offset += size
        tensor.array = None
        if tensor.is_bytes:
            tensor.strings = split_bytes(chunk, tensor.name, limits.max_elements(tensor.name, tensor.shape))
        else:
            tensor.raw = chunk


def split_bytes(chunk: memoryview, name: str, max_count: int) -> list[bytes]:
    """BYTES elements, each after its 4-byte little-endian length; 400 past `max_count` of them (4 bytes on the
    wire become a ~40-byte Python object: the declared shape bounds them, not the body)."""
    strings: list[bytes] = []
    offset = 0
    end = len(chunk)
    while offset < end:
        if len(strings) == max_count:
            raise limits.too_many_elements(name, max_count)
        if offset + 4 > end:
            raise errors.INVALID_STRING_INPUT.with_details(f"truncated element length; input name: {name}")
        (length,) = struct.unpack_from("<I", chunk, offset)
        offset += 4
        if offset + length > end:
            raise errors.INVALID_STRING_INPUT.with_details(
                f"element longer than the data; input name: {name}"
            )
        strings.append(bytes(chunk[offset : offset + length]))
        offset += length
    return strings


def class_counts(request: InferRequest) -> dict[str, int]:
    """Outputs asked for as classifications (Triton's class_count), by name."""
    return {output.name: output.classification for output in request.outputs if output.classification}


def selected_outputs(request: InferRequest, specs: Sequence[TensorSpec]) -> list[tuple[TensorSpec, bool]]:
    """Which outputs to return and whether each goes as binary data."""
    if not request.outputs:
        return [(spec, request.binary_output) for spec in specs]
    by_name = {spec.name: spec for spec in specs}
    selected = []
    for output in request.outputs:
        spec = by_name.get(output.name)
        if spec is None:
            raise errors.INVALID_MISSING_OUTPUT.with_details(f"Required output: {output.name}")
        selected.append((spec, request.binary_output if output.binary is None else output.binary))
    return selected


def infer_response(
    model_name: str, version: int, request_id: str, outputs: Sequence[tuple[TensorSpec, bool, np.ndarray]]
) -> tuple[bytes, int | None]:
    """The response body and, when it carries binary data, the length of its JSON part."""
    tensors = []
    blobs: list[bytes] = []
    for spec, binary, array in outputs:
        name = datatype_of(array, spec)
        entry: dict[str, Any] = {"name": spec.name, "datatype": name, "shape": list(array.shape)}
        if binary:
            blob = to_bytes(array)
            entry["parameters"] = {"binary_data_size": len(blob)}
            blobs.append(blob)
        elif array.dtype == object:
            entry["data"] = [
                v.decode(errors="replace") if isinstance(v, bytes) else str(v) for v in array.ravel().tolist()
            ]
        else:
            entry["data"] = np.ascontiguousarray(array).reshape(-1)
        tensors.append(entry)
    header = orjson.dumps(
        {"model_name": model_name, "model_version": str(version), "id": request_id, "outputs": tensors},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    if not blobs:
        return header, None
    return b"".join([header, *blobs]), len(header)


def datatype_of(array: np.ndarray, spec: TensorSpec) -> str:
    if array.dtype == object:
        return BYTES.kserve
    return BY_NUMPY.get(array.dtype, spec.datatype).kserve


def to_bytes(array: np.ndarray) -> bytes:
    if array.dtype == object:
        parts = []
        for value in array.ravel().tolist():
            raw = value if isinstance(value, bytes) else str(value).encode()
            parts.append(struct.pack("<I", len(raw)))
            parts.append(raw)
        return b"".join(parts)
    return np.ascontiguousarray(array).tobytes()


def metadata_response(
    name: str, versions: Sequence[int], inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]
) -> bytes:
    def tensors(specs: Sequence[TensorSpec]) -> list[dict[str, Any]]:
        return [{"name": s.name, "datatype": s.datatype.kserve, "shape": s.public_shape} for s in specs]

    return orjson.dumps(
        {
            "name": name,
            "versions": [str(v) for v in versions],
            "platform": "OpenVINO",
            "inputs": tensors(inputs),
            "outputs": tensors(outputs),
        }
    )


def server_metadata(version: str) -> bytes:
    return orjson.dumps({"name": "OpenVINO Model Server", "version": version, "extensions": EXTENSIONS})
