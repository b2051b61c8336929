"""HTTP endpoints of the model registry (spec/model-registry-api.txt): validate, call a service, render."""

import re
from typing import Any

from django.core.files.uploadedfile import UploadedFile
from django.http import HttpResponse
from drf_orjson_renderer.renderers import ORJSONRenderer
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import OPEN, READ, WRITE
from config import health
from config.errors import StatusMessageError, ValidationFailed, validation_errors_from_drf
from registry import selectors, services
from registry.artifacts import HashingUploadHandler, StagedArchive, open_from_storage, staged_from_upload
from registry.models import MODEL_ID_PATTERN
from registry.ranges import file_response
from registry.serializers import ModelFieldsSerializer, ModelOutSerializer
from registry.streaming import StreamedFile, streamed_upload

VALIDATION_ERROR = OpenApiResponse(
    inline_serializer(
        "ValidationError",
        {
            "detail": serializers.ListField(
                child=inline_serializer(
                    "ValidationErrorItem",
                    {
                        "loc": serializers.ListField(child=serializers.JSONField()),
                        "msg": serializers.CharField(),
                        "type": serializers.CharField(),
                    },
                )
            )
        },
    ),
    description="Validation Error",
)
PLAIN_TEXT = {"text/plain": OpenApiTypes.STR}
STATUS_MESSAGE = inline_serializer(
    "StatusMessage", {"status": serializers.CharField(), "message": serializers.CharField()}
)
INVALID_UPDATE_MESSAGE = (
    "Invalid request. Check the request body and ensure at least 1 supported field is provided."
)


class ModelUploadForm(ModelFieldsSerializer):
    """POST /models form (documentation): metadata plus the ZIP."""

    file = serializers.FileField(
        help_text="ZIP holding the model files (OpenVINO IR, ONNX, TFLite or PaddlePaddle)."
    )

    class Meta:
        ref_name = "ModelUploadForm"


def _plain_fields(data: Any) -> dict[str, Any]:
    if hasattr(data, "lists"):  # QueryDict from a form: the last value of each key
        return {key: values[-1] for key, values in data.lists()}
    if not isinstance(data, dict):
        raise ValidationFailed.single(
            ["body"], "The request body must be a JSON object or a form.", "model_attributes_type"
        )
    return dict(data)


def _reject_unknown_keys(data: dict[str, Any]) -> None:
    unsupported = sorted(set(data) - ModelFieldsSerializer.ACCEPTED_KEYS)
    if unsupported:
        raise ValidationFailed.single(
            ["body"], f"Unsupported key(s) found: {', '.join(unsupported)}", "extra_forbidden"
        )


def _validated(data: dict[str, Any], *, partial: bool) -> dict[str, Any]:
    serializer = ModelFieldsSerializer(data=data, partial=partial)
    if not partial:
        for optional in set(serializer.fields) - {"name", "version"}:
            serializer.fields[optional].required = False
    if not serializer.is_valid():
        raise ValidationFailed(validation_errors_from_drf(serializer.errors))
    return dict(serializer.validated_data)


_ID_RE = re.compile(MODEL_ID_PATTERN)


def _checked_id(model_id: str) -> str:
    if not _ID_RE.match(model_id):
        raise ValidationFailed.single(
            ["path", "model_id"],
            f"String should match pattern '{MODEL_ID_PATTERN}'",
            "string_pattern_mismatch",
        )
    return model_id


def _files_base_url(request: Request) -> str:
    return request.build_absolute_uri("/models/")


class RegistryApi(APIView):
    # orjson renders a 10,000-model list several times faster than the stdlib encoder.
    renderer_classes = [ORJSONRenderer, BrowsableAPIRenderer]


class HealthApi(RegistryApi):
    access_policy = {"GET": OPEN}

    @extend_schema(
        summary="Health of the service",
        description=(
            'Readiness for a load balancer: 200 `{"status": "ok"}` when this server reaches the database '
            "(`SELECT 1`) and the artifact storage (write, read and delete a probe object); otherwise 503 "
            '`{"status": "unavailable", "failing": {component: reason}}`. No auth, never cached. '
            "Liveness without I/O: `GET /v2/health/live`."
        ),
        responses={
            200: inline_serializer("Health", {"status": serializers.CharField()}),
            503: inline_serializer(
                "HealthFailing",
                {
                    "status": serializers.CharField(),
                    "failing": serializers.DictField(child=serializers.CharField()),
                },
            ),
        },
        tags=["registry"],
    )
    def get(self, request: Request) -> Response:
        failing = health.failing_components()
        if failing:
            response = Response({"status": "unavailable", "failing": failing}, status=503)
        else:
            response = Response({"status": "ok"})
        response["Cache-Control"] = "no-store"
        return response


class ModelListCreateApi(RegistryApi):
    access_policy = {"GET": READ, "POST": WRITE}

    @extend_schema(
        summary="List registered models",
        description=(
            "Text filters are case-insensitive substrings, `version` and `task` are exact, all ANDed. An unknown query "
            "parameter is a 422. Every model is returned unless `limit`/`offset` are given; the total is in "
            "the `X-Total-Count` header."
        ),
        parameters=[
            *(
                OpenApiParameter(name, str, description=f"Filter on {name}")
                for name in selectors.LIST_FILTERS
            ),
            OpenApiParameter("limit", int, description="Page size (optional)."),
            OpenApiParameter("offset", int, description="Rows to skip (optional)."),
        ],
        responses={200: ModelOutSerializer(many=True), 422: VALIDATION_ERROR},
        tags=["registry"],
    )
    def get(self, request: Request) -> Response:
        params = request.query_params
        allowed = set(selectors.LIST_FILTERS) | {"limit", "offset"}
        unknown = [key for key in params if key not in allowed]
        if unknown:
            raise ValidationFailed(
                [
                    {
                        "loc": ["query", key],
                        "msg": f"Invalid query parameter: {key}. Supported: {', '.join(sorted(allowed))}.",
                        "type": "extra_forbidden",
                    }
                    for key in unknown
                ]
            )
        filters = {key: params[key] for key in selectors.LIST_FILTERS if params.get(key, "") != ""}
        limit = _query_int(params, "limit", minimum=1)
        offset = _query_int(params, "offset", minimum=0) or 0
        base = _files_base_url(request)
        rows = [
            selectors.model_to_dict(row, files_base_url=base)
            for row in selectors.model_list(filters=filters, limit=limit, offset=offset)
        ]
        response = Response(rows)
        if limit is not None or offset:
            response["X-Total-Count"] = str(selectors.model_count(filters=filters))
        return response

    @extend_schema(
        summary="Register a model (ZIP + metadata)",
        description=(
            "Multipart form. The ZIP streams to disk and is hashed on the way; it must be a real ZIP without "
            "unsafe paths and within the configured entry and size limits. The body of the 201 is the new id "
            "(text/plain). Instead of `file`, a `source_url` (and optional `sha256`) registers a model whose "
            "artifact is fetched by `POST /model/{id}/download`."
        ),
        request={"multipart/form-data": ModelUploadForm},
        responses={
            (201, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="The new model's id"),
            (409, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR, description="Model ID {id} is already in use."
            ),
            413: OpenApiResponse(description="The body is larger than MODELHUB_MAX_UPLOAD_BYTES (not read)."),
            422: VALIDATION_ERROR,
            507: OpenApiResponse(
                description="The disk cannot hold an upload of the declared size (checked before it is read)."
            ),
        },
        tags=["registry"],
    )
    def post(self, request: Request) -> HttpResponse:
        request._request.upload_handlers = [HashingUploadHandler(request._request)]
        streamed = streamed_upload(request._request)
        data = _plain_fields(request.data)
        if streamed is not None:
            data["file"] = streamed
        _reject_unknown_keys(data)
        upload = data.pop("file", None)
        if upload is not None and not isinstance(upload, UploadedFile | StreamedFile):
            raise ValidationFailed.single(
                ["body", "file"],
                "Expected a file upload (multipart/form-data), got a text value.",
                "value_error",
            )
        fields = _validated(data, partial=False)
        if isinstance(upload, StreamedFile):
            archive = StagedArchive(upload.path, upload.sha256)
        else:
            archive = staged_from_upload(upload) if upload is not None else None
        model = services.model_create(fields=fields, archive=archive)
        response = HttpResponse(model.id, status=201, content_type="text/plain; charset=utf-8")
        response["Location"] = request.build_absolute_uri(f"/models/{model.id}")
        return response


def _query_int(params: Any, key: str, *, minimum: int) -> int | None:
    raw = params.get(key)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        value = minimum - 1
    if value < minimum:
        raise ValidationFailed.single(
            ["query", key], f"{key} must be an integer >= {minimum}.", "int_parsing"
        )
    return value


class ModelDetailApi(RegistryApi):
    access_policy = {"GET": READ, "PUT": WRITE, "DELETE": WRITE}

    @extend_schema(
        summary="Get a registered model",
        responses={
            200: ModelOutSerializer,
            (404, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Model not found."),
        },
        tags=["registry"],
    )
    def get(self, request: Request, model_id: str) -> Response:
        return Response(
            selectors.model_to_dict(
                selectors.model_row(model_id=_checked_id(model_id)), files_base_url=_files_base_url(request)
            )
        )

    @extend_schema(
        summary="Update metadata of a registered model",
        description="Multipart, form or JSON. `file` and `id` cannot change: delete and register again for that.",
        request={
            "application/json": ModelFieldsSerializer(partial=True),
            "multipart/form-data": ModelFieldsSerializer(partial=True),
        },
        responses={
            200: inline_serializer("UpdateCompleted", {"status": serializers.CharField()}),
            400: STATUS_MESSAGE,
            404: STATUS_MESSAGE,
            409: OpenApiResponse(
                STATUS_MESSAGE, description="Another model has the same name, version, precision and project."
            ),
            422: VALIDATION_ERROR,
        },
        tags=["registry"],
    )
    def put(self, request: Request, model_id: str) -> Response:
        _checked_id(model_id)
        data = _plain_fields(request.data)
        # No field that can change (nothing, or only unknown keys) is the spec's 400; a supported field
        # sent together with unknown keys is a 422 that names them.
        if not (set(data) & ModelFieldsSerializer.ACCEPTED_KEYS) or {"file", "id"} & set(data):
            raise StatusMessageError(INVALID_UPDATE_MESSAGE, status_code=400)
        _reject_unknown_keys(data)
        fields = _validated(data, partial=True)
        try:
            services.model_update(model_id=model_id, fields=fields)
        except (services.ModelNotFound, services.ModelConflict) as exc:
            # PUT errors use the spec's {"status": "error", "message": ...} shape.
            raise StatusMessageError(exc.message, status_code=exc.status_code) from None
        return Response({"status": "completed"})

    @extend_schema(
        summary="Delete a registered model and its file",
        responses={
            204: None,
            (404, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Model not found."),
            (409, "text/plain"): OpenApiResponse(
                OpenApiTypes.STR, description="The model is being served or deployed."
            ),
        },
        tags=["registry"],
    )
    def delete(self, request: Request, model_id: str) -> HttpResponse:
        services.model_delete(model_id=_checked_id(model_id))
        return HttpResponse(status=204)


class ModelFilesApi(RegistryApi):
    access_policy = {"GET": READ}

    @extend_schema(
        summary="Download the model's ZIP",
        description="Streams the stored ZIP. Supports a single HTTP Range (206) for resumable downloads.",
        responses={
            (200, "application/zip"): OpenApiResponse(OpenApiTypes.BINARY, description="The ZIP"),
            (206, "application/zip"): OpenApiResponse(
                OpenApiTypes.BINARY, description="The requested byte range"
            ),
            (404, "text/plain"): OpenApiResponse(OpenApiTypes.STR, description="Model not found."),
            416: OpenApiResponse(description="Range not satisfiable"),
        },
        tags=["registry"],
    )
    def get(self, request: Request, model_id: str) -> HttpResponse:
        model = selectors.model_get(model_id=_checked_id(model_id))
        if not model.file:
            raise services.ModelNotFound(
                f"Model {model_id} has no stored file yet: it was registered from a URL; run POST /model/{model_id}/download."
            )
        try:
            handle = open_from_storage(model.file.name)
        except FileNotFoundError:
            raise services.ModelNotFound(
                f"The file of model {model_id} is missing from storage; run manage.py registry_fsck."
            ) from None
        return file_response(
            handle,
            size=model.size,
            filename=f"{model.name}-{model.version}.zip".replace('"', ""),
            range_header=request.headers.get("Range"),
        )
