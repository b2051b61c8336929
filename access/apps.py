from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "access"
    verbose_name = "Access: API keys and audit"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from access import schema  # noqa: F401  (registers the OpenAPI security schemes)
