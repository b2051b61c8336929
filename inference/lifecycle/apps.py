from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "inference.lifecycle"
    label = "lifecycle"
    verbose_name = "Model lifecycle"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inference.lifecycle import receivers  # noqa: F401
