from django import forms
from django.contrib import admin
from django.db import transaction
from django.http import HttpRequest

from inference import plugin_config
from inference.models import Servable, ServedVersion, ServingGeneration, ServingProcess, VersionReport


class ServedVersionInline(admin.TabularInline):
    model = ServedVersion
    extra = 0
    fields = ("version", "model", "retain_until", "created_at")
    readonly_fields = ("created_at",)
    raw_id_fields = ("model",)


class ServableForm(forms.ModelForm):
    """The admin's Servable form (ModelAdmin supplies the model and fields): plugin_config is allow-listed."""

    def clean_plugin_config(self) -> dict[str, plugin_config.Value]:
        try:
            return plugin_config.checked(self.cleaned_data.get("plugin_config") or {})
        except plugin_config.PluginConfigInvalid as invalid:
            raise forms.ValidationError(invalid.problems) from None


@admin.register(Servable)
class ServableAdmin(admin.ModelAdmin):
    """Edits here change what every server process serves (they reconcile within a second)."""

    form = ServableForm

    list_display = ("name", "target_device", "nireq", "default_version", "default_switch_at", "updated_at")
    search_fields = ("name",)
    inlines = [ServedVersionInline]

    def save_model(self, request: HttpRequest, obj: Servable, form: object, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            ServingGeneration.bump()

    def save_related(self, request: HttpRequest, form: object, formsets: object, change: bool) -> None:
        with transaction.atomic():
            super().save_related(request, form, formsets, change)
            ServingGeneration.bump()

    def delete_model(self, request: HttpRequest, obj: Servable) -> None:
        with transaction.atomic():
            super().delete_model(request, obj)
            ServingGeneration.bump()

    def delete_queryset(self, request: HttpRequest, queryset: object) -> None:
        with transaction.atomic():
            super().delete_queryset(request, queryset)  # type: ignore[arg-type]
            ServingGeneration.bump()


class VersionReportInline(admin.TabularInline):
    model = VersionReport
    extra = 0
    can_delete = False
    fields = (
        "servable_name",
        "version",
        "state",
        "error_code",
        "error_message",
        "warmed_up",
        "ram_bytes",
        "updated_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(ServingProcess)
class ServingProcessAdmin(admin.ModelAdmin):
    """Live server processes and what each one holds (written by the processes themselves)."""

    list_display = ("id", "host", "pid", "started_at", "last_seen", "generation_seen")
    readonly_fields = ("id", "host", "pid", "started_at", "last_seen", "generation_seen")
    inlines = [VersionReportInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
