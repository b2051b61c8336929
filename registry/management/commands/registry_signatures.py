"""Fill the signature of registered models that have none (models stored before signatures existed)."""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from registry import services


class Command(BaseCommand):
    help = "Read the signature (inputs/outputs) of stored models that have none; --all re-reads every model."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="Re-read the signature of every stored model.")

    def handle(self, *args: Any, **options: Any) -> None:
        read, unreadable = services.model_signatures_fill(all_models=options["all"])
        self.stdout.write(f"{read} signature(s) read, {unreadable} model(s) without a readable model file.")
