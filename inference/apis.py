"""The inference routes as DRF views, so that every one of them is in /api/schema/ and /api/docs/.

The server answers these paths on the lean ASGI path before Django (inference/asgi.py); these views give the
same answers through Django (same handler, same texts), e.g. under a plain WSGI server or Django's test client.
"""

from collections.abc import Coroutine
from contextvars import Context, copy_context
from typing import Any

import orjson
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions
from rest_framework.request import Request
from rest_framework.views import APIView

from access.policy import current_principal, current_request_id, metrics_scope
from inference import serializers as s
from inference.handlers import Reply, error_reply, handle, target
from inference.protocols import limits
from inference.protocols.errors import InferenceError
from inference.protocols.routing import SCOPE_OF_KIND, Kind, resolve
from inference.runtime import get_runtime
from inference.triton import compression

NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="Servable (model) name")
VERSION = OpenApiParameter(
    "version", int, OpenApiParameter.PATH, description="Model version (a positive integer)"
)
ERROR = OpenApiResponse(s.ErrorSerializer, description='{"error": "<OVMS message>[ - <details>]"}')
TFS = ["TensorFlow Serving API"]
KSERVE = ["KServe v2 API"]
NOT_FOUND = {404: ERROR}
PREDICT_ERRORS = {400: ERROR, 404: ERROR, 406: ERROR, 412: ERROR, 413: ERROR, 500: ERROR}


async def in_context(context: Context, coroutine: Coroutine[Any, Any, Reply]) -> Reply:
    for variable in (current_principal, current_request_id):
        if variable in context:
            variable.set(context[variable])
    return await coroutine


class ProtocolView(APIView):
    """Hands the raw request to the protocol handler; wrong methods get OVMS's 406, not Django's 405.

    Access: each view's `access_policy` comes from SCOPE_OF_KIND, the lean path's table, so both paths agree;
    refusals keep the protocols' {"error": ...} shape.
    """

    access_policy: dict[str, str] = {}

    def dispatch_protocol(self, request: Request) -> HttpResponse:
        header_length = request.headers.get("Inference-Header-Content-Length")
        length = header_length.encode() if header_length is not None else None
        runtime = get_runtime()
        method = request.method or "GET"
        try:
            # As on the lean path: the route and the model first, then the body (decompressed within limits).
            route = resolve(method, request.path)
            version = target(runtime, route)
            body: bytes | bytearray = request.body
            if encoding := request.headers.get("Content-Encoding"):
                binary = route.kind is Kind.KFS_INFER and length is not None
                body = limits.decompress_request(body, encoding, json=not binary)
            # The serving loop runs the handler in its own context: hand it the caller's (audit: who reloaded).
            reply: Reply = runtime.run(
                in_context(
                    copy_context(),
                    handle(runtime, method, request.path, body, route, header_length=length, version=version),
                )
            )
        except InferenceError as error:
            reply = error_reply(error)
        content = reply.body
        answer = compression.response_encoding(request.headers.get("Accept-Encoding"))
        if answer and content and compression.compresses(request.path, reply.status):
            content = compression.compress(bytes(content), answer)
        response = HttpResponse(content, status=reply.status, content_type=reply.content_type.decode())
        if answer and content is not reply.body:
            response["Content-Encoding"] = answer
        if reply.header_length is not None:
            response["Inference-Header-Content-Length"] = str(reply.header_length)
        return response

    def http_method_not_allowed(self, request: Request, *args: Any, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)

    def handle_exception(self, exc: Exception) -> HttpResponse:
        if isinstance(exc, exceptions.APIException) and exc.status_code in (401, 403):
            status = (
                401 if isinstance(exc, exceptions.NotAuthenticated | exceptions.AuthenticationFailed) else 403
            )
            response = HttpResponse(
                orjson.dumps({"error": str(exc.detail)}), status=status, content_type="application/json"
            )
            if status == 401:
                response["WWW-Authenticate"] = 'Bearer realm="modelhub"'
            return response
        return super().handle_exception(exc)


class TfsModelStatusApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.TFS_STATUS]}

    @extend_schema(tags=TFS, summary="Model status (all versions, or one)", parameters=[NAME],
                   responses={200: s.ModelStatusSerializer, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsModelVersionStatusApi(TfsModelStatusApi):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.TFS_STATUS]}

    @extend_schema(tags=TFS, summary="Model version status", parameters=[NAME, VERSION],
                   responses={200: s.ModelStatusSerializer, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsModelMetadataApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.TFS_METADATA]}

    @extend_schema(tags=TFS, summary="Model metadata (SignatureDefMap)", parameters=[NAME],
                   responses={200: s.TfsMetadataSerializer, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsModelVersionMetadataApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.TFS_METADATA]}

    @extend_schema(tags=TFS, summary="Model version metadata (SignatureDefMap)", parameters=[NAME, VERSION],
                   responses={200: s.TfsMetadataSerializer, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsPredictApi(ProtocolView):
    access_policy = {"POST": SCOPE_OF_KIND[Kind.TFS_PREDICT]}

    @extend_schema(tags=TFS, summary="Predict (row format: instances; column format: inputs)", parameters=[NAME],
                   request=s.TfsPredictRequestSerializer, responses={200: s.TfsPredictResponseSerializer, **PREDICT_ERRORS})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class TfsVersionPredictApi(ProtocolView):
    access_policy = {"POST": SCOPE_OF_KIND[Kind.TFS_PREDICT]}

    @extend_schema(tags=TFS, summary="Predict with one model version", parameters=[NAME, VERSION],
                   request=s.TfsPredictRequestSerializer, responses={200: s.TfsPredictResponseSerializer, **PREDICT_ERRORS})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ConfigStatusApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.CONFIG_STATUS]}

    @extend_schema(tags=TFS, summary="Status of every served model", responses={200: s.CONFIG_STATUS_SCHEMA})
    def get(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class ConfigReloadApi(ProtocolView):
    access_policy = {"POST": SCOPE_OF_KIND[Kind.CONFIG_RELOAD]}

    @extend_schema(
        tags=TFS, summary="Reload: apply config.json and database changes now", request=None,
        description="201 when something was loaded or unloaded, 200 when nothing changed; the body is every model's status.",
        responses={200: s.CONFIG_STATUS_SCHEMA, 201: s.CONFIG_STATUS_SCHEMA, 412: ERROR, 500: ERROR},
    )  # fmt: skip
    def post(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class ServerLiveApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_LIVE]}

    @extend_schema(
        tags=KSERVE, summary="Server live", responses={200: OpenApiResponse(description="Live (empty body)")}
    )
    def get(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class ServerReadyApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_READY]}

    @extend_schema(tags=KSERVE, summary="Server ready",
                   responses={200: OpenApiResponse(description="Ready (empty body)"), 503: OpenApiResponse(description="Still loading")})  # fmt: skip
    def get(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class ServerMetadataApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_SERVER_METADATA]}

    @extend_schema(tags=KSERVE, summary="Server metadata", responses={200: s.ServerMetadataSerializer})
    def get(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelMetadataApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_MODEL_METADATA]}

    @extend_schema(
        tags=KSERVE,
        summary="Model metadata",
        parameters=[NAME],
        responses={200: s.ModelMetadataSerializer, **NOT_FOUND},
    )
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelVersionMetadataApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_MODEL_METADATA]}

    @extend_schema(tags=KSERVE, summary="Model version metadata", parameters=[NAME, VERSION],
                   responses={200: s.ModelMetadataSerializer, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelReadyApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_MODEL_READY]}

    @extend_schema(tags=KSERVE, summary="Model ready", parameters=[NAME],
                   responses={200: OpenApiResponse(description="Ready (empty body)"), **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelVersionReadyApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_MODEL_READY]}

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
    access_policy = {"POST": SCOPE_OF_KIND[Kind.KFS_INFER]}

    @extend_schema(tags=KSERVE, summary="Inference", description=INFER_DESCRIPTION, parameters=[NAME, INFER_HEADER],
                   request={"application/json": s.InferRequestSerializer, "application/octet-stream": OpenApiTypes.BINARY},
                   responses={200: s.InferResponseSerializer, **PREDICT_ERRORS})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelVersionInferApi(ProtocolView):
    access_policy = {"POST": SCOPE_OF_KIND[Kind.KFS_INFER]}

    @extend_schema(tags=KSERVE, summary="Inference with one model version", description=INFER_DESCRIPTION,
                   parameters=[NAME, VERSION, INFER_HEADER],
                   request={"application/json": s.InferRequestSerializer, "application/octet-stream": OpenApiTypes.BINARY},
                   responses={200: s.InferResponseSerializer, **PREDICT_ERRORS})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class MetricsApi(ProtocolView):
    @property
    def access_policy(self) -> dict[str, str]:  # type: ignore[override]
        return {"GET": metrics_scope()}  # MODELHUB_METRICS_SCOPE

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
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_STATISTICS]}

    @extend_schema(tags=TRITON, operation_id="v2_models_statistics_all", summary="Inference statistics of every model (summed over the node's server processes)",
                   responses={200: OpenApiTypes.OBJECT})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelStatisticsApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_STATISTICS]}

    @extend_schema(tags=TRITON, summary="Inference statistics of a model's available versions", parameters=[NAME],
                   responses={200: OpenApiTypes.OBJECT, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelVersionStatisticsApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_STATISTICS]}

    @extend_schema(tags=TRITON, summary="Inference statistics of a model version", parameters=[NAME, VERSION],
                   responses={200: OpenApiTypes.OBJECT, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelConfigApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_MODEL_CONFIG]}

    @extend_schema(tags=TRITON, summary="Triton model configuration", parameters=[NAME],
                   responses={200: OpenApiTypes.OBJECT, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class ModelVersionConfigApi(ProtocolView):
    access_policy = {"GET": SCOPE_OF_KIND[Kind.KFS_MODEL_CONFIG]}

    @extend_schema(tags=TRITON, summary="Triton model configuration of a version", parameters=[NAME, VERSION],
                   responses={200: OpenApiTypes.OBJECT, **NOT_FOUND})  # fmt: skip
    def get(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class RepositoryIndexApi(ProtocolView):
    access_policy = {"POST": SCOPE_OF_KIND[Kind.REPOSITORY_INDEX]}

    @extend_schema(tags=TRITON, summary="Model repository index: served versions and registry models",
                   request={"application/json": {"type": "object", "properties": {"ready": {"type": "boolean"}}}},
                   responses={200: OpenApiTypes.OBJECT, 400: TRITON_ERROR})  # fmt: skip
    def post(self, request: Request) -> HttpResponse:
        return self.dispatch_protocol(request)


class RepositoryLoadApi(ProtocolView):
    access_policy = {"POST": SCOPE_OF_KIND[Kind.REPOSITORY_LOAD]}

    @extend_schema(tags=TRITON, summary="Load (serve) a model on every server process; answers once they all serve it",
                   parameters=[NAME], request={"application/json": LOAD_REQUEST},
                   responses={200: OpenApiResponse(description="Loaded (empty body)"), 400: TRITON_ERROR})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)


class RepositoryUnloadApi(ProtocolView):
    access_policy = {"POST": SCOPE_OF_KIND[Kind.REPOSITORY_UNLOAD]}

    @extend_schema(tags=TRITON, summary="Unload a model from every server process; answers once none holds it",
                   parameters=[NAME], request=None,
                   responses={200: OpenApiResponse(description="Unloaded (empty body)"), 400: TRITON_ERROR})  # fmt: skip
    def post(self, request: Request, **kwargs: Any) -> HttpResponse:
        return self.dispatch_protocol(request)
