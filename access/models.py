"""API keys (a public prefix plus a hashed secret, scopes, expiry, revocation) and the audit trail."""

from django.conf import settings
from django.db import models
from django.utils import timezone

from access.policy import KEY_SCOPES


class APIKey(models.Model):
    name = models.CharField(
        max_length=100, unique=True, help_text="Who or what uses the key, e.g. 'ci-deployer'."
    )
    prefix = models.CharField(max_length=16, unique=True, editable=False, help_text="Public part of the key.")
    # SHA-256 of the secret part: the secret is 256 random bits, so a slow password hash adds nothing.
    secret_hash = models.CharField(max_length=64, editable=False)
    scopes = models.JSONField(default=list, help_text=f"Any of {', '.join(KEY_SCOPES)}; admin implies all.")
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires.")
    revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(
        null=True, blank=True, help_text="Updated at most once a minute per server process."
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "API key"
        # Grant these to users or groups: they give the same scopes in the browsable API (session login).
        permissions = [(f"scope_{scope}", f"Has the {scope!r} scope in the API") for scope in KEY_SCOPES]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return not self.revoked and not self.is_expired


class AuditEvent(models.Model):
    """Who did what to which object, written by the services (never by views)."""

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    who = models.CharField(
        max_length=150, db_index=True, help_text="Key name, user name, 'anonymous' or 'system'."
    )
    who_kind = models.CharField(max_length=16, help_text="key, user, anonymous or system")
    action = models.CharField(max_length=64, db_index=True)
    object_type = models.CharField(max_length=64, db_index=True)
    object_id = models.CharField(max_length=255, blank=True, db_index=True)
    request_id = models.CharField(max_length=64, blank=True)
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.who} {self.action} {self.object_type} {self.object_id}"
