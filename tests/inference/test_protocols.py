"""The pure protocol layer: routing, TFS and KServe parsing, validation texts (no model, no server)."""

import base64
import io
import struct

import numpy as np
import orjson
import pytest
from PIL import Image

from inference.protocols import kserve, tfs
from inference.protocols.errors import InferenceError
from inference.protocols.routing import Kind, resolve
from inference.protocols.tensors import BY_KSERVE, Dim, TensorSpec, loads
from inference.protocols.validation import validate_inputs


def spec(name: str, datatype: str, *dims: int, index: int = 0) -> TensorSpec:
    return TensorSpec(
        name, index, BY_KSERVE[datatype], tuple(Dim(0, -1) if d < 0 else Dim(d, d) for d in dims)
    )


A = spec("a", "FP32", 1, 3, index=0)
B = spec("b", "INT32", 1, 3, index=1)
TWO = {"a": A, "b": B}
ONE = {"x": spec("x", "FP32", -1, 4)}


def error_of(call, *args, **kwargs) -> InferenceError:
    with pytest.raises(InferenceError) as caught:
        call(*args, **kwargs)
    return caught.value


class TestRouting:
    @pytest.mark.parametrize(
        "method,path,kind,name,version",
        [
            ("POST", "/v1/models/m:predict", Kind.TFS_PREDICT, "m", None),
            ("POST", "/v1/models/m/versions/3:predict", Kind.TFS_PREDICT, "m", 3),
            ("GET", "/v1/models/m", Kind.TFS_STATUS, "m", None),
            (
                "GET",
                "/v1/models/m/versions/0",
                Kind.TFS_STATUS,
                "m",
                None,
            ),  # 0 = default, as ovmsclient sends
            ("GET", "/v1/models/m/versions/2/metadata", Kind.TFS_METADATA, "m", 2),
            ("GET", "/v1/config", Kind.CONFIG_STATUS, "", None),
            ("POST", "/v1/config/reload", Kind.CONFIG_RELOAD, "", None),
            ("GET", "/v2", Kind.KFS_SERVER_METADATA, "", None),
            ("GET", "/v2/health/live", Kind.KFS_LIVE, "", None),
            ("GET", "/v2/models/m/", Kind.KFS_MODEL_METADATA, "m", None),
            ("GET", "/v2/models/m/versions/4/ready", Kind.KFS_MODEL_READY, "m", 4),
            ("POST", "/v2/models/m/versions/4/infer", Kind.KFS_INFER, "m", 4),
            ("GET", "/metrics", Kind.METRICS, "", None),
        ],
    )
    def test_known_paths(self, method, path, kind, name, version):
        route = resolve(method, path)
        assert (route.kind, route.name, route.version) == (kind, name, version)

    @pytest.mark.parametrize(
        "method,path",
        [("GET", "/v1/models/m:predict"), ("POST", "/v1/models/m"), ("GET", "/v2/models/m/infer"),
         ("POST", "/v2/models/m/ready"), ("GET", "/v1/config/reload"), ("PUT", "/v2/models/m/infer"),
         ("DELETE", "/v1/models/m")],
    )  # fmt: skip
    def test_wrong_method_is_406(self, method, path):
        assert error_of(resolve, method, path).status == 406
        assert error_of(resolve, method, path).text == "Unsupported method"

    @pytest.mark.parametrize(
        "path", ["/v1/models/m/versions/-1", "/v2/models/m/versions/-1/infer", "/v1/nothing", "/v2/x/y/z"]
    )
    def test_unknown_path_or_negative_version_is_400(self, path):
        for method in ("GET", "POST"):
            error = error_of(resolve, method, path)
            assert (error.status, error.text) == (400, "Invalid request URL")

    def test_huge_version_is_not_found(self):
        assert (
            error_of(resolve, "GET", "/v1/models/m/versions/99999999999999999999").text
            == "Model with requested version is not found"
        )


class TestJson:
    def test_malformed_json_is_412_with_offset(self):
        error = error_of(loads, b'{"inputs": [1, 2')
        assert error.status == 412
        assert error.text.startswith("The file is not valid json - Error: ")
        assert error.text.endswith("Offset: 16")

    def test_nesting_deeper_than_100_is_rejected(self):
        deep = b'{"inputs": ' + b"[" * 101 + b"1" + b"]" * 101 + b"}"
        error = error_of(loads, deep)
        assert error.status == 412 and "deeper than 100" in error.text
        assert loads(b'{"inputs": ' + b"[" * 99 + b"1" + b"]" * 99 + b"}")


class TestTfsParsing:
    def test_row_named_instances_batch_each_instance(self):
        order, tensors, sent = tfs.parse_predict(
            {"instances": [{"a": [1, 2, 3], "b": [4, 5, 6]}, {"a": [7, 8, 9], "b": [1, 1, 1]}]}, TWO
        )
        assert order == tfs.ROW and sent == 2
        assert tensors["a"].shape == (2, 3) and tensors["a"].array.dtype == np.float32
        assert tensors["b"].array.dtype == np.int32 and tensors["b"].array.tolist() == [[4, 5, 6], [1, 1, 1]]

    def test_row_nonamed_only_for_one_input_model(self):
        _, tensors, _ = tfs.parse_predict({"instances": [[1, 2, 3, 4]]}, ONE)
        assert tensors["x"].shape == (1, 4)
        error = error_of(tfs.parse_predict, {"instances": [[1, 2, 3]]}, TWO)
        assert (error.status, error.text) == (500, "Internal allocation error")

    def test_column_bare_list_and_named(self):
        order, tensors, _ = tfs.parse_predict({"inputs": [[1.5, 2, 3, 4]]}, ONE)
        assert order == tfs.COLUMN and tensors["x"].array.tolist() == [[1.5, 2, 3, 4]]
        _, tensors, sent = tfs.parse_predict(
            {"inputs": {"a": [[1, 2, 3]], "b": [[1, 2, 3]], "zzz": [1]}}, TWO
        )
        assert set(tensors) == {"a", "b"} and sent == 2  # unknown inputs are dropped

    @pytest.mark.parametrize(
        "document,text",
        [
            ({"instances": [[1]], "inputs": [[1]]}, "Invalid JSON structure. Could not detect row or column format"),
            ({"signature_name": "x"}, "Invalid JSON structure. Could not detect row or column format"),
            ([1, 2], "Request body should be JSON object"),
            ({"instances": {"a": 1}}, "Invalid JSON structure. Nonamed instance is not an array."),
            ({"instances": []}, "Invalid JSON structure. Missing instances in row format"),
            ({"instances": [{"a": [1, 2, 3]}, [1]]}, "Invalid JSON structure. One of named instances is not a JSON object."),
            ({"instances": [{"a": [1, 2, 3], "b": [1, 2, 3]}, {"a": [1, 2, 3]}]}, "Invalid JSON structure. Request inputs have different batch sizes"),
            ({"instances": [{"a": [[1, 2], [3]]}]}, "Could not parse instance content. Not valid ndarray detected"),
            ({"instances": [{"a": ["x", "y", "z"]}]}, "Could not parse instance content. Not valid ndarray detected"),
            ({"inputs": {"a": [[1, 2], [3]]}}, "Could not parse input content. Not valid ndarray detected"),
            ({"inputs": {"a": "text"}}, "Could not parse input content. Not valid ndarray detected"),
            ({"inputs": {"a": [[1, "2", 3]]}}, "Could not parse input content. Not valid ndarray detected"),
            ({"inputs": 5}, "Invalid JSON structure. One of inputs is not a JSON object."),
            ({"inputs": {}}, "Invalid JSON structure, missing inputs"),
            ({"instances": [True]}, "Could not detect neither named or nonamed format"),
        ],
    )  # fmt: skip
    def test_structure_errors(self, document, text):
        assert error_of(tfs.parse_predict, document, TWO).text == text

    def test_b64_values_become_bytes(self):
        image = {"image": spec("image", "UINT8", 1, 2, 2, 3)}
        _, tensors, _ = tfs.parse_predict(
            {"instances": [{"image": {"b64": base64.b64encode(b"abc").decode()}}]}, image
        )
        assert tensors["image"].strings == [b"abc"] and tensors["image"].is_bytes

    def test_responses(self):
        out = np.arange(6, dtype=np.float32).reshape(2, 3)
        assert orjson.loads(tfs.predict_response(tfs.ROW, [("y", out)])) == {
            "predictions": [[0, 1, 2], [3, 4, 5]]
        }
        assert orjson.loads(tfs.predict_response(tfs.COLUMN, [("y", out)])) == {
            "outputs": [[0, 1, 2], [3, 4, 5]]
        }
        two = [("s", out), ("p", out * 2)]
        assert orjson.loads(tfs.predict_response(tfs.ROW, two))["predictions"][1] == {
            "s": [3, 4, 5],
            "p": [6, 8, 10],
        }
        assert orjson.loads(tfs.predict_response(tfs.COLUMN, two))["outputs"]["p"] == [[0, 2, 4], [6, 8, 10]]


class TestValidation:
    def test_count_missing_shape_precision_texts(self):
        _, tensors, sent = tfs.parse_predict({"inputs": {"a": [[1, 2, 3]]}}, TWO)
        assert (
            error_of(validate_inputs, [A, B], tensors, sent).text
            == "Invalid number of inputs - Expected: 2; Actual: 1"
        )

        request = kserve.parse_infer(orjson.dumps({"inputs": [
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
            {"name": "c", "shape": [1, 3], "datatype": "INT32", "data": [1, 2, 3]}]}), None)  # fmt: skip
        tensors = {t.name: t for t in request.inputs}
        assert (
            error_of(validate_inputs, [A, B], tensors, 2).text
            == "Missing input with specific name - Required input: b"
        )

        def infer(shape, datatype="INT32", data=None):
            data = data if data is not None else list(range(int(np.prod(shape))))
            req = kserve.parse_infer(orjson.dumps({"inputs": [
                {"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3]},
                {"name": "b", "shape": shape, "datatype": datatype, "data": data}]}), None)  # fmt: skip
            return validate_inputs([A, B], {t.name: t for t in req.inputs}, 2)

        assert (
            error_of(infer, [1, 4]).text
            == "Invalid input shape - Expected: (1,3); Actual: (1,4); input name: b"
        )
        assert (
            error_of(infer, [2, 3]).text == "Invalid input batch size - Expected: 1; Actual: 2; input name: b"
        )
        assert (
            error_of(infer, [3]).text
            == "Invalid number of shape dimensions - Expected: (1,3); Actual: (3); input name: b"
        )
        assert (
            error_of(infer, [1, 3], "FP32").text
            == "Invalid input precision - Expected: I32; Actual: FP32; input name: b"
        )
        assert error_of(infer, [1, 3], data=[1, 2]).text == (
            "Invalid number of values in tensor proto container - Expected: 3 values; Actual: 2 values; input name: b"
        )
        arrays = infer([1, 3])
        assert arrays[1].dtype == np.int32 and arrays[1].shape == (1, 3) and arrays[0].dtype == np.float32

    def test_dynamic_dimension_accepts_any_size(self):
        x = ONE["x"]
        request = kserve.parse_infer(
            orjson.dumps({"inputs": [{"name": "x", "shape": [5, 4], "datatype": "FP32", "data": [0] * 20}]}),
            None,
        )
        assert validate_inputs([x], {"x": request.inputs[0]}, 1)[0].shape == (5, 4)


class TestKserveParsing:
    def test_binary_inputs_follow_the_json_in_order(self):
        a = np.arange(3, dtype=np.float32)
        b = np.array([[7, 8, 9]], dtype=np.int32)
        header = orjson.dumps({"inputs": [
            {"name": "a", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 12}},
            {"name": "b", "shape": [1, 3], "datatype": "INT32"}]})  # fmt: skip
        request = kserve.parse_infer(header + a.tobytes() + b.tobytes(), len(header))
        arrays = validate_inputs([A, B], {t.name: t for t in request.inputs}, 2)
        assert arrays[0].tolist() == [[0, 1, 2]] and arrays[1].tolist() == [[7, 8, 9]]

    def test_binary_size_mismatch_and_overrun(self):
        header = orjson.dumps(
            {
                "inputs": [
                    {"name": "a", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": 8}}
                ]
            }
        )
        request = kserve.parse_infer(header + b"\0" * 8, len(header))
        error = error_of(validate_inputs, [A], {"a": request.inputs[0]}, 1)
        assert (
            error.text
            == "Invalid content size of tensor proto - Expected: 12 bytes; Actual: 8 bytes; input name: a"
        )
        error = error_of(kserve.parse_infer, header + b"\0" * 4, len(header))
        assert error.text == "Received buffer size is smaller than binary_data_size parameter indicates"

    def test_header_length_header(self):
        assert kserve.header_length(None, 10) is None
        assert kserve.header_length(b"7", 10) == 7
        assert (
            error_of(kserve.header_length, b"abc", 10).text
            == "Inference-Header-Content-Length header is invalid and couldn't be parsed"
        )
        assert error_of(kserve.header_length, b"-5", 10).status == 400
        assert error_of(kserve.header_length, b"11", 10).status == 400

    def test_bytes_elements_carry_a_length_prefix(self):
        blob = struct.pack("<I", 3) + b"abc" + struct.pack("<I", 0)
        header = orjson.dumps(
            {
                "inputs": [
                    {
                        "name": "s",
                        "shape": [2],
                        "datatype": "BYTES",
                        "parameters": {"binary_data_size": len(blob)},
                    }
                ]
            }
        )
        request = kserve.parse_infer(header + blob, len(header))
        assert request.inputs[0].strings == [b"abc", b""]

    @pytest.mark.parametrize(
        "document,text",
        [
            ({"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, "2", 3]}]}, "Could not parse input content. Not valid ndarray detected"),
            ({"inputs": [{"name": "a", "shape": [1, 3], "datatype": "INT32", "data": [1, 2.5, 3]}]}, "Could not parse input content. Not valid ndarray detected"),
            ({"inputs": [{"name": "a", "shape": [0, 3], "datatype": "FP32", "data": []}]}, "Could not parse input content. Not valid ndarray detected"),
            ({"inputs": [{"name": "a", "shape": [1], "datatype": "FP8", "data": [1]}]}, "Could not parse input content. Unsupported data precision detected"),
            ({"inputs": []}, "Invalid JSON structure, missing inputs"),
            ({"id": 5, "inputs": []}, "Could not parse input content. Not valid ndarray detected"),
            ({"outputs": [{"nam": "x"}], "inputs": []}, "Could not parse output content."),
            ({"parameters": {"x": [1]}, "inputs": []}, "Could not parse request parameters"),
            ({"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [1, 2, 3], "parameters": {"binary_data_size": 12}}]},
             "Request contains values both in binary data and in content value"),
            ({"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP32", "parameters": {"binary_data_size": "12"}}]},
             "binary_data_size parameter is invalid and cannot be parsed"),
        ],
    )  # fmt: skip
    def test_errors(self, document, text):
        assert error_of(kserve.parse_infer, orjson.dumps(document), None).text == text

    def test_ragged_nested_data_is_flattened_like_ovms(self):
        request = kserve.parse_infer(
            orjson.dumps(
                {"inputs": [{"name": "a", "shape": [1, 3], "datatype": "FP32", "data": [[1], [2, 3]]}]}
            ),
            None,
        )
        assert request.inputs[0].array.tolist() == [1, 2, 3]

    def test_response_binary_and_json(self):
        y = spec("y", "FP32", 1, 2)
        out = np.array([[1.5, -2]], dtype=np.float32)
        body, length = kserve.infer_response("m", 3, "req-1", [(y, False, out)])
        assert length is None
        assert orjson.loads(body) == {"model_name": "m", "model_version": "3", "id": "req-1",
                                      "outputs": [{"name": "y", "datatype": "FP32", "shape": [1, 2], "data": [1.5, -2.0]}]}  # fmt: skip
        body, length = kserve.infer_response("m", 3, "", [(y, True, out)])
        header = orjson.loads(body[:length])
        assert header["outputs"][0]["parameters"] == {"binary_data_size": 8}
        assert np.frombuffer(body[length:], dtype=np.float32).tolist() == [1.5, -2.0]


def test_images_are_decoded_bgr_and_resized():
    from inference.protocols.images import decode_images

    rgb = np.zeros((4, 6, 3), dtype=np.uint8)
    rgb[..., 0] = 200  # red
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    target = spec("img", "FP32", 1, 2, 3, 3)
    batch = decode_images([buffer.getvalue()], target)
    assert batch.shape == (1, 2, 3, 3) and batch.dtype == np.float32
    assert batch[0, 0, 0].tolist() == [0, 0, 200]  # OpenCV's channel order
    with pytest.raises(InferenceError) as caught:
        decode_images([b"not an image"], target)
    assert caught.value.text == "Image parsing failed"
