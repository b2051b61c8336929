"""Operators' pages: deployment/deletion tasks with their steps, and deploy/delete actions on registry models."""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from config.errors import ServiceError
from deployments import services
from deployments.models import DeploymentTask
from registry.admin import ModelAdmin as RegistryModelAdmin
from registry.models import Model


@admin.register(DeploymentTask)
class DeploymentTaskAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "model_id",
        "servable_name",
        "status",
        "current_step",
        "requested_by",
        "created_at",
        "updated_at",
    ]
    list_filter = ["kind", "status", "requested_by"]
    search_fields = ["id", "model_id", "servable_name", "detail"]
    readonly_fields = [
        "id",
        "requested_by",
        "kind",
        "model_id",
        "servable_name",
        "status",
        "detail",
        "config",
        "steps",
        "metadata",
        "cancel_requested",
        "heartbeat_at",
        "attempts",
        "created_at",
        "updated_at",
    ]
    actions = ["cancel"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Step")
    def current_step(self, obj: DeploymentTask) -> str:
        return (obj.metadata or {}).get("current_step") or ""

    @admin.display(description="Steps")
    def steps(self, obj: DeploymentTask) -> str:
        rows = (obj.metadata or {}).get("steps", [])
        if not rows:
            return "-"
        return format_html(
            "<table><tr><th>step</th><th>status</th><th>started</th><th>finished</th><th>detail</th></tr>{}</table>",
            format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                             ((s["name"], s["status"], s["started_at"], s["finished_at"] or "", s["detail"]) for s in rows)),
        )  # fmt: skip

    @admin.action(description="Cancel selected deployments")
    def cancel(self, request: HttpRequest, queryset: QuerySet[DeploymentTask]) -> None:
        for task in queryset:
            try:
                services.task_cancel(task_id=task.pk)
                self.message_user(request, f"Cancel requested for {task.pk}.")
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.WARNING)


def _create_tasks(request: HttpRequest, queryset: QuerySet[Model], create: Any, noun: str) -> None:
    for model in queryset:
        try:
            task, _ = create(model_id=model.pk)
        except ServiceError as exc:
            messages.error(request, exc.message)
            continue
        level = messages.WARNING if task.status == "refused" else messages.SUCCESS
        messages.add_message(
            request, level, f"{noun} task {task.pk} for {model}: {task.status} {task.detail}".strip()
        )


@admin.action(description="Deploy selected models (green deployment)")
def deploy_models(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Model]) -> None:
    _create_tasks(request, queryset, services.deployment_create, "Deployment")


@admin.action(description="Remove selected models from the inference service")
def undeploy_models(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Model]) -> None:
    _create_tasks(request, queryset, services.deletion_create, "Deletion")


RegistryModelAdmin.actions = [*(RegistryModelAdmin.actions or []), deploy_models, undeploy_models]
