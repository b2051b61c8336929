"""HTTP endpoints of the model lifecycle (spec/model-lifecycle-api.txt): validate, call a service, render.

Errors are {"detail": "<message>"}; validation errors the registry's 422 list. /model/{model}/download/progress
answers a plain GET here and a WebSocket in `consumers.DownloadProgressConsumer` (Channels routes the
websocket scope, Django the HTTP one). The official Pieces OS client (pieces-os-client) works unmodified.
"""

from collections.abc import Callable
from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import DEPLOY, READ
from config.errors import ValidationFailed, validation_errors_from_drf
from config.parsers import DepthLimitedJSONParser
from inference.lifecycle import loading, selectors, services
from inference.lifecycle.serializers import (
    DownloadProgressSerializer,
    ModelObjectSerializer,
    ModelUpdateSerializer,
)
from registry.apis import VALIDATION_ERROR

DETAIL = inline_serializer("LifecycleError", {"detail": serializers.CharField()})


def _error(description: str) -> OpenApiResponse:
    return OpenApiResponse(DETAIL, description=description)


class _ModelActionApi(APIView):
    """POST /model/{model}/<action>: run one service on the model, answer its Model object."""

    action: Callable[..., Any]

    def post(self, request: Request, model: str) -> Response:
        type(self).action(model_id=model)
        return Response(selectors.model_object(selectors.model_get(model_id=model)))


class ModelDownloadApi(_ModelActionApi):
    access_policy = {"POST": DEPLOY}
    action = services.download_start

    @extend_schema(
        summary="Download a model to this node",
        description=(
            "Returns the Model object at once; a background worker copies the model's ZIP from artifact storage "
            "(or, for a model registered with a `source_url`, fetches it over HTTP(S) with resume and sha256 "
            "check) and unpacks it into this node's model cache. A call while a download runs joins it. "
            "Watch it on the WebSocket `/model/{model}/download/progress`, or GET that path for the progress now."
        ),
        request=None,
        responses={
            200: ModelObjectSerializer,
            404: _error("Unknown model id"),
            409: _error("Nothing to download from"),
        },
        tags=["lifecycle"],
    )
    def post(self, request: Request, model: str) -> Response:
        return super().post(request, model)


class ModelDownloadCancelApi(_ModelActionApi):
    access_policy = {"POST": DEPLOY}
    action = services.download_cancel

    @extend_schema(
        summary="Cancel a running download",
        description="The transfer stops within a second, partial files are removed, and the status becomes CANCELED.",
        request=None,
        responses={
            200: ModelObjectSerializer,
            404: _error("Unknown model id"),
            409: _error("No download of this model is running"),
        },
        tags=["lifecycle"],
    )
    def post(self, request: Request, model: str) -> Response:
        return super().post(request, model)


class ModelLoadApi(_ModelActionApi):
    access_policy = {"POST": DEPLOY}
    action = loading.model_load

    @extend_schema(
        summary="Load a downloaded model into memory",
        description=(
            "Serves the model on every server process (TFS `/v1/models/{name}` and KServe `/v2/models/{name}`, "
            "`name` and version as in the Model object's `unique`) and waits until they report it AVAILABLE."
        ),
        request=None,
        responses={
            200: ModelObjectSerializer,
            404: _error("Unknown model id"),
            409: _error("The model is not downloaded to this node"),
            500: _error("The model could not be compiled"),
        },
        tags=["lifecycle"],
    )
    def post(self, request: Request, model: str) -> Response:
        return super().post(request, model)


class ModelUnloadApi(_ModelActionApi):
    access_policy = {"POST": DEPLOY}
    action = loading.model_unload

    @extend_schema(
        summary="Unload a model from memory",
        description="Stops serving the model on every server process and waits until they dropped it; `ram` becomes null.",
        request=None,
        responses={
            200: ModelObjectSerializer,
            404: _error("Unknown model id"),
            409: _error("The model is not loaded"),
        },
        tags=["lifecycle"],
    )
    def post(self, request: Request, model: str) -> Response:
        return super().post(request, model)


class ModelSnapshotApi(APIView):
    access_policy = {"GET": READ}

    @extend_schema(
        summary="A model's lifecycle snapshot",
        description='The spec answers an unknown id with 410 ("model was not found.").',
        responses={200: ModelObjectSerializer, 410: _error("model was not found.")},
        tags=["lifecycle"],
    )
    def get(self, request: Request, model: str) -> Response:
        services.download_recover_if_stale(model_id=model)
        return Response(selectors.model_snapshot(model_id=model))


class ModelDownloadProgressApi(APIView):
    access_policy = {"GET": READ}

    @extend_schema(
        summary="A model's download progress, now",
        description=(
            "The current `ModelDownloadProgress` (what pieces-os-client's `model_specific_model_download_progress` "
            "reads): the frame the WebSocket on the same path would send now. Poll it until a terminal status "
            "(COMPLETED, FAILED, CANCELED), or open the WebSocket for a frame on every change."
        ),
        responses={200: DownloadProgressSerializer, 404: _error("Unknown model id")},
        tags=["lifecycle"],
    )
    def get(self, request: Request, model: str) -> Response:
        services.download_recover_if_stale(model_id=model)
        return Response(selectors.download_progress(model_id=model))


class ModelUpdateApi(APIView):
    # `deploy`, as every other lifecycle change (download, load, unload, delete, cancel) needs.
    access_policy = {"POST": DEPLOY}
    parser_classes = [DepthLimitedJSONParser]

    @extend_schema(
        summary="Update a custom model",
        description=(
            "Body: a Pieces `Model` object, as GET /model/{model} returns it or as pieces-os-client sends it; every "
            "field of the Pieces schema is accepted and `null` means no change. `id` names the model (it cannot "
            "change: an id of no model is a 404). Applied: `name`, `version`, `description`, `type`, `usage` "
            "(values of the Pieces enums) and `format`. The other fields are checked for their JSON type and "
            "ignored: computed ones (`created`, `bytes`, `downloaded`, ...) and Pieces fields modelhub has no use "
            "for (`capabilities`, `foundation`, `maxTokens`, `parameters`, `score`, ...). A key outside the "
            "Pieces schema, or a value of the wrong type, is a 422. Only for custom models (uploaded by a user): "
            "a model imported from Geti is a 403."
        ),
        request=ModelUpdateSerializer,
        responses={
            200: ModelObjectSerializer,
            403: _error("Not a custom model"),
            404: _error("Unknown model id"),
            409: _error("Another model has the same name, version, precision and project"),
            422: VALIDATION_ERROR,
        },
        tags=["lifecycle"],
    )
    def post(self, request: Request) -> Response:
        data = request.data
        if not isinstance(data, dict):
            raise ValidationFailed.single(
                ["body"], "The body must be a Model object (a JSON object).", "model_attributes_type"
            )
        unknown = sorted(set(data) - set(ModelUpdateSerializer().fields))
        if unknown:
            raise ValidationFailed.single(
                ["body"], f"Unsupported key(s) found: {', '.join(unknown)}", "extra_forbidden"
            )
        serializer = ModelUpdateSerializer(data=data)
        if not serializer.is_valid():
            raise ValidationFailed(validation_errors_from_drf(serializer.errors))
        changes = dict(serializer.validated_data)
        model = services.model_update_from_object(model_id=changes.pop("id"), changes=changes)
        return Response(selectors.model_object(model))
