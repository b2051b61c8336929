from django.apps import AppConfig


class ConsoleConfig(AppConfig):
    """The operator console: admin pages for what is served, its traffic and its deployments."""

    name = "console"
    verbose_name = "Operator console"
