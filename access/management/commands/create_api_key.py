"""manage.py create_api_key NAME --scopes read,write [--expires-in-days N]: prints the key once."""

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import IntegrityError
from django.utils import timezone

from access.keys import key_create, parse_scopes
from access.policy import KEY_SCOPES


class Command(BaseCommand):
    help = "Create an API key and print it (once: only its hash is stored)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("name", help="Who or what uses the key")
        parser.add_argument("--scopes", required=True, help=f"Comma-separated: {','.join(KEY_SCOPES)}")
        parser.add_argument("--expires-in-days", type=int, default=None, help="Default: never expires")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            scopes = parse_scopes(options["scopes"])
        except ValueError as error:
            raise CommandError(str(error)) from None
        days = options["expires_in_days"]
        if days is not None and days < 1:
            raise CommandError("--expires-in-days must be at least 1")
        expires_at = timezone.now() + timedelta(days=days) if days else None
        try:
            new = key_create(name=options["name"], scopes=scopes, expires_at=expires_at)
        except IntegrityError:
            raise CommandError(f"An API key named {options['name']!r} already exists") from None
        self.stdout.write(new.secret)
        self.stderr.write(
            f"API key {options['name']!r} created with scopes {','.join(scopes)}"
            + (f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else "")
            + ". It is shown only now: store it safely. Send it as 'Authorization: Bearer <key>'."
        )
