"""Triton model configs derived from a servable's tensors."""

from inference.protocols.tensors import BY_KSERVE, Dim, TensorSpec
from inference.triton.model_config import max_batch_size, model_config


def spec(name: str, index: int, datatype: str, *dims: tuple[int, int]) -> TensorSpec:
    return TensorSpec(name, index, BY_KSERVE[datatype], tuple(Dim(low, high) for low, high in dims))


def test_static_shapes_have_no_batch_dimension():
    inputs = [spec("INPUT0", 0, "INT32", (1, 1), (16, 16)), spec("INPUT1", 1, "INT32", (1, 1), (16, 16))]
    outputs = [spec("OUTPUT0", 0, "INT32", (1, 1), (16, 16))]
    config = model_config(name="simple", inputs=inputs, outputs=outputs, instances=4, versions=[1])
    assert config["name"] == "simple" and config["platform"] == "openvino" and config["backend"] == "openvino"
    assert config["max_batch_size"] == 0
    assert config["input"][0] | {} == {
        "name": "INPUT0", "data_type": "TYPE_INT32", "format": "FORMAT_NONE", "dims": [1, 16],
        "is_shape_tensor": False, "allow_ragged_batch": False, "optional": False,
    }  # fmt: skip
    assert config["output"][0]["dims"] == [1, 16] and config["output"][0]["data_type"] == "TYPE_INT32"
    assert config["instance_group"][0]["count"] == 4 and config["instance_group"][0]["kind"] == "KIND_CPU"


def test_a_bounded_batch_range_is_max_batch_size_and_leaves_the_dims():
    inputs = [spec("x", 0, "FP32", (1, 16), (3, 3))]
    outputs = [spec("y", 0, "BYTES", (1, 16), (2, 2))]
    config = model_config(name="m", inputs=inputs, outputs=outputs, instances=2, device="GPU")
    assert config["max_batch_size"] == 16
    assert config["input"][0]["dims"] == [3] and config["output"][0] == config["output"][0] | {"dims": [2]}
    assert (
        config["output"][0]["data_type"] == "TYPE_STRING"
        and config["instance_group"][0]["kind"] == "KIND_MODEL"
    )


def test_unbounded_or_mixed_first_dimensions_do_not_batch():
    dynamic = spec("x", 0, "FP32", (0, -1), (4, 4))
    assert max_batch_size([dynamic], [dynamic]) == 0
    assert max_batch_size([spec("a", 0, "FP32", (1, 8))], [spec("b", 0, "FP32", (1, 4))]) == 0
    assert max_batch_size([TensorSpec("r", 0, BY_KSERVE["FP32"], None)], []) == 0
    config = model_config(name="m", inputs=[dynamic], outputs=[dynamic], instances=1)
    assert config["input"][0]["dims"] == [-1, 4]
