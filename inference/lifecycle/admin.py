"""Operators' view of downloads: each registry model's lifecycle state, a "download" action, job rows with cancel.

The registry's model admin is extended through `registry.admin_hooks`, so the registry app stays unaware of the
lifecycle.
"""

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat
from django.utils.html import format_html, format_html_join

from config.errors import ServiceError
from inference.lifecycle import services
from inference.lifecycle.models import ACTIVE_STATUSES, DownloadJob, DownloadStatus
from inference.lifecycle.nodes import download_state_of
from inference.lifecycle.selectors import serving_memory
from inference.models import VersionState
from inference.selectors import served_versions_of, version_reports
from registry.admin_hooks import ModelAdminExtension, extend_model_admin
from registry.models import Model


def _progress_html(job: DownloadJob | None) -> str:
    if job is None:
        return "not downloaded"
    label = f"{job.status}"
    if job.status in ACTIVE_STATUSES and job.phase:
        label += f" ({job.get_phase_display().lower()})"
    if job.status == "FAILED" and job.error:
        return format_html('<span title="{}">{}</span>', job.error, label)
    return format_html(
        '<progress value="{}" max="100"></progress> {} % {}', job.percentage, f"{job.percentage:.0f}", label
    )


class DownloadJobInline(admin.StackedInline):
    model = DownloadJob
    can_delete = False
    extra = 0
    max_num = 0
    verbose_name = "download to this node"
    verbose_name_plural = "Download to this node"
    fields = [
        "status",
        "progress",
        "phase",
        "bytes_done",
        "bytes_total",
        "error",
        "worker",
        "heartbeat",
        "resumes",
        "started_at",
        "finished_at",
    ]
    readonly_fields = fields

    @admin.display(description="Progress")
    def progress(self, obj: DownloadJob) -> str:
        return _progress_html(obj)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.action(description="Download to this node's model cache")
def download_selected(modeladmin: admin.ModelAdmin, request: HttpRequest, queryset: QuerySet[Model]) -> None:
    started = 0
    for model_id in queryset.values_list("pk", flat=True):
        try:
            services.download_start(model_id=model_id)
            started += 1
        except ServiceError as exc:
            modeladmin.message_user(request, exc.message, messages.ERROR)
    if started:
        modeladmin.message_user(
            request,
            f"{started} download(s) queued or joined; progress shows in the Lifecycle column.",
            messages.SUCCESS,
        )


def _download_state(model: Model) -> dict[str, Any]:
    """The model's download frame, from the job row the admin's queryset already joined (select_related)."""
    job = getattr(model, "download_job", None)  # RelatedObjectDoesNotExist is an AttributeError: no job
    return download_state_of(model.pk, job)[0]


def lifecycle_label(model: Model, frame: dict[str, Any] | None = None) -> str:
    """What the lifecycle API says about a model, in words: served (loaded on every process), deployed but not
    loaded everywhere, downloading, downloaded (on every live node), failed, or not downloaded. `frame`: the
    model's download frame when the caller has it already."""
    unique, loaded, _ = serving_memory(model)
    if unique is not None:
        if loaded:
            return format_html(
                '<span class="console-ok" title="downloaded, loaded">served as {}</span>', unique
            )
        return format_html('<span class="console-warn">deployed as {}, not loaded everywhere</span>', unique)
    if frame is None:
        frame = _download_state(model)
    status = frame["status"]
    if status == DownloadStatus.COMPLETED:
        return "downloaded"
    if status in ACTIVE_STATUSES or status == DownloadStatus.FAILED:
        label = f"{status} ({frame['phase']})" if frame.get("phase") and status in ACTIVE_STATUSES else status
        if status == DownloadStatus.FAILED:
            return format_html(
                '<span class="console-error" title="{}">{}</span>', frame.get("error") or "", label
            )
        return format_html(
            '<progress value="{}" max="100"></progress> {} % {}',
            frame["percentage"],
            f"{frame['percentage']:.0f}",
            label,
        )
    return "not downloaded"


@admin.display(description="Lifecycle")
def lifecycle_state(obj: Model) -> str:
    return lifecycle_label(obj)


def serving_panel(model: Model) -> str:
    """Where the model is served, and each live process's state of that version."""
    rows = []
    for served in served_versions_of(model.pk):
        reports = version_reports(served.servable.name, served.version)
        states = ", ".join(
            f"{report.process.host}:{report.process.pid} {VersionState(report.state).name}"
            + (f" ({report.error_message})" if report.error_code != "OK" else "")
            for report in reports
        )
        rows.append((served.servable.name, served.version, states or "no live server process reports it"))
    served_html = (
        format_html_join("", "<li>{}:{} &mdash; {}</li>", rows)
        if rows
        else format_html("<li>{}</li>", "not served")
    )
    frame = _download_state(model)
    nodes = [
        (node["node"], node["status"], f"{node['percentage']:.0f}", node["error"] or "")
        for node in frame.get("nodes", [])
    ]
    nodes_html = format_html_join("", "<li>node {}: {} {} % {}</li>", nodes) if nodes else ""
    return format_html(
        "<ul>{}</ul><p>Lifecycle: {}</p><ul>{}</ul>", served_html, lifecycle_label(model, frame), nodes_html
    )


extend_model_admin(
    ModelAdminExtension(
        app="lifecycle",
        actions=(download_selected,),
        columns=(lifecycle_state,),
        inlines=(DownloadJobInline,),
        panels=(("Where it is served", serving_panel),),
        select_related=("download_job",),
    )
)


@admin.register(DownloadJob)
class DownloadJobAdmin(admin.ModelAdmin):
    list_display = ["model", "status", "progress", "phase", "bytes", "error", "worker", "finished_at"]
    list_filter = ["status", "phase"]
    search_fields = ["model__id", "model__name", "error"]
    readonly_fields = [field.name for field in DownloadJob._meta.fields]
    actions = ["cancel_selected", "download_again"]

    @admin.display(description="Progress")
    def progress(self, obj: DownloadJob) -> str:
        return _progress_html(obj)

    @admin.display(description="Bytes")
    def bytes(self, obj: DownloadJob) -> str:
        return f"{filesizeformat(obj.bytes_done)} of {filesizeformat(obj.bytes_total)}"

    @admin.action(description="Cancel the selected downloads")
    def cancel_selected(self, request: HttpRequest, queryset: QuerySet[DownloadJob]) -> None:
        for model_id in queryset.values_list("pk", flat=True):
            try:
                job = services.download_cancel(model_id=model_id)
                self.message_user(request, f"Download of {model_id}: {job.status}.", messages.SUCCESS)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.WARNING)

    @admin.action(description="Download the selected models again (or join a running download)")
    def download_again(self, request: HttpRequest, queryset: QuerySet[DownloadJob]) -> None:
        for model_id in queryset.values_list("pk", flat=True):
            try:
                services.download_start(model_id=model_id)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
