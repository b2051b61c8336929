"""Triton's classification extension: top k as "value:index[:label]", formatted like Triton's C++."""

import numpy as np
import pytest

from inference.triton import TritonError
from inference.triton.classification import top_k


def test_floats_print_six_decimals_and_labels_when_known():
    scores = np.array([[0.1, 0.7, 0.2, 0.05]], dtype=np.float32)
    result = top_k(scores, 3, batching=False, labels=["cat", "dog"])
    assert result.tolist() == [b"0.700000:1:dog", b"0.200000:2", b"0.100000:0:cat"]
    assert result.shape == (3,)


def test_batching_model_classifies_each_row():
    scores = np.array([[1, 5, 3], [9, 2, 9]], dtype=np.int32)
    result = top_k(scores, 2, batching=True)
    assert result.shape == (2, 2)
    assert result.tolist() == [[b"5:1", b"3:2"], [b"9:0", b"9:2"]]  # equal values keep index order


def test_count_above_the_elements_returns_them_all():
    assert top_k(np.array([3, 1], dtype=np.uint8), 5, batching=False).tolist() == [b"3:0", b"1:1"]


def test_doubles_and_negative_values():
    values = np.array([-1.5, 2.25], dtype=np.float64)
    assert top_k(values, 1, batching=False).tolist() == [b"2.250000:1"]
    assert top_k(np.array([-3, -1], dtype=np.int64), 2, batching=False).tolist() == [b"-1:1", b"-3:0"]


@pytest.mark.parametrize(
    "array,name",
    [
        (np.zeros(3, np.float16), "FP16"),
        (np.zeros(3, bool), "BOOL"),
        (np.array([b"a"], dtype=object), "BYTES"),
    ],
)
def test_types_triton_cannot_classify(array, name):
    with pytest.raises(TritonError) as caught:
        top_k(array, 1, batching=False)
    assert caught.value.status == 400
    assert caught.value.text == f"class result not available for output due to unsupported type '{name}'"
