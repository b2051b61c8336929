"""Reads from Geti, shaped for modelhub's /projects API (DESIGN.md section 4)."""

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from config.errors import PlainTextError
from geti.client import (
    GetiClient,
    GetiNotFound,
    ModelDetail,
    ModelGroup,
    Project,
    client_from_settings,
    is_object_id,
)
from geti.models import GetiImport, GetiImportJob

PROJECT_NOT_FOUND = "Project not found"
# Geti answers one request per model detail; a few at a time keeps /projects quick without hammering it.
FETCH_THREADS = 8


class ProjectNotFound(PlainTextError):
    status_code = 404

    def __init__(self) -> None:
        super().__init__(PROJECT_NOT_FOUND)


class ImportJobNotFound(PlainTextError):
    status_code = 404

    def __init__(self) -> None:
        super().__init__("Import job not found.")


def project_list() -> list[dict[str, Any]]:
    """Every project of the workspace with its model groups, models and OpenVINO optimized models."""
    with client_from_settings() as client:
        return _trees(client, client.list_projects())


def project_detail(*, project_id: str) -> dict[str, Any]:
    if not is_object_id(project_id):
        raise ProjectNotFound()
    with client_from_settings() as client:
        try:
            project = client.get_project(project_id)
        except GetiNotFound:
            raise ProjectNotFound() from None
        return _trees(client, [project])[0]


def _trees(client: GetiClient, projects: list[Project]) -> list[dict[str, Any]]:
    with ThreadPoolExecutor(max_workers=FETCH_THREADS) as pool:
        groups_by_project = list(pool.map(lambda project: _groups(client, project.id), projects))
        wanted = [
            (project.id, group, summary.id)
            for project, groups in zip(projects, groups_by_project, strict=True)
            for group in groups
            for summary in group.models
        ]
        details = dict(
            zip(
                [(pid, group.id, mid) for pid, group, mid in wanted],
                pool.map(lambda key: _detail(client, *key), wanted),
                strict=True,
            )
        )
    return [
        {
            "id": project.id,
            "name": project.name,
            "creation_time": project.creation_time,
            "model_groups": [
                {
                    "id": group.id,
                    "name": group.name,
                    "models": [
                        _model(
                            summary.id,
                            summary.name,
                            summary.version,
                            details.get((project.id, group.id, summary.id)),
                        )
                        for summary in group.models
                    ],
                }
                for group in groups
            ],
        }
        for project, groups in zip(projects, groups_by_project, strict=True)
    ]


def _groups(client: GetiClient, project_id: str) -> list[ModelGroup]:
    try:
        return client.list_model_groups(project_id)
    except GetiNotFound:  # deleted between the listing and this call
        return []


def _detail(client: GetiClient, project_id: str, group: ModelGroup, model_id: str) -> ModelDetail | None:
    try:
        return client.get_model(project_id, group.id, model_id)
    except GetiNotFound:
        return None


def _model(model_id: str, name: str, version: int, detail: ModelDetail | None) -> dict[str, Any]:
    optimized = [om for om in detail.optimized_models if om.is_openvino] if detail else []
    return {
        "id": model_id,
        "name": name,
        "version": version,
        "optimized_models": [
            {"id": om.id, "name": om.name, "precision": list(om.precision)} for om in optimized
        ],
    }


def import_job_get(*, project_id: str, job_id: str) -> GetiImportJob:
    job = GetiImportJob.objects.filter(pk=job_id, project_id=project_id).first()
    if job is None:
        raise ImportJobNotFound()
    return job


def provenance_for(*, model_id: str) -> GetiImport | None:
    return GetiImport.objects.filter(model_id=model_id).first()
