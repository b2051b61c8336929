"""manage.py revoke_api_key NAME: the key stops working within MODELHUB_KEY_CACHE_SECONDS on every server."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from access.keys import key_revoke
from access.models import APIKey


class Command(BaseCommand):
    help = "Revoke an API key by name."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name")

    def handle(self, *args: Any, **options: Any) -> None:
        key = APIKey.objects.filter(name=options["name"]).first()
        if key is None:
            raise CommandError(f"No API key named {options['name']!r}")
        if not key_revoke(key_id=key.pk):
            self.stdout.write(f"API key {key.name!r} was already revoked.")
            return
        self.stdout.write(f"Revoked API key {key.name!r} ({key.prefix}).")
