"""TensorFlow Serving's gRPC API as ovmsclient (make_grpc_client) and raw protobuf stubs see it, against a live
server; outputs compared with OpenVINO called directly."""

import io

import grpc
import numpy as np
import pytest
from ovmsclient import make_grpc_client
from ovmsclient.tfs_compat.base.errors import InvalidInputError, ModelNotFoundError
from ovmsclient.tfs_compat.protos.tensorflow.core.framework import tensor_pb2, tensor_shape_pb2, types_pb2
from ovmsclient.tfs_compat.protos.tensorflow_serving.apis import (
    get_model_metadata_pb2,
    get_model_status_pb2,
    model_service_pb2_grpc,
    predict_pb2,
    prediction_service_pb2_grpc,
)
from PIL import Image

from tests.inference.conftest import build_image_model, reference
from tests.inference.grpc.conftest import rng, silero_inputs, simple_inputs
from tests.modelfiles import magika_onnx, silero_vad_onnx

pytestmark = pytest.mark.live


def tensor_proto(array: np.ndarray, dtype: int, *, typed_field: str | None = None) -> tensor_pb2.TensorProto:
    proto = tensor_pb2.TensorProto(dtype=dtype)
    proto.tensor_shape.dim.extend(tensor_shape_pb2.TensorShapeProto.Dim(size=s) for s in array.shape)
    if typed_field:
        getattr(proto, typed_field).extend(array.ravel().tolist())
    else:
        proto.tensor_content = array.tobytes()
    return proto


class TestOvmsClient:
    def test_status_metadata_predict(self, server, openvino_core):
        client = make_grpc_client(server.grpc_address)
        assert client.get_model_status("magika") == {
            1: {"state": "AVAILABLE", "error_code": 0, "error_message": "OK"}
        }
        assert client.get_model_status("magika", 1) == client.get_model_status("magika")
        assert client.get_model_metadata("magika", 1) == {
            "model_version": 1,
            "inputs": {"bytes": {"dtype": "DT_INT32", "shape": [-1, 2048]}},
            "outputs": {"target_label": {"dtype": "DT_FLOAT", "shape": [-1, 214]}},
        }
        data = rng.integers(0, 257, (1, 2048)).astype(np.int32)
        expected = reference(openvino_core, magika_onnx(), {"bytes": data})["target_label"]
        np.testing.assert_allclose(client.predict({"bytes": data}, "magika"), expected, rtol=1e-5, atol=1e-6)

        data = silero_inputs()
        expected = reference(openvino_core, silero_vad_onnx(), data)
        outputs = client.predict(data, "silero", model_version=1)
        assert set(outputs) == {"output", "stateN"}
        for name in outputs:
            np.testing.assert_allclose(outputs[name], expected[name], rtol=1e-5, atol=1e-6)

    def test_simple(self, server):
        first, second = simple_inputs()
        outputs = make_grpc_client(server.grpc_address).predict({"INPUT0": first, "INPUT1": second}, "simple")
        np.testing.assert_array_equal(outputs["OUTPUT0"], first + second)
        np.testing.assert_array_equal(outputs["OUTPUT1"], first - second)

    def test_encoded_image(self, server, openvino_core):
        picture = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        png = io.BytesIO()
        Image.fromarray(picture).save(png, format="PNG")
        result = make_grpc_client(server.grpc_address).predict({"image": png.getvalue()}, "image")
        bgr = picture[:, :, ::-1].astype(np.float32)[np.newaxis]
        expected = reference(openvino_core, build_image_model(), {"image": bgr})["mean"]
        np.testing.assert_allclose(result, expected, rtol=1e-5)

    def test_errors(self, server):
        client = make_grpc_client(server.grpc_address)
        with pytest.raises(ModelNotFoundError, match="Model with requested name is not found"):
            client.get_model_status("nope")
        with pytest.raises(ModelNotFoundError, match="Model with requested version is not found"):
            client.get_model_status("simple", 4)
        with pytest.raises(ModelNotFoundError, match="Model with requested version is not found"):
            client.get_model_metadata("simple", 4)
        first, second = simple_inputs()
        with pytest.raises(ModelNotFoundError, match="Model with requested name is not found"):
            client.predict({"INPUT0": first, "INPUT1": second}, "nope")
        with pytest.raises(InvalidInputError, match=r"Invalid number of inputs - Expected: 2; Actual: 1"):
            client.predict({"INPUT0": first}, "simple")
        with pytest.raises(
            InvalidInputError,
            match=r"Invalid input precision - Expected: I32; Actual: DT_FLOAT; input name: INPUT0",
        ):
            client.predict({"INPUT0": first.astype(np.float32), "INPUT1": second}, "simple")
        with pytest.raises(
            InvalidInputError,
            match=r"Invalid input shape - Expected: \(1,16\); Actual: \(1,8\); input name: INPUT1",
        ):
            client.predict({"INPUT0": first, "INPUT1": second[:, :8]}, "simple")


class TestProtobufStubs:
    def test_typed_values_and_version(self, server):
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc_address))
        first, second = simple_inputs()
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "simple"
        request.model_spec.version.value = 1
        request.inputs["INPUT0"].CopyFrom(tensor_proto(first, types_pb2.DT_INT32, typed_field="int_val"))
        request.inputs["INPUT1"].CopyFrom(tensor_proto(second, types_pb2.DT_INT32))
        request.output_filter.append("OUTPUT1")
        response = stub.Predict(request)
        assert list(response.outputs) == ["OUTPUT1"]
        output = response.outputs["OUTPUT1"]
        assert output.dtype == types_pb2.DT_INT32 and [d.size for d in output.tensor_shape.dim] == [1, 16]
        np.testing.assert_array_equal(
            np.frombuffer(output.tensor_content, np.int32), (first - second).ravel()
        )
        assert (response.model_spec.name, response.model_spec.version.value) == ("simple", 1)

    def test_metadata_any_and_status(self, server):
        channel = grpc.insecure_channel(server.grpc_address)
        request = get_model_metadata_pb2.GetModelMetadataRequest(metadata_field=["signature_def"])
        request.model_spec.name = "simple"
        response = prediction_service_pb2_grpc.PredictionServiceStub(channel).GetModelMetadata(request)
        signature_def = response.metadata["signature_def"]
        assert signature_def.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
        signatures = get_model_metadata_pb2.SignatureDefMap.FromString(signature_def.value)
        serving = signatures.signature_def["serving_default"]
        assert serving.method_name == "tensorflow/serving/predict"
        assert sorted(serving.inputs) == ["INPUT0", "INPUT1"] and serving.inputs["INPUT0"].name == "INPUT0"

        status_request = get_model_status_pb2.GetModelStatusRequest()
        status_request.model_spec.name = "simple"
        status = model_service_pb2_grpc.ModelServiceStub(channel).GetModelStatus(status_request)
        [version] = status.model_version_status
        assert (version.version, version.state, version.status.error_code) == (1, 30, 0)
        assert version.status.error_message == "OK"

    def test_unsupported_dtype_and_value_count(self, server):
        stub = prediction_service_pb2_grpc.PredictionServiceStub(grpc.insecure_channel(server.grpc_address))
        first, second = simple_inputs()
        request = predict_pb2.PredictRequest()
        request.model_spec.name = "simple"
        request.inputs["INPUT0"].CopyFrom(tensor_proto(first.astype(np.complex64), types_pb2.DT_COMPLEX64))
        request.inputs["INPUT1"].CopyFrom(tensor_proto(second, types_pb2.DT_INT32))
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(request)
        assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert (
            caught.value.details()
            == "Invalid input precision - Expected: I32; Actual: DT_COMPLEX64; input name: INPUT0"
        )

        request.inputs["INPUT0"].CopyFrom(
            tensor_proto(first[:, :15], types_pb2.DT_INT32, typed_field="int_val")
        )
        request.inputs["INPUT0"].tensor_shape.dim[1].size = 16
        with pytest.raises(grpc.RpcError) as caught:
            stub.Predict(request)
        assert caught.value.details() == (
            "Invalid number of values in tensor proto container - Expected: 16 values; Actual: 15 values; "
            "input name: INPUT0"
        )
