"""Operators' view of downloads: each registry model's lifecycle state, a "download" action, job rows with cancel.

The registry's ModelAdmin is extended (subclassed and registered again) rather than edited, so the registry
app stays unaware of the lifecycle.
"""

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from config.errors import ServiceError
from inference.lifecycle import services
from inference.lifecycle.models import ACTIVE_STATUSES, DownloadJob
from registry.admin import ModelAdmin as RegistryModelAdmin
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


class LifecycleModelAdmin(RegistryModelAdmin):
    list_display = [*RegistryModelAdmin.list_display, "lifecycle_state"]
    actions = [*(RegistryModelAdmin.actions or []), download_selected]
    inlines = [*RegistryModelAdmin.inlines, DownloadJobInline]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Model]:
        return super().get_queryset(request).select_related("download_job")

    @admin.display(description="Lifecycle")
    def lifecycle_state(self, obj: Model) -> str:
        return _progress_html(getattr(obj, "download_job", None))

    def get_inlines(
        self, request: HttpRequest, obj: Model | None
    ) -> list[type[admin.options.InlineModelAdmin]]:
        return list(self.inlines) if obj is not None else []


admin.site.unregister(Model)
admin.site.register(Model, LifecycleModelAdmin)


@admin.register(DownloadJob)
class DownloadJobAdmin(admin.ModelAdmin):
    list_display = [
        "model",
        "status",
        "progress",
        "phase",
        "bytes_done",
        "bytes_total",
        "error",
        "worker",
        "heartbeat",
        "resumes",
        "finished_at",
    ]
    list_filter = ["status", "phase"]
    search_fields = ["model__id", "model__name", "error"]
    readonly_fields = [field.name for field in DownloadJob._meta.fields]
    actions = ["cancel_selected", "download_again"]

    @admin.display(description="Progress")
    def progress(self, obj: DownloadJob) -> str:
        return _progress_html(obj)

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
