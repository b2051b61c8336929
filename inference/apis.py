"""The inference routes as DRF views, so that every one of them is in /api/schema/ and /api/docs/.

The server answers these paths on the lean ASGI path before Django (inference/asgi.py); these views give the
same answers through Django (same handler, same texts), e.g. under a plain WSGI server or Django's test client.
"""

from typing import Any

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.views import APIView

from inference import serializers as s
from inference.handlers import Reply, handle
from inference.runtime import get_runtime

NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="Servable (model) name")
VERSION = OpenApiParameter(
    "version", int, OpenApiParameter.PATH, description="Model version (a positive integer)"
)
ERROR = OpenApiResponse(s.ErrorSerializer, description='{"error": "<OVMS message>[ - <details>]"}')
TFS = ["TensorFlow Serving API"]
KSERVE = ["KServe v2 API"]
NOT_FOUND = {404: ERROR}
PREDICT_ERRORS = {400: ERROR, 404: ERROR, 406: ERROR, 412: ERROR, 413: ERROR, 500: ERROR}


class ProtocolView(APIView):
    """Hands the raw request to the protocol handler; wrong methods get OVMS's 406, not Django's 405."""

    authentication_classes: list[Any] = []
    permission_classes: list[Any] = []

    def dispatch_protocol(self, request: Request) -> HttpResponse:
        headers = [(key.lower().encode(), value.encode()) for key, value in request.headers.items()]
        runtime = get_runtime()
        reply: Reply = runtime.run(
            handle(runtime, request.method or "GET", request.path, headers, request.body)
        )
        response = HttpResponse(reply.body, status=reply.status, content_type=reply.content_type.decode())
        if reply.header_length is not None:
            response["Inference-Header-Content-Length"] = str(reply.header_length)
        return response

    def http_method_not_allowed(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsModelStatusApi(ProtocolView):
    @extend_schema(tags=TFS, summary="Model status (all versions, or one)", parameters=[NAME],
                   responses={200: s.ModelStatusSerializer, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsModelVersionStatusApi(TfsModelStatusApi):
    @extend_schema(tags=TFS, summary="Model version status", parameters=[NAME, VERSION],
                   responses={200: s.ModelStatusSerializer, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsModelMetadataApi(ProtocolView):
    @extend_schema(tags=TFS, summary="Model metadata (SignatureDefMap)", parameters=[NAME],
                   responses={200: s.TfsMetadataSerializer, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsModelVersionMetadataApi(ProtocolView):
    @extend_schema(tags=TFS, summary="Model version metadata (SignatureDefMap)", parameters=[NAME, VERSION],
                   responses={200: s.TfsMetadataSerializer, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsPredictApi(ProtocolView):
    @extend_schema(tags=TFS, summary="Predict (row format: instances; column format: inputs)", parameters=[NAME],
                   request=s.TfsPredictRequestSerializer, responses={200: s.TfsPredictResponseSerializer, **PREDICT_ERRORS})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsVersionPredictApi(ProtocolView):
    @extend_schema(tags=TFS, summary="Predict with one model version", parameters=[NAME, VERSION],
                   request=s.TfsPredictRequestSerializer, responses={200: s.TfsPredictResponseSerializer, **PREDICT_ERRORS})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ConfigStatusApi(ProtocolView):
    @extend_schema(tags=TFS, summary="Status of every served model", responses={200: s.CONFIG_STATUS_SCHEMA})
    def get(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class ConfigReloadApi(ProtocolView):
    @extend_schema(
        tags=TFS, summary="Reload: apply config.json and database changes now", request=None,
        description="201 when something was loaded or unloaded, 200 when nothing changed; the body is every model's status.",
        responses={200: s.CONFIG_STATUS_SCHEMA, 201: s.CONFIG_STATUS_SCHEMA, 412: ERROR, 500: ERROR},
    )  # fmt: skip
    def post(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class ServerLiveApi(ProtocolView):
    @extend_schema(
        tags=KSERVE, summary="Server live", responses={200: OpenApiResponse(description="Live (empty body)")}
    )
    def get(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class ServerReadyApi(ProtocolView):
    @extend_schema(tags=KSERVE, summary="Server ready",
                   responses={200: OpenApiResponse(description="Ready (empty body)"), 503: OpenApiResponse(description="Still loading")})  # fmt: skip
    def get(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class ServerMetadataApi(ProtocolView):
    @extend_schema(tags=KSERVE, summary="Server metadata", responses={200: s.ServerMetadataSerializer})
    def get(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelMetadataApi(ProtocolView):
    @extend_schema(
        tags=KSERVE,
        summary="Model metadata",
        parameters=[NAME],
        responses={200: s.ModelMetadataSerializer, **NOT_FOUND},
    )
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelVersionMetadataApi(ProtocolView):
    @extend_schema(tags=KSERVE, summary="Model version metadata", parameters=[NAME, VERSION],
                   responses={200: s.ModelMetadataSerializer, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelReadyApi(ProtocolView):
    @extend_schema(tags=KSERVE, summary="Model ready", parameters=[NAME],
                   responses={200: OpenApiResponse(description="Ready (empty body)"), **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelVersionReadyApi(ProtocolView):
    @extend_schema(tags=KSERVE, summary="Model version ready", parameters=[NAME, VERSION],
                   responses={200: OpenApiResponse(description="Ready (empty body)"), **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


INFER_DESCRIPTION = (
    "JSON tensors, or the binary data extension: send `application/octet-stream` with the JSON header first and "
    "the raw tensor bytes after it, and the header `Inference-Header-Content-Length: <JSON length>`. Inputs "
    "without `data` take their bytes in order (`parameters.binary_data_size`, or shape x item size; BYTES elements "
    "carry a 4-byte little-endian length). Outputs come back as raw bytes when asked with `binary_data` (per "
    "output) or `binary_data_output` (request parameter), with `Inference-Header-Content-Length` in the response. "
    "BYTES sent to a 4-D input are decoded as JPEG/PNG images."
)
INFER_HEADER = OpenApiParameter(
    "Inference-Header-Content-Length", int, OpenApiParameter.HEADER, required=False,
    description="Length of the JSON part of a binary request.",
)  # fmt: skip


class ModelInferApi(ProtocolView):
    @extend_schema(tags=KSERVE, summary="Inference", description=INFER_DESCRIPTION, parameters=[NAME, INFER_HEADER],
                   request={"application/json": s.InferRequestSerializer, "application/octet-stream": OpenApiTypes.BINARY},
                   responses={200: s.InferResponseSerializer, **PREDICT_ERRORS})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelVersionInferApi(ProtocolView):
    @extend_schema(tags=KSERVE, summary="Inference with one model version", description=INFER_DESCRIPTION,
                   parameters=[NAME, VERSION, INFER_HEADER],
                   request={"application/json": s.InferRequestSerializer, "application/octet-stream": OpenApiTypes.BINARY},
                   responses={200: s.InferResponseSerializer, **PREDICT_ERRORS})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class MetricsApi(ProtocolView):
    @extend_schema(tags=["Metrics"], summary="Prometheus metrics (OVMS names)",
                   responses={(200, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Prometheus text format")})  # fmt: skip
    def get(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


TRITON = ["Triton extensions"]
TRITON_ERROR = OpenApiResponse(s.ErrorSerializer, description='{"error": "<message>"}')
LOAD_REQUEST = {
    "type": "object",
    "properties": {"parameters": {"type": "object", "properties": {"config": {
        "type": "string", "description": 'A Triton model config as JSON text; applied: max_batch_size (the first '
        'dimension of every input becomes 1..N; 0 = the model\'s own shapes) and instance_group[].count (nireq).'}}}},
}  # fmt: skip


class StatisticsApi(ProtocolView):
    @extend_schema(tags=TRITON, operation_id="v2_models_statistics_all", summary="Inference statistics of every model (summed over the node's server processes)",
                   responses={200: OpenApiTypes.OBJECT})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelStatisticsApi(ProtocolView):
    @extend_schema(tags=TRITON, summary="Inference statistics of a model's available versions", parameters=[NAME],
                   responses={200: OpenApiTypes.OBJECT, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelVersionStatisticsApi(ProtocolView):
    @extend_schema(tags=TRITON, summary="Inference statistics of a model version", parameters=[NAME, VERSION],
                   responses={200: OpenApiTypes.OBJECT, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelConfigApi(ProtocolView):
    @extend_schema(tags=TRITON, summary="Triton model configuration", parameters=[NAME],
                   responses={200: OpenApiTypes.OBJECT, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelVersionConfigApi(ProtocolView):
    @extend_schema(tags=TRITON, summary="Triton model configuration of a version", parameters=[NAME, VERSION],
                   responses={200: OpenApiTypes.OBJECT, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class RepositoryIndexApi(ProtocolView):
    @extend_schema(tags=TRITON, summary="Model repository index: served versions and registry models",
                   request={"application/json": {"type": "object", "properties": {"ready": {"type": "boolean"}}}},
                   responses={200: OpenApiTypes.OBJECT, 400: TRITON_ERROR})  # fmt: skip
    def post(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class RepositoryLoadApi(ProtocolView):
    @extend_schema(tags=TRITON, summary="Load (serve) a model on every server process; answers once they all serve it",
                   parameters=[NAME], request={"application/json": LOAD_REQUEST},
                   responses={200: OpenApiResponse(description="Loaded (empty body)"), 400: TRITON_ERROR})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class RepositoryUnloadApi(ProtocolView):
    @extend_schema(tags=TRITON, summary="Unload a model from every server process; answers once none holds it",
                   parameters=[NAME], request=None,
                   responses={200: OpenApiResponse(description="Unloaded (empty body)"), 400: TRITON_ERROR})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)
