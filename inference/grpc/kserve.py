"""KServe v2 `inference.GRPCInferenceService` on the shared serving runtime, as OVMS answers it.

Requests become the same `RequestTensor`s as over REST and go through the same validation
(inference/protocols/validation.py); outputs always travel as `raw_output_contents`, as OVMS sends them.
"""

import logging
import time
from collections.abc import AsyncIterator

import grpc
import numpy as np
from google.protobuf import json_format

from access import policy
from inference import metrics, shadow
from inference.grpc import KSERVE_SERVICE
from inference.grpc.errors import code_of
from inference.grpc.protos import grpc_service_pb2 as pb
from inference.grpc.protos import model_config_pb2
from inference.handlers import SERVER_VERSION, count_failure, count_success
from inference.protocols import errors, kserve, limits
from inference.protocols.errors import InferenceError
from inference.protocols.tensors import BY_KSERVE
from inference.protocols.validation import RequestTensor, avalidate_inputs
from inference.runtime import AVAILABLE, LoadedVersion, Runtime, ServableView
from inference.triton import extensions as triton

logger = logging.getLogger(__name__)

STREAM_METHOD = f"/{KSERVE_SERVICE}/ModelStreamInfer"

# The typed `contents` field of each datatype and the type it carries on the wire (FP16 has no typed field).
CONTENTS_FIELD = {
    "BOOL": ("bool_contents", np.bool_), "INT8": ("int_contents", np.int32), "INT16": ("int_contents", np.int32),
    "INT32": ("int_contents", np.int32), "INT64": ("int64_contents", np.int64),
    "UINT8": ("uint_contents", np.uint32), "UINT16": ("uint_contents", np.uint32),
    "UINT32": ("uint_contents", np.uint32), "UINT64": ("uint64_contents", np.uint64),
    "FP32": ("fp32_contents", np.float32), "FP64": ("fp64_contents", np.float64),
}  # fmt: skip


def version_number(text: str) -> int | None:
    """A version as KServe sends it (a string): empty or 0 is the default version."""
    if not text:
        return None
    if not (text.isascii() and text.isdigit()):
        raise errors.MODEL_VERSION_MISSING
    number = int(text)
    if number >= 2**63:
        raise errors.MODEL_VERSION_MISSING
    return number or None


def servable(runtime: Runtime, name: str) -> ServableView:
    view = runtime.servables.get(name)
    if view is None:
        raise errors.SERVER_NOT_READY if not runtime.ready else errors.MODEL_NAME_MISSING
    return view


class KServeService:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime

    async def ServerLive(
        self, request: pb.ServerLiveRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerLiveResponse:
        return pb.ServerLiveResponse(live=True)

    async def ServerReady(
        self, request: pb.ServerReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerReadyResponse:
        return pb.ServerReadyResponse(ready=self.runtime.ready)

    async def ServerMetadata(
        self, request: pb.ServerMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ServerMetadataResponse:
        return pb.ServerMetadataResponse(
            name="OpenVINO Model Server", version=SERVER_VERSION, extensions=kserve.EXTENSIONS
        )

    async def ModelReady(
        self, request: pb.ModelReadyRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelReadyResponse:
        try:
            view = servable(self.runtime, request.name)
            number = version_number(request.version)
            version = view.default_choice() if number is None else view.versions.get(number)
            if version is None:
                raise errors.MODEL_VERSION_MISSING
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
        if version.metrics is not None:
            version.metrics.count(metrics.KSERVE, "ModelReady", True, metrics.GRPC)
        return pb.ModelReadyResponse(ready=version.state == AVAILABLE)

    async def ModelMetadata(
        self, request: pb.ModelMetadataRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelMetadataResponse:
        try:
            view = servable(self.runtime, request.name)
            version = view.resolve(version_number(request.version))
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
        if version.metrics is not None:
            version.metrics.count(metrics.KSERVE, "ModelMetadata", True, metrics.GRPC)
        tensor = pb.ModelMetadataResponse.TensorMetadata
        return pb.ModelMetadataResponse(
            name=request.name,
            versions=[str(v) for v in view.available_versions()],
            platform="OpenVINO",
            inputs=[
                tensor(name=s.name, datatype=s.datatype.kserve, shape=s.public_shape) for s in version.inputs
            ],
            outputs=[
                tensor(name=s.name, datatype=s.datatype.kserve, shape=s.public_shape) for s in version.outputs
            ],
        )

    async def ModelInfer(
        self, request: pb.ModelInferRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelInferResponse:
        try:
            return await self.infer(request)
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
            raise  # not reached: abort raises

    async def ModelStreamInfer(
        self, requests: AsyncIterator[pb.ModelInferRequest], context: grpc.aio.ServicerContext
    ) -> AsyncIterator[pb.ModelStreamInferResponse]:
        """One response per request, in order; a failed request answers with its error text and the stream goes on
        (Triton's behaviour). The key is checked again for every request (a dictionary lookup while its verification
        is cached), so a revoked or expired key loses an open stream within MODELHUB_KEY_CACHE_SECONDS."""
        metadata = tuple(context.invocation_metadata() or ())
        async for request in requests:
            try:
                await policy.aauthorize_grpc(STREAM_METHOD, metadata)
            except policy.AccessDenied as denied:
                await context.abort(grpc.StatusCode[denied.grpc_code], denied.message)
            try:
                yield pb.ModelStreamInferResponse(infer_response=await self.infer(request))
            except InferenceError as error:
                yield pb.ModelStreamInferResponse(error_message=error.text)

    # --- Triton's extensions: the same functions as over HTTP (inference/triton), their dicts as messages ---

    async def ModelStatistics(
        self, request: pb.ModelStatisticsRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelStatisticsResponse:
        try:
            number = version_number(request.version) if request.name else None
            stats = await triton.model_statistics(self.runtime, request.name, number)
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
        return json_format.ParseDict(stats, pb.ModelStatisticsResponse(), ignore_unknown_fields=True)

    async def ModelConfig(
        self, request: pb.ModelConfigRequest, context: grpc.aio.ServicerContext
    ) -> pb.ModelConfigResponse:
        try:
            config = triton.model_configuration(self.runtime, request.name, version_number(request.version))
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
        return pb.ModelConfigResponse(
            config=json_format.ParseDict(config, model_config_pb2.ModelConfig(), ignore_unknown_fields=True)
        )

    async def RepositoryIndex(
        self, request: pb.RepositoryIndexRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryIndexResponse:
        try:
            index = await triton.repository_index(self.runtime, ready=request.ready)
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
        return json_format.ParseDict({"models": index}, pb.RepositoryIndexResponse())

    async def RepositoryModelLoad(
        self, request: pb.RepositoryModelLoadRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryModelLoadResponse:
        parameters = {key: getattr(value, value.WhichOneof("parameter_choice") or "string_param")
                      for key, value in request.parameters.items()}  # fmt: skip
        try:
            await triton.model_load(self.runtime, request.model_name, parameters)
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
        return pb.RepositoryModelLoadResponse()

    async def RepositoryModelUnload(
        self, request: pb.RepositoryModelUnloadRequest, context: grpc.aio.ServicerContext
    ) -> pb.RepositoryModelUnloadResponse:
        try:
            await triton.model_unload(self.runtime, request.model_name)
        except InferenceError as error:
            await context.abort(code_of(error), error.text)
        return pb.RepositoryModelUnloadResponse()

    # --- inference ----------------------------------------------------------------------------------------

    async def infer(self, request: pb.ModelInferRequest) -> pb.ModelInferResponse:
        started = time.perf_counter()
        name = request.model_name
        number: int | None = None
        version: LoadedVersion | None = None
        try:
            number = version_number(request.model_version)
            version = servable(self.runtime, name).resolve(number)
            tensors = request_tensors(request)
            arrays = await avalidate_inputs(version.inputs_sorted, tensors, len(request.inputs))
            asked = kserve.InferRequest(request.id, [], [_output_request(o) for o in request.outputs])
            selected = kserve.selected_outputs(asked, version.outputs)
            inferring = time.perf_counter()
            results = await version.infer(arrays)
            returned = time.perf_counter()
            waited = version.metrics.last if version.metrics else (0.0, 0.0)
            outputs = [(spec, binary, results[spec.index]) for spec, binary in selected]
            if classes := kserve.class_counts(asked):
                outputs = await triton.classify(version, outputs, classes)
            response = pb.ModelInferResponse(
                model_name=name, model_version=str(version.version), id=request.id
            )
            raw = response.raw_output_contents
            for spec, _, array in outputs:
                response.outputs.add(
                    name=spec.name, datatype=kserve.datatype_of(array, spec), shape=array.shape
                )
                raw.append(kserve.to_bytes(array))
        except Exception as exc:
            count_failure(
                self.runtime, name, number, version, metrics.KSERVE, "ModelInfer", started, metrics.GRPC
            )
            if isinstance(exc, InferenceError):
                raise
            logger.exception("Unexpected failure answering ModelInfer for %s", name)
            raise errors.INTERNAL_ERROR() from None
        times = (started, inferring, returned)
        count_success(version, metrics.KSERVE, "ModelInfer", arrays, times, waited, metrics.GRPC)
        shadow.offer(
            self.runtime, name, number, version, arrays, results, metrics.KSERVE, "ModelInfer", metrics.GRPC
        )
        return response


def _output_request(output: pb.ModelInferRequest.InferRequestedOutputTensor) -> kserve.OutputRequest:
    """A requested output; `classification` (tritonclient's class_count) asks for the top k classes."""
    classes = 0
    if "classification" in output.parameters:
        parameter = output.parameters["classification"]
        classes = parameter.int64_param if parameter.WhichOneof("parameter_choice") == "int64_param" else -1
        if classes < 0:
            raise errors.COULD_NOT_PARSE_OUTPUT.with_details(
                f"classification must be a non-negative integer; output name: {output.name}"
            )
    return kserve.OutputRequest(output.name, None, classes)


def request_tensors(request: pb.ModelInferRequest) -> dict[str, RequestTensor]:
    """The inputs by name (the first of a repeated name wins, as over REST), data from `raw_input_contents` (in
    input order) or from the typed `contents`."""
    raw_contents = request.raw_input_contents
    tensors: dict[str, RequestTensor] = {}
    for index, node in enumerate(request.inputs):
        if raw_contents and node.HasField("contents") and node.contents.ByteSize():
            # OVMS's text, with Triton's wording as the details (its example clients look for it)
            raise errors.CONTENTS_FIELD_NOT_EMPTY.with_details(
                f"contents field must not be specified when using raw_input_contents for '{node.name}' "
                f"for model '{request.model_name}'"
            )
        if node.name in tensors:
            continue
        shape = tuple(node.shape)
        tensor = RequestTensor(node.name, node.datatype, shape)
        if raw_contents:
            if index >= len(raw_contents):
                raise errors.INVALID_NO_OF_INPUTS.with_details(
                    f"Expected: {len(request.inputs)} raw input contents; Actual: {len(raw_contents)}"
                )
            raw = raw_contents[index]
            if tensor.is_bytes:
                most = limits.max_elements(node.name, shape)
                tensor.strings = kserve.split_bytes(memoryview(raw), node.name, most)
            else:
                tensor.raw = raw
        elif tensor.is_bytes:
            limits.max_elements(node.name, shape, count=len(node.contents.bytes_contents))
            tensor.strings = list(node.contents.bytes_contents)
        else:
            tensor.array = _typed_contents(node)
        tensors[node.name] = tensor
    return tensors


def _typed_contents(node: pb.ModelInferRequest.InferInputTensor) -> np.ndarray:
    """The values cast to the datatype as C would (OVMS copies them so); no values when no typed field carries
    the datatype, so validation reports the count (or the precision, for an unknown datatype)."""
    datatype = BY_KSERVE.get(node.datatype)
    field = CONTENTS_FIELD.get(node.datatype)
    if datatype is None or datatype.numpy is None or field is None:
        return np.empty(0, dtype=np.uint8)
    values = getattr(node.contents, field[0])
    return np.array(values, dtype=field[1]).astype(datatype.numpy, copy=False)
