"""HTTP endpoints of the deployment tasks API (spec/deployment-tasks-api.txt): create, read, cancel."""

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import DEPLOY, READ
from config.errors import ValidationFailed, validation_errors_from_drf
from deployments import services
from deployments.config import KEYS as CONFIG_KEYS
from deployments.models import DeploymentTask, TaskKind, TaskStatus
from registry.models import MODEL_ID_PATTERN

ERROR = inline_serializer("DeploymentError", {"detail": serializers.CharField()})


class TaskRequestSerializer(serializers.Serializer):
    model_id = serializers.CharField(max_length=128)
    id = serializers.RegexField(
        MODEL_ID_PATTERN,
        required=False,
        help_text="Your own task id: repeating a request with the same id returns the same task.",
    )


class DeployRequestSerializer(TaskRequestSerializer):
    config = serializers.JSONField(
        required=False,
        help_text=f"Optional settings: {', '.join(CONFIG_KEYS)}. Unknown keys or bad values are a 400 naming them.",
    )


class TaskOutSerializer(serializers.Serializer):
    task_id = serializers.CharField()
    kind = serializers.ChoiceField(choices=TaskKind.choices)
    model_id = serializers.CharField()
    servable_name = serializers.CharField()
    status = serializers.ChoiceField(choices=TaskStatus.choices)
    detail = serializers.CharField()
    config = serializers.JSONField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    metadata = serializers.JSONField(
        help_text="steps [{name, status, started_at, finished_at, detail}], previous/new version, switched_at (and all_switched_at when a server process read the switch late), timings, requested_by (who asked); canary/shadow: strategy, candidate, weight (current %), analysis [{step, at, outcome, reason, candidate, stable}]"
    )


def task_to_dict(task: DeploymentTask) -> dict[str, Any]:
    return {
        "task_id": task.pk,
        "kind": task.kind,
        "model_id": task.model_id,
        "servable_name": task.servable_name,
        "status": task.status,
        "detail": task.detail,
        "config": task.config,
        "created_at": task.created_at,
        "updated_at": task.updated_at,
        "metadata": {**task.metadata, "requested_by": task.requested_by},
    }


def _validated(
    serializer_class: type[serializers.Serializer], data: Any, *, allow_extra: bool
) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ValidationFailed.single(
            ["body"], "The request body must be a JSON object.", "model_attributes_type"
        )
    serializer = serializer_class(data=data)
    if not allow_extra:
        unknown = sorted(set(data) - set(serializer.fields))
        if unknown:
            raise ValidationFailed.single(
                ["body"], f"Unsupported key(s) found: {', '.join(unknown)}", "extra_forbidden"
            )
    if not serializer.is_valid():
        raise ValidationFailed(validation_errors_from_drf(serializer.errors))
    return dict(serializer.validated_data)


def _created_response(task: DeploymentTask, created: bool) -> Response:
    if task.status == TaskStatus.REFUSED and created:
        return Response(task_to_dict(task), status=409)
    return Response(task_to_dict(task), status=201 if created else 200)


class DeployApi(APIView):
    access_policy = {"POST": DEPLOY}

    @extend_schema(
        summary="Deploy a registry model (green deployment)",
        description=(
            "Creates a deployment task run by a background worker and returns it at once. The new version is "
            "downloaded, compiled and warmed up on every server process beside the one in service, then the "
            "default switches in one step; the old version drains and is removed. A second deployment of the same "
            "servable while one runs is refused (409, task status `refused`). Repeating a request with the same "
            "`id` returns the existing task (200)."
        ),
        request=DeployRequestSerializer,
        responses={
            201: TaskOutSerializer,
            200: TaskOutSerializer,
            400: ERROR,
            404: ERROR,
            409: TaskOutSerializer,
            422: OpenApiResponse(description="Malformed body"),
        },
        tags=["deployments"],
    )
    def post(self, request: Request) -> Response:
        data = _validated(DeployRequestSerializer, request.data, allow_extra=False)
        task, created = services.deployment_create(
            model_id=data["model_id"], raw_config=data.get("config"), task_id=data.get("id")
        )
        return _created_response(task, created)


class DeployTaskApi(APIView):
    access_policy = {"GET": READ}

    @extend_schema(
        summary="A deployment task", responses={200: TaskOutSerializer, 404: ERROR}, tags=["deployments"]
    )
    def get(self, request: Request, task_id: str) -> Response:
        return Response(task_to_dict(services.task_get(task_id=task_id, kind=TaskKind.DEPLOY)))


class DeployCancelApi(APIView):
    access_policy = {"POST": DEPLOY}

    @extend_schema(
        summary="Cancel a deployment",
        description="A pending task is canceled at once; a running one stops before its switch and the old version keeps serving.",
        request=None,
        responses={200: TaskOutSerializer, 404: ERROR, 409: ERROR},
        tags=["deployments"],
    )
    def post(self, request: Request, task_id: str) -> Response:
        return Response(task_to_dict(services.task_cancel(task_id=task_id)))


class WeightRequestSerializer(serializers.Serializer):
    weight = serializers.IntegerField(
        min_value=0, max_value=100, help_text="Percent of version-less requests."
    )


_CONTROL_DESCRIPTION = (
    "Accepted (202) for a running canary or shadow: its worker applies it within a fraction of a second and "
    "records it in the task's history (`metadata.steps`, `metadata.weight`). 409 with the reason when the task "
    "is not a running canary or shadow."
)


class DeployPromoteApi(APIView):
    access_policy = {"POST": DEPLOY}

    @extend_schema(
        summary="Promote a canary or shadow",
        description="The candidate becomes the default at one instant on every server process; the stable "
        "version drains and is removed, as after a green switch. " + _CONTROL_DESCRIPTION,
        request=None,
        responses={202: TaskOutSerializer, 404: ERROR, 409: ERROR},
        tags=["deployments"],
    )
    def post(self, request: Request, task_id: str) -> Response:
        return Response(task_to_dict(services.task_control(task_id=task_id, action=services.PROMOTE)), 202)


class DeployRollbackApi(APIView):
    access_policy = {"POST": DEPLOY}

    @extend_schema(
        summary="Roll back a canary or shadow",
        description="The candidate gets 0 % and is removed; the task ends `canceled`. "
        + _CONTROL_DESCRIPTION,
        request=None,
        responses={202: TaskOutSerializer, 404: ERROR, 409: ERROR},
        tags=["deployments"],
    )
    def post(self, request: Request, task_id: str) -> Response:
        return Response(task_to_dict(services.task_control(task_id=task_id, action=services.ROLLBACK)), 202)


class DeployWeightApi(APIView):
    access_policy = {"POST": DEPLOY}

    @extend_schema(
        summary="Set the weight of a canary or shadow",
        description="`weight` (0-100) % of version-less requests go to (canary) or are copied to (shadow) the "
        "candidate, held until the next request; an automatic canary becomes manual. " + _CONTROL_DESCRIPTION,
        request=WeightRequestSerializer,
        responses={
            202: TaskOutSerializer,
            404: ERROR,
            409: ERROR,
            422: OpenApiResponse(description="Bad body"),
        },
        tags=["deployments"],
    )
    def post(self, request: Request, task_id: str) -> Response:
        data = _validated(WeightRequestSerializer, request.data, allow_extra=False)
        task = services.task_control(task_id=task_id, action=services.WEIGHT, weight=data["weight"])
        return Response(task_to_dict(task), 202)


class DeployStatusApi(APIView):
    access_policy = {"GET": READ}

    @extend_schema(
        summary="Newest deployment task of a model",
        responses={200: TaskOutSerializer, 404: ERROR},
        tags=["deployments"],
    )
    def get(self, request: Request, model_id: str) -> Response:
        return Response(task_to_dict(services.newest_task_for_model(model_id=model_id, kind=TaskKind.DEPLOY)))


class DeleteApi(APIView):
    access_policy = {"POST": DEPLOY}

    @extend_schema(
        summary="Remove a model from the inference service",
        description=(
            "Creates a deletion task: the model is unloaded from every server process and its local files are "
            "removed (the registry entry stays). Refused while a deployment of the model runs, and when the model "
            "is not deployed. Extra keys in the body are ignored."
        ),
        request=TaskRequestSerializer,
        responses={
            201: TaskOutSerializer,
            200: TaskOutSerializer,
            404: ERROR,
            409: TaskOutSerializer,
            422: OpenApiResponse(description="Malformed body"),
        },
        tags=["deployments"],
    )
    def post(self, request: Request) -> Response:
        data = _validated(TaskRequestSerializer, request.data, allow_extra=True)
        task, created = services.deletion_create(model_id=data["model_id"], task_id=data.get("id"))
        return _created_response(task, created)


class DeleteTaskApi(APIView):
    access_policy = {"GET": READ}

    @extend_schema(
        summary="A deletion task", responses={200: TaskOutSerializer, 404: ERROR}, tags=["deployments"]
    )
    def get(self, request: Request, task_id: str) -> Response:
        return Response(task_to_dict(services.task_get(task_id=task_id, kind=TaskKind.DELETE)))


class DeleteStatusApi(APIView):
    access_policy = {"GET": READ}

    @extend_schema(
        summary="Newest deletion task of a model",
        responses={200: TaskOutSerializer, 404: ERROR},
        tags=["deployments"],
    )
    def get(self, request: Request, model_id: str) -> Response:
        return Response(task_to_dict(services.newest_task_for_model(model_id=model_id, kind=TaskKind.DELETE)))
