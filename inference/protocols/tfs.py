"""TensorFlow-Serving REST protocol (as OVMS implements it): predict in row/column format, status, metadata.

Pure functions: they take parsed JSON and model descriptions and return arrays or response bodies.
"""

import base64
import binascii
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson

from inference.protocols import errors
from inference.protocols.tensors import BYTES, TensorSpec
from inference.protocols.validation import RequestTensor

ROW = "row"
COLUMN = "column"
_NUMERIC_KINDS = frozenset("iuf")


class _Unparsable(Exception):
    pass


def parse_predict(
    document: Any, inputs: Mapping[str, TensorSpec]
) -> tuple[str, dict[str, RequestTensor], int]:
    """Returns (order, tensors by name, number of inputs sent). Inputs the model does not have are dropped."""
    if not isinstance(document, dict):
        raise errors.BODY_NOT_OBJECT
    has_instances = "instances" in document
    has_inputs = "inputs" in document
    if has_instances == has_inputs:
        raise errors.PREDICT_UNKNOWN_ORDER
    if has_instances:
        tensors = _parse_rows(document["instances"], inputs)
        return ROW, tensors, len(tensors)
    tensors = _parse_columns(document["inputs"], inputs)
    return COLUMN, tensors, len(tensors)


def _parse_rows(node: Any, inputs: Mapping[str, TensorSpec]) -> dict[str, RequestTensor]:
    if not isinstance(node, list):
        raise errors.INSTANCES_NOT_AN_ARRAY
    if not node:
        raise errors.NO_INSTANCES_FOUND
    first = node[0]
    if isinstance(first, dict) and not _is_b64(first):
        rows: dict[str, list[Any]] = {}
        for instance in node:
            if not isinstance(instance, dict):
                raise errors.NAMED_INSTANCE_NOT_AN_OBJECT
            if not instance:
                raise errors.COULD_NOT_PARSE_INSTANCE
            for name, value in instance.items():
                rows.setdefault(name, []).append(value)
        tensors: dict[str, RequestTensor] = {}
        for name, values in rows.items():
            spec = inputs.get(name)
            if spec is None:
                continue
            try:
                tensors[name] = _tensor_from_rows(name, values, spec)
            except _Unparsable:
                raise errors.COULD_NOT_PARSE_INSTANCE from None
        if len({tensor.shape[0] for tensor in tensors.values()}) > 1:
            raise errors.INSTANCES_BATCH_SIZE_DIFFER
        return tensors
    if isinstance(first, (list, int, float, str)) and not isinstance(first, bool) or _is_b64(first):
        spec = _only_input(inputs)
        try:
            return {spec.name: _tensor_from_value(spec.name, node, spec)}
        except _Unparsable:
            raise errors.COULD_NOT_PARSE_INSTANCE from None
    raise errors.INSTANCES_NOT_NAMED_OR_NONAMED


def _parse_columns(node: Any, inputs: Mapping[str, TensorSpec]) -> dict[str, RequestTensor]:
    if isinstance(node, list):
        spec = _only_input(inputs)
        try:
            return {spec.name: _tensor_from_value(spec.name, node, spec)}
        except _Unparsable:
            raise errors.COULD_NOT_PARSE_INPUT from None
    if not isinstance(node, dict):
        raise errors.INPUTS_NOT_AN_OBJECT
    if not node:
        raise errors.NO_INPUTS_FOUND
    tensors: dict[str, RequestTensor] = {}
    for name, value in node.items():
        known = inputs.get(name)
        if known is None:
            continue
        try:
            tensors[name] = _tensor_from_value(name, value, known)
        except _Unparsable:
            raise errors.COULD_NOT_PARSE_INPUT from None
    return tensors


def _only_input(inputs: Mapping[str, TensorSpec]) -> TensorSpec:
    if len(inputs) != 1:
        raise errors.INPUT_NOT_PREALLOCATED
    return next(iter(inputs.values()))


def _is_b64(value: Any) -> bool:
    return isinstance(value, dict) and len(value) == 1 and isinstance(value.get("b64"), str)


def _tensor_from_rows(name: str, values: list[Any], spec: TensorSpec) -> RequestTensor:
    """Named row format: each instance contributes one batch row."""
    if all(_is_b64(value) or isinstance(value, str) for value in values):
        strings = [_string_value(value, spec) for value in values]
        return RequestTensor(name, BYTES.kserve, (len(strings),), strings=strings)
    rows = [_numeric(value, spec) for value in values]
    if len({row.shape for row in rows}) != 1:
        raise _Unparsable()
    array = np.stack(rows)
    return RequestTensor(name, spec.datatype.kserve, array.shape, array=array, shaped=True)


def _tensor_from_value(name: str, value: Any, spec: TensorSpec) -> RequestTensor:
    if _is_b64(value) or isinstance(value, str):
        return RequestTensor(name, BYTES.kserve, (1,), strings=[_string_value(value, spec)])
    if isinstance(value, list) and value and all(_is_b64(item) or isinstance(item, str) for item in value):
        strings = [_string_value(item, spec) for item in value]
        return RequestTensor(name, BYTES.kserve, (len(strings),), strings=strings)
    array = _numeric(value, spec)
    return RequestTensor(name, spec.datatype.kserve, array.shape, array=array, shaped=True)


def _string_value(value: Any, spec: TensorSpec) -> bytes:
    if isinstance(value, dict):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise _Unparsable() from None
    if spec.datatype.kserve in ("UINT8", "BYTES"):  # plain strings only go to U8/string inputs (OVMS)
        return value.encode()
    raise _Unparsable()


def _numeric(value: Any, spec: TensorSpec) -> np.ndarray:
    """A (nested) list of numbers converted to the input's precision, as OVMS casts JSON numbers."""
    if not isinstance(value, list) or not value:
        raise _Unparsable()
    try:
        array = np.array(value)
    except (ValueError, OverflowError):
        raise _Unparsable() from None
    if array.dtype.kind not in _NUMERIC_KINDS or 0 in array.shape:
        raise _Unparsable()
    dtype = spec.datatype.numpy
    if dtype is None or spec.datatype.kserve == "BOOL":
        raise _Unparsable()
    return array.astype(dtype, copy=False)


def predict_response(order: str, outputs: Sequence[tuple[str, np.ndarray]]) -> bytes:
    """Row: {"predictions": ...}; column: {"outputs": ...}; one output is shown bare, several by name."""
    if order == COLUMN:
        if len(outputs) == 1:
            return _dumps({"outputs": outputs[0][1]})
        return _dumps({"outputs": dict(outputs)})
    if any(array.ndim == 0 for _, array in outputs):
        raise errors.PROTO_TO_STRING_ERROR
    if len(outputs) == 1:
        return _dumps({"predictions": outputs[0][1]})
    batch = {array.shape[0] for _, array in outputs}
    if len(batch) != 1:  # TF Serving: "Tensors in response have different batch sizes"
        raise errors.PROTO_TO_STRING_ERROR
    rows = [{name: array[i] for name, array in outputs} for i in range(batch.pop())]
    return _dumps({"predictions": rows})


def _dumps(document: Any) -> bytes:
    return orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY, default=_default)


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):  # non-contiguous or string arrays
        if value.dtype == object:
            return [v.decode(errors="replace") if isinstance(v, bytes) else v for v in value.ravel().tolist()]
        return np.ascontiguousarray(value).tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError


def metadata_response(
    name: str, version: int, inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]
) -> bytes:
    def signature(specs: Sequence[TensorSpec]) -> dict[str, Any]:
        return {
            spec.name: {
                "dtype": spec.datatype.tfs,
                "tensorShape": {
                    "dim": [{"size": str(size), "name": ""} for size in spec.public_shape],
                    "unknownRank": False,
                },
                "name": spec.name,
            }
            for spec in specs
        }

    return orjson.dumps(
        {
            "modelSpec": {"name": name, "signatureName": "", "version": str(version)},
            "metadata": {
                "signature_def": {
                    "@type": "type.googleapis.com/tensorflow.serving.SignatureDefMap",
                    "signatureDef": {
                        "serving_default": {
                            "inputs": signature(inputs),
                            "outputs": signature(outputs),
                            "methodName": "tensorflow/serving/predict",
                            "defaults": {},
                        }
                    },
                }
            },
        }
    )


def version_status(version: int, state: str, error_code: str) -> dict[str, Any]:
    return {
        "version": str(version),
        "state": state,
        "status": {"error_code": error_code, "error_message": error_code},
    }


def status_response(statuses: list[dict[str, Any]]) -> bytes:
    return orjson.dumps({"model_version_status": statuses})
