from django.apps import AppConfig


class GetiConfig(AppConfig):
    name = "geti"
    verbose_name = "Intel Geti integration"
