"""Operators see where an imported model came from (an inline on the registry's model page) and the import jobs."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from geti.models import GetiImport, GetiImportJob
from registry.admin_hooks import ModelAdminExtension, extend_model_admin
from registry.models import Model


class GetiImportInline(admin.StackedInline):
    model = GetiImport
    fk_name = "model"
    can_delete = False
    extra = 0
    max_num = 0
    verbose_name = "Imported from Geti"
    verbose_name_plural = "Imported from Geti"
    readonly_fields = [
        "geti_host", "project_id", "project_name", "model_group_id", "model_group_name", "geti_model_id",
        "optimized_model_id", "optimization_type", "geti_creation_date", "imported_at", "job",
    ]  # fmt: skip
    fields = tuple(readonly_fields)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.display(description="Geti source", ordering="geti_import__project_name")
def geti_source(obj: Model) -> str:
    source = getattr(obj, "geti_import", None)
    if source is None:
        return "-"
    # Names in the column, ids in the tooltip: 24-digit ids would make the list scroll sideways.
    return format_html(
        '<span title="project {} / model {}">{} / {}</span>',
        source.project_id, source.optimized_model_id, source.project_name, source.model_group_name,
    )  # fmt: skip


extend_model_admin(
    ModelAdminExtension(
        app="geti", columns=(geti_source,), inlines=(GetiImportInline,), select_related=("geti_import",)
    )
)


@admin.register(GetiImportJob)
class GetiImportJobAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "project_id",
        "status",
        "status_code",
        "short_message",
        "created_at",
        "finished_at",
        "attempts",
    ]
    list_filter = ["status", "status_code"]
    search_fields = ["id", "project_id", "message"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in GetiImportJob._meta.fields]

    @admin.display(description="Outcome")
    def short_message(self, obj: GetiImportJob) -> str:
        return obj.message.splitlines()[0] if obj.message else ""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
