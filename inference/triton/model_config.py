"""Triton's model configuration extension: a Triton-style config derived from a served version."""

from collections.abc import Sequence
from typing import Any

from inference.protocols.tensors import TensorSpec

# Triton's DataType enum names (model_config.proto) by KServe datatype
TRITON_TYPES = {"BOOL": "TYPE_BOOL", "UINT8": "TYPE_UINT8", "UINT16": "TYPE_UINT16", "UINT32": "TYPE_UINT32",
                "UINT64": "TYPE_UINT64", "INT8": "TYPE_INT8", "INT16": "TYPE_INT16", "INT32": "TYPE_INT32",
                "INT64": "TYPE_INT64", "FP16": "TYPE_FP16", "FP32": "TYPE_FP32", "FP64": "TYPE_FP64",
                "BYTES": "TYPE_STRING"}  # fmt: skip


def max_batch_size(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> int:
    """Triton's max_batch_size: the upper bound of the first dimension when every input and output has a
    dynamic, bounded first dimension (a model served with a batch range such as 1:16); otherwise 0 (the
    shapes are given in full, -1 for dynamic dimensions)."""
    bounds = set()
    for spec in (*inputs, *outputs):
        if not spec.dims:
            return 0
        first = spec.dims[0]
        if first.static or first.high < 1 or first.low > 1:
            return 0
        bounds.add(first.high)
    return bounds.pop() if len(bounds) == 1 else 0


def batching(inputs: Sequence[TensorSpec], outputs: Sequence[TensorSpec]) -> bool:
    return max_batch_size(inputs, outputs) > 0


def model_config(
    *,
    name: str,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    instances: int,
    device: str = "CPU",
    versions: Sequence[int] = (),
) -> dict[str, Any]:
    """The config as Triton's GET /v2/models/{m}/config answers it (ModelConfig in JSON)."""
    batch = max_batch_size(inputs, outputs)

    def dims(spec: TensorSpec) -> list[int]:
        shape = spec.public_shape
        return shape[1:] if batch else shape

    return {
        "name": name,
        "platform": "openvino",
        "backend": "openvino",
        "version_policy": {"specific": {"versions": [int(v) for v in versions]}}
        if versions
        else {"latest": {"num_versions": 1}},
        "max_batch_size": batch,
        "input": [
            {
                "name": spec.name,
                "data_type": TRITON_TYPES.get(spec.datatype.kserve, "TYPE_INVALID"),
                "format": "FORMAT_NONE",
                "dims": dims(spec),
                "is_shape_tensor": False,
                "allow_ragged_batch": False,
                "optional": False,
            }
            for spec in inputs
        ],  # fmt: skip
        "output": [
            {
                "name": spec.name,
                "data_type": TRITON_TYPES.get(spec.datatype.kserve, "TYPE_INVALID"),
                "dims": dims(spec),
                "label_filename": "",
                "is_shape_tensor": False,
            }
            for spec in outputs
        ],  # fmt: skip
        "instance_group": [
            {
                "name": f"{name}_0",
                "kind": "KIND_CPU" if device.upper().startswith("CPU") else "KIND_MODEL",
                "count": instances,
                "gpus": [],
                "secondary_devices": [],
                "profile": [],
                "passive": False,
                "host_policy": "",
            }
        ],  # fmt: skip
        "default_model_filename": "",
        "parameters": {},
        "model_warmup": [],
    }
