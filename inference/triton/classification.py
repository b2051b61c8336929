"""Triton's classification extension (`class_count` of a requested output): the top k elements of an
output as BYTES strings "value:index[:label]", formatted as Triton's src/classification.cc does."""

from collections.abc import Sequence

import numpy as np

from inference.triton import TritonError

# Triton's TopkClassifications handles these types only (C++ std::to_string of the element)
_FLOATS = {np.dtype(np.float32), np.dtype(np.float64)}
_INTEGERS = {
    np.dtype(t) for t in (np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32, np.uint64)
}
_KSERVE_NAMES = {"float16": "FP16", "bool": "BOOL", "object": "BYTES"}


def top_k(array: np.ndarray, count: int, *, batching: bool, labels: Sequence[str] = ()) -> np.ndarray:
    """The classification of one output: shape [batch, min(count, per-item elements)] when the model batches
    (its first dimension), else [min(count, elements)]; elements are bytes "value:index[:label]"."""
    if count < 1:
        raise TritonError(f"class_count must be a positive number, got {count}")
    if array.dtype not in _FLOATS and array.dtype not in _INTEGERS:
        name = _KSERVE_NAMES.get(array.dtype.name, array.dtype.name.upper())
        raise TritonError(f"class result not available for output due to unsupported type '{name}'")
    batch = array.shape[0] if batching and array.ndim > 0 else 0
    rows = array.reshape(max(batch, 1), -1)
    k = min(count, rows.shape[1])
    result = np.empty((rows.shape[0], k), dtype=object)
    render = _float_text if array.dtype in _FLOATS else _int_text
    for row_index, row in enumerate(rows):
        for column, index in enumerate(_descending(row)[:k].tolist()):
            text = f"{render(row[index])}:{index}"
            if index < len(labels):
                text += f":{labels[index]}"
            result[row_index, column] = text.encode()
    return result if batch else result.reshape(k)


def _descending(row: np.ndarray) -> np.ndarray:
    """Indices by decreasing value; equal values in index order."""
    return len(row) - 1 - np.argsort(row[::-1], kind="stable")[::-1]


def _float_text(value: np.floating) -> str:
    return f"{float(value):f}"  # std::to_string(float|double)


def _int_text(value: np.integer) -> str:
    return str(int(value))
