from typing import Any

from django import forms
from django.contrib import admin, messages
from django.http import HttpRequest
from django.utils import timezone

from access.keys import clear_cache, key_create
from access.models import APIKey, AuditEvent
from access.policy import KEY_SCOPES


class APIKeyForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        choices=[(scope, scope) for scope in KEY_SCOPES], widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = APIKey
        fields = ["name", "scopes", "expires_at"]


@admin.register(APIKey)
class APIKeyAdmin(admin.ModelAdmin):
    form = APIKeyForm
    list_display = [
        "name",
        "prefix",
        "scope_list",
        "created_at",
        "created_by",
        "expires_at",
        "revoked",
        "last_used_at",
    ]
    list_filter = ["revoked"]
    search_fields = ["name", "prefix"]
    readonly_fields = ["prefix", "created_at", "created_by", "revoked", "revoked_at", "last_used_at"]
    actions = ["revoke"]

    @admin.display(description="scopes")
    def scope_list(self, obj: APIKey) -> str:
        return ", ".join(obj.scopes)

    def save_model(self, request: HttpRequest, obj: APIKey, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            clear_cache()
            return
        new = key_create(
            name=obj.name,
            scopes=form.cleaned_data["scopes"],
            expires_at=obj.expires_at,
            created_by=request.user,
        )
        # The admin goes on with `obj` (log entry, redirect): make it the row that was created.
        obj.pk, obj.prefix, obj.secret_hash = new.key.pk, new.key.prefix, new.key.secret_hash  # type: ignore[attr-defined]
        obj._state.adding = False
        messages.warning(
            request,
            f"The new key is shown only now, copy it: {new.secret}  (send it as 'Authorization: Bearer <key>')",
        )

    @admin.action(description="Revoke the selected keys")
    def revoke(self, request: HttpRequest, queryset: Any) -> None:
        count = queryset.filter(revoked=False).update(revoked=True, revoked_at=timezone.now())
        clear_cache()
        self.message_user(
            request, f"Revoked {count} key(s); each server process stops accepting them within seconds."
        )


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "who", "who_kind", "action", "object_type", "object_id", "request_id"]
    list_filter = ["action", "object_type", "who_kind", "who", ("created_at", admin.DateFieldListFilter)]
    search_fields = ["who", "object_id", "request_id"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
