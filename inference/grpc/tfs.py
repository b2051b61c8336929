"""TensorFlow Serving's `PredictionService` (Predict, GetModelMetadata) and `ModelService` (GetModelStatus) on the
shared serving runtime, with the shapes OVMS answers and ovmsclient reads.

A `TensorProto` carries its data in `tensor_content` (raw bytes, what ovmsclient sends for numbers), in the typed
`*_val` field of its dtype, or in `string_val` (strings, encoded images); it becomes the same `RequestTensor` as a
REST input and goes through the same validation.
"""

import logging
import time

import grpc
import numpy as np

from inference import metrics, shadow
from inference.grpc.errors import code_of
from inference.grpc.kserve import servable
from inference.grpc.protos import tensorflow_core_pb2 as tf
from inference.grpc.protos import tensorflow_error_pb2 as tf_error
from inference.grpc.protos import tensorflow_serving_pb2 as pb
from inference.handlers import count_failure, count_success
from inference.protocols import errors, limits
from inference.protocols.errors import InferenceError
from inference.protocols.tensors import BY_KSERVE, BY_NUMPY, BYTES, DataType, TensorSpec
from inference.protocols.validation import RequestTensor, avalidate_inputs
from inference.runtime import LoadedVersion, Runtime

logger = logging.getLogger(__name__)
BY_TFS_ENUM: dict[int, DataType] = {tf.DataType.Value(t.tfs): t for t in BY_KSERVE.values()}
# The typed `*_val` field of each dtype and the type it carries on the wire.
VALUE_FIELD = {
    "DT_FLOAT": ("float_val", np.float32), "DT_DOUBLE": ("double_val", np.float64),
    "DT_INT32": ("int_val", np.int32), "DT_INT16": ("int_val", np.int32), "DT_INT8": ("int_val", np.int32),
    "DT_UINT8": ("int_val", np.int32), "DT_UINT16": ("int_val", np.int32), "DT_HALF": ("half_val", np.int32),
    "DT_INT64": ("int64_val", np.int64), "DT_BOOL": ("bool_val", np.bool_),
    "DT_UINT32": ("uint32_val", np.uint32), "DT_UINT64": ("uint64_val", np.uint64),
}  # fmt: skip
SIGNATURE_DEF_MAP_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
SERVING_DEFAULT = "serving_default"


def spec_version(model_spec: pb.ModelSpec) -> int | None:
    """`version` (an Int64Value; 0 or absent: the default version). Labels are not served: the default version."""
    if not model_spec.HasField("version"):
        return None
    number = model_spec.version.value
    if number < 0:
        raise errors.MODEL_VERSION_MISSING
    return number or None


class TFSService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def Predict(
        self, request: pb.PredictRequest, context: grpc.aio.ServicerContext
    ) -> pb.PredictResponse:
        try:
            return await self.predict(request)
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
            raise

    async def predict(self, request: pb.PredictRequest) -> pb.PredictResponse:
        started = time.perf_counter()
        name = request.model_spec.name
        number: int | None = None
        version: LoadedVersion | None = None
        try:
            number = spec_version(request.model_spec)
            version = servable(self.runtime, name).resolve(number)
            tensors = {key: request_tensor(key, proto) for key, proto in request.inputs.items()}
            arrays = await avalidate_inputs(version.inputs_sorted, tensors, len(tensors), tfs=True)
            inferring = time.perf_counter()
            results = await version.infer(arrays)
            returned = time.perf_counter()
            waited = version.metrics.last if version.metrics else (0.0, 0.0)
            response = pb.PredictResponse()
            response.model_spec.name = name
            response.model_spec.version.value = version.version
            response.model_spec.signature_name = SERVING_DEFAULT
            wanted = set(request.output_filter)
            for spec in version.outputs:
                if not wanted or spec.name in wanted:
                    fill_tensor(response.outputs[spec.name], results[spec.index], spec)
        except Exception as exc:
            count_failure(self.runtime, name, number, version, metrics.TFS, "Predict", started, metrics.GRPC)
            if isinstance(exc, InferenceError):
                raise
            logger.exception("Unexpected failure answering Predict for %s", name)
            raise errors.INTERNAL_ERROR() from None
        count_success(
            version, metrics.TFS, "Predict", arrays, (started, inferring, returned), waited, metrics.GRPC
        )
        shadow.offer(
            self.runtime, name, number, version, arrays, results, metrics.TFS, "Predict", metrics.GRPC
        )
        return response

    async def GetModelMetadata(
        self, request: pb.GetModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetModelMetadataResponse:
        try:
            version = servable(self.runtime, request.model_spec.name).resolve(
                spec_version(request.model_spec)
            )
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
        if version.metrics is not None:
            version.metrics.count(metrics.TFS, "GetModelMetadata", True, metrics.GRPC)
        signature = tf.SignatureDef(method_name="tensorflow/serving/predict")
        for specs, infos in ((version.inputs, signature.inputs), (version.outputs, signature.outputs)):
            for spec in specs:
                info = infos[spec.name]
                info.name = spec.name
                info.dtype = tf.DataType.Value(spec.datatype.tfs)
                info.tensor_shape.dim.extend(tf.TensorShapeProto.Dim(size=size) for size in spec.public_shape)
        signatures = pb.SignatureDefMap()
        signatures.signature_def[SERVING_DEFAULT].CopyFrom(signature)
        response = pb.GetModelMetadataResponse()
        response.model_spec.name = request.model_spec.name
        response.model_spec.version.value = version.version
        metadata = response.metadata["signature_def"]
        metadata.type_url = SIGNATURE_DEF_MAP_URL
        metadata.value = signatures.SerializeToString()
        return response

    async def GetModelStatus(
        self, request: pb.GetModelStatusRequest, context: grpc.aio.ServicerContext
    ) -> pb.GetModelStatusResponse:
        try:
            view = servable(self.runtime, request.model_spec.name)
            number = spec_version(request.model_spec)
            if number is None:
                versions = [view.versions[n] for n in sorted(view.versions)]
            else:
                found = view.versions.get(number)
                if found is None:
                    raise errors.MODEL_VERSION_MISSING
                versions = [found]
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
        response = pb.GetModelStatusResponse()
        for version in versions:
            response.model_version_status.add(
                version=version.version,
                state=version.state,
                status=pb.StatusProto(
                    error_code=tf_error.Code.Value(version.error_code), error_message=version.error_code
                ),
            )
        return response


def request_tensor(name: str, proto: tf.TensorProto) -> RequestTensor:
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    datatype = BY_TFS_ENUM.get(proto.dtype)
    if datatype is None:  # validation reports the precision with the dtype's own name
        return RequestTensor(
            name,
            tf.DataType.Name(proto.dtype) if proto.dtype in tf.DataType.values() else "DT_INVALID",
            shape,
            array=np.empty(0),
        )
    tensor = RequestTensor(name, datatype.kserve, shape)
    if datatype is BYTES:
        limits.max_elements(name, shape, count=len(proto.string_val))
        tensor.strings = list(proto.string_val)
    elif proto.tensor_content:
        tensor.raw = proto.tensor_content
    else:
        field, wire = VALUE_FIELD[datatype.tfs]
        values = np.array(getattr(proto, field), dtype=wire)  # cast as C would, as OVMS copies them
        tensor.array = (
            values.astype(np.uint16).view(np.float16)
            if datatype.tfs == "DT_HALF"
            else values.astype(datatype.numpy, copy=False)
        )
    return tensor


def fill_tensor(proto: tf.TensorProto, array: np.ndarray, spec: TensorSpec) -> None:
    """Numbers as `tensor_content`, strings as `string_val` (what OVMS sends)."""
    proto.tensor_shape.dim.extend(tf.TensorShapeProto.Dim(size=size) for size in array.shape)
    if array.dtype == object:
        proto.dtype = tf.DT_STRING
        proto.string_val.extend(
            v if isinstance(v, bytes) else str(v).encode() for v in array.ravel().tolist()
        )
        return
    datatype = BY_NUMPY.get(array.dtype, spec.datatype)
    proto.dtype = tf.DataType.Value(datatype.tfs)
    proto.tensor_content = np.ascontiguousarray(array).tobytes()
