"""HTTP endpoints for Geti (spec/model-registry-api.txt, /projects): validate, call a service, render."""

from django.conf import settings
from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from access.policy import READ, WRITE
from config.errors import ValidationFailed, validation_errors_from_drf
from geti import selectors, services
from geti.client import GetiConfig, is_object_id
from geti.models import GetiImportJob, ImportStatus
from geti.serializers import GetiModelsDownloadSerializer, ImportJobOutSerializer, ProjectOutSerializer
from registry.apis import VALIDATION_ERROR

CONFIG_NOTE = (
    "Needs GETI_HOST, GETI_TOKEN, GETI_SERVER_API_VERSION, GETI_ORGANIZATION_ID and GETI_WORKSPACE_ID; without "
    "them the answer is 503 naming the missing variables."
)


def _text(description: str) -> OpenApiResponse:
    return OpenApiResponse(OpenApiTypes.STR, description=description)


GETI_FAILURES = {
    (502, "text/plain"): _text("Geti answered an error, refused the token, or cannot be reached."),
    (503, "text/plain"): _text(
        "The Geti integration is not configured (the message names the missing variables)."
    ),
    (504, "text/plain"): _text("Geti did not answer in time."),
}


def _plain(status: int, message: str) -> HttpResponse:
    return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")


def _job_response(request: Request, job: GetiImportJob) -> HttpResponse:
    if job.status == ImportStatus.FINISHED:
        return _plain(job.status_code or 500, job.message)
    url = request.build_absolute_uri(reverse("geti-import-job", args=[job.project_id, job.pk]))
    body = ImportJobOutSerializer(
        {
            "job_id": job.pk,
            "project_id": job.project_id,
            "status": job.status,
            "models": job.requested,
            "bytes_done": job.bytes_done,
            "created_at": job.created_at,
            "started_at": job.started_at,
            "heartbeat_at": job.heartbeat_at,
            "status_url": url,
        }
    ).data
    return Response(body, status=202, headers={"Location": url, "Retry-After": "2"})


class ProjectListApi(APIView):
    access_policy = {"GET": READ}

    @extend_schema(
        summary="Get projects in a remote Intel® Geti workspace",
        description=f"Every project (all pages) with its model groups, models and OpenVINO optimized models. {CONFIG_NOTE}",
        responses={200: ProjectOutSerializer(many=True), **GETI_FAILURES},
        operation_id="projects_list",
        tags=["projects"],
    )
    def get(self, request: Request) -> Response:
        return Response(selectors.project_list())


class ProjectDetailApi(APIView):
    access_policy = {"GET": READ}

    @extend_schema(
        summary="Get a project by ID in a remote Intel® Geti workspace",
        description=CONFIG_NOTE,
        responses={
            200: ProjectOutSerializer,
            (404, "text/plain"): _text("Project not found"),
            **GETI_FAILURES,
        },
        operation_id="projects_get",
        tags=["projects"],
    )
    def get(self, request: Request, project_id: str) -> Response:
        return Response(selectors.project_detail(project_id=project_id))


class GetiModelsDownloadApi(APIView):
    access_policy = {"POST": WRITE}

    @extend_schema(
        summary="Store 1 or more OpenVINO optimized models from a remote Intel® Geti workspace in the registry",
        description=(
            "All or nothing. Each `id` is an OpenVINO optimized model id as GET /projects lists it, and becomes "
            "the model's id in the registry. The import runs in a background worker; this call waits up to "
            "GETI_IMPORT_WAIT_SECONDS for it and then answers the final status and text. If the import is still "
            "running then, the answer is 202 with the job and a `Location` to poll: "
            "GET /projects/{project_id}/geti-models/download/{job_id} answers 202 until the import ends, then "
            f"the same status and text this call would have given. {CONFIG_NOTE}"
        ),
        request=GetiModelsDownloadSerializer,
        responses={
            (201, "text/plain"): _text("Model(s): {ids} registered."),
            202: OpenApiResponse(ImportJobOutSerializer, description="Still importing: poll the Location."),
            (403, "text/plain"): _text(
                "Model(s): {ids} can not be registered. (not an OpenVINO optimized model)"
            ),
            (404, "text/plain"): _text("Project or model id not found. No model(s) registered."),
            (409, "text/plain"): _text(
                "Model(s): {ids} is already registered. No model(s) registered.\\nTip: ..."
            ),
            422: VALIDATION_ERROR,
            (500, "text/plain"): _text("The import failed unexpectedly. No model(s) registered."),
            **GETI_FAILURES,
        },
        examples=[
            OpenApiExample(
                "Two models",
                value={
                    "models": [{"id": "65f1a2b3c4d5e6f708192a3b", "group_id": "65f1a2b3c4d5e6f708192a00"}]
                },
                request_only=True,
            )
        ],
        tags=["projects"],
    )
    def post(self, request: Request, project_id: str) -> HttpResponse:
        serializer = GetiModelsDownloadSerializer(data=request.data)
        if not serializer.is_valid():
            raise ValidationFailed(validation_errors_from_drf(serializer.errors))
        refs = [
            services.ModelRef(id=item["id"], group_id=item["group_id"])
            for item in serializer.validated_data["models"]
        ]
        GetiConfig.from_settings()  # 503 now rather than from the worker
        if not is_object_id(project_id) or not all(
            is_object_id(ref.id) and is_object_id(ref.group_id) for ref in refs
        ):
            return _plain(404, services.NOT_FOUND_MESSAGE)
        job = services.import_job_create(project_id=project_id, refs=refs)
        job = services.import_job_wait(job_id=job.pk, timeout=settings.GETI_IMPORT_WAIT_SECONDS)
        return _job_response(request, job)


class ImportJobApi(APIView):
    access_policy = {"GET": READ}

    @extend_schema(
        summary="Outcome of a Geti import that answered 202",
        description="202 with the job while it runs; once finished, the status and text of the import (201, 403, 404, 409, ...).",
        responses={
            202: ImportJobOutSerializer,
            (201, "text/plain"): _text("Model(s): {ids} registered."),
            (404, "text/plain"): _text(
                "Import job not found. / Project or model id not found. No model(s) registered."
            ),
            (409, "text/plain"): _text("Model(s): {ids} is already registered. No model(s) registered."),
        },
        tags=["projects"],
    )
    def get(self, request: Request, project_id: str, job_id: str) -> HttpResponse:
        job = services.import_job_fail_if_stale(
            selectors.import_job_get(project_id=project_id, job_id=job_id)
        )
        return _job_response(request, job)
