"""Operators' pages: search and filter models, upload a ZIP, download it, delete (row and file together)."""

import logging
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator

from config.errors import ServiceError, ValidationFailed, describe_error
from registry import services
from registry.admin_hooks import model_admin_extensions
from registry.artifacts import ArchiveRejected, inspect_archive, staged_from_upload
from registry.detection import NoModelFile, require_model_file
from registry.models import SUPPORTED_PRECISIONS, Model
from registry.serializers import ModelFieldsSerializer
from registry.signature import render_signature, with_pipeline

logger = logging.getLogger(__name__)


class ValidatedModelForm(forms.ModelForm):
    """Admin forms validate with the API's rules, so the admin cannot store what the API would refuse."""

    validated_fields: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        data = {
            key: value
            for key, value in cleaned.items()
            if key in ModelFieldsSerializer.ACCEPTED_KEYS and value not in (None, "", [])
        }
        if isinstance(data.get("precision"), str):
            data["precision"] = data["precision"].split(",")
        serializer = ModelFieldsSerializer(data=data, partial=True)
        if not serializer.is_valid():
            for field, errors in serializer.errors.items():
                self.add_error(field if field in self.fields else None, errors)
        else:
            self.validated_fields = dict(serializer.validated_data)
        return cleaned


class ModelUploadAdminForm(ValidatedModelForm):
    archive = forms.FileField(
        help_text="ZIP with the model files (OpenVINO IR, ONNX, TFLite or PaddlePaddle)."
    )
    precision = forms.MultipleChoiceField(
        choices=[(p, p) for p in SUPPORTED_PRECISIONS], initial=["FP32"], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = Model
        fields = [
            "id", "name", "version", "precision", "format", "target_device", "target_device_type", "origin",
            "project_id", "project_name", "category", "architecture", "score", "labels", "overview",
            "optimization_capabilities", "artifact_only",
        ]  # fmt: skip

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plain = "A plain artifact without a model file: stored, never served (else such a ZIP is refused)."
        self.fields["artifact_only"].help_text = plain
        self.fields["id"].required = False
        self.fields["id"].help_text = "Leave empty to generate one."

    def clean_archive(self) -> UploadedFile:
        upload = self.cleaned_data["archive"]
        try:
            self.detected_format = inspect_archive(upload).detected_format
        except ArchiveRejected as exc:
            raise forms.ValidationError(str(exc)) from None
        finally:
            upload.seek(0)
        return upload

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        detected = getattr(self, "detected_format", None)
        if detected is not None:
            try:
                require_model_file(detected, artifact_only=bool(cleaned.get("artifact_only")))
            except NoModelFile as exc:
                self.add_error("archive", str(exc))
        return cleaned


def _size(num: int) -> str:
    value = float(num)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{num} B"


@admin.register(Model)
class ModelAdmin(admin.ModelAdmin):
    """The one admin of registry models; other apps add actions, columns, inlines and panels through
    `registry.admin_hooks.extend_model_admin`, read here on every request."""

    # Few, short columns: with the sidebar and the filters open the list must fit 1400 px without scrolling
    # sideways (origin and project are on the model page, in the filters and in the search; the size links the ZIP).
    list_display = [
        "name",
        "version",
        "precision",
        "format_display",
        "task_display",
        "zip_link",
        "created",
    ]
    list_filter = [
        "detected_format", "task", "artifact_only", "format", "origin", "category", "precision", "target_device",
    ]  # fmt: skip
    search_fields = ["id", "name", "project_name", "category", "architecture", "version"]
    date_hierarchy = "created_date"
    list_per_page = 100
    readonly_fields = [
        "id",
        "file",
        "size_display",
        "sha256",
        "detected_format",
        "artifact_only",
        "source_url",
        "created_date",
        "last_updated_date",
        "download",
        "signature_display",
        "operations",
    ]
    fieldsets = [
        (None, {"fields": ["id", "name", "version", "precision", "format", "detected_format", "task"]}),
        ("Signature", {"fields": ["signature_display"]}),
        ("Where it runs", {"fields": ["target_device", "target_device_type"]}),
        ("Origin", {"fields": ["origin", "project_id", "project_name", "category", "architecture", "score"]}),
        ("Description", {"fields": ["labels", "overview", "optimization_capabilities"]}),
        (
            "Artifact",
            {
                "fields": [
                    "download",
                    "file",
                    "size_display",
                    "sha256",
                    "artifact_only",
                    "source_url",
                    "created_date",
                    "last_updated_date",
                ]
            },
        ),
    ]

    def get_list_display(self, request: HttpRequest) -> Any:
        columns = [column for extension in model_admin_extensions() for column in extension.columns]
        return [*super().get_list_display(request), *columns]

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if self.actions is None or "_popup" in request.GET:
            return actions
        for extension in model_admin_extensions():
            for function in extension.actions:
                action = self.get_action(function)
                if action is not None:
                    actions[action[1]] = action
        return actions

    def get_queryset(self, request: HttpRequest) -> QuerySet[Model]:
        related = [name for extension in model_admin_extensions() for name in extension.select_related]
        queryset = super().get_queryset(request)
        return queryset.select_related(*related) if related else queryset

    def get_inlines(self, request: HttpRequest, obj: Model | None) -> list[Any]:
        if obj is None:  # the add page is the upload form only
            return []
        return [
            *self.inlines,
            *(inline for extension in model_admin_extensions() for inline in extension.inlines),
        ]

    @admin.display(description="Signature")
    def signature_display(self, obj: Model) -> str:
        return render_signature(with_pipeline(obj.signature, obj.task))

    @admin.display(description="Serving and deployments")
    def operations(self, obj: Model) -> str:
        sections = []
        for extension in model_admin_extensions():
            for title, render in extension.panels:
                try:
                    body = render(obj)
                except Exception as exc:  # one broken panel must not break the model page
                    logger.exception("Panel %r of %s failed", title, extension.app)
                    body = format_html(
                        '<p class="errornote">Could not show this: {}</p>', describe_error(exc)
                    )
                sections.append(format_html('<h3 class="console-panel-title">{}</h3>{}', title, body))
        return format_html_join("", "{}", ((section,) for section in sections)) if sections else "-"

    @admin.display(description="Format", ordering="detected_format")
    def format_display(self, obj: Model) -> str:
        return obj.get_detected_format_display() or obj.format or "-"

    @admin.display(description="Task", ordering="task")
    def task_display(self, obj: Model) -> str:
        """The serving task of a generative or embedding model, else Geti's task category (one narrow column)."""
        if obj.task:
            return obj.get_task_display()
        return obj.category or "-"

    @admin.display(description="Created", ordering="created_date")
    def created(self, obj: Model) -> str:
        return obj.created_date.strftime("%Y-%m-%d %H:%M")

    @admin.display(description="ZIP", ordering="size")
    def zip_link(self, obj: Model) -> str:
        """The size, linked to the download (one narrow column for both)."""
        if not obj.file:
            return "not stored yet"
        return format_html(
            '<a href="{}" title="download the ZIP">{}</a>',
            reverse("model-files", args=[obj.pk]),
            _size(obj.size),
        )

    @admin.display(description="Size", ordering="size")
    def size_display(self, obj: Model) -> str:
        return _size(obj.size)

    @admin.display(description="ZIP")
    def download(self, obj: Model) -> str:
        if not obj.file:
            return "not stored yet"
        return format_html('<a href="{}">download</a>', reverse("model-files", args=[obj.pk]))

    def get_form(
        self, request: HttpRequest, obj: Model | None = None, **kwargs: Any
    ) -> type[forms.ModelForm]:
        if obj is None:
            kwargs["form"] = ModelUploadAdminForm
            kwargs["fields"] = None
        else:
            kwargs["form"] = ValidatedModelForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request: HttpRequest, obj: Model | None = None) -> Any:
        if obj is None:
            return [(None, {"fields": ["archive", *ModelUploadAdminForm.Meta.fields]})]
        fieldsets = list(super().get_fieldsets(request, obj))
        if any(extension.panels for extension in model_admin_extensions()):
            fieldsets.insert(
                2, ("Serving and deployments", {"fields": ["operations"]})
            )  # after the signature
        return fieldsets

    def get_readonly_fields(self, request: HttpRequest, obj: Model | None = None) -> Any:
        return [] if obj is None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Model, form: forms.ModelForm, change: bool) -> None:
        if change:
            fields = {
                name: value for name, value in form.validated_fields.items() if name in form.changed_data
            }
            services.model_update(model_id=obj.pk, fields=fields)
            return
        created = services.model_create(
            fields=form.validated_fields, archive=staged_from_upload(form.cleaned_data["archive"])
        )
        obj.pk = created.pk

    def delete_model(self, request: HttpRequest, obj: Model) -> None:
        services.model_delete(model_id=obj.pk)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Model]) -> None:
        for model_id in queryset.values_list("pk", flat=True):
            try:
                services.model_delete(model_id=model_id)
            except ServiceError as exc:
                self.message_user(request, exc.message, messages.ERROR)

    def changeform_view(self, request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().changeform_view(request, *args, **kwargs)
        except ValidationFailed as exc:
            self.message_user(request, Truncator(exc.message).chars(500), messages.ERROR)
        except ServiceError as exc:
            self.message_user(request, exc.message, messages.ERROR)
        return HttpResponseRedirect(request.get_full_path())
