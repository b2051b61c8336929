import hashlib
import os
import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from config.errors import ServiceError
from registry.artifacts import CHUNK_SIZE, open_from_storage
from registry.selectors import model_get


class Command(BaseCommand):
    help = "Write a registered model's ZIP to a local file, checking its sha256 on the way."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id")
        parser.add_argument("out", type=Path, help="Where to write the ZIP.")
        parser.add_argument("--force", action="store_true", help="Overwrite OUT if it exists.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(
        self, *args: Any, model_id: str, out: Path, force: bool, no_progress: bool, **options: Any
    ) -> None:
        try:
            model = model_get(model_id=model_id)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        if not model.file:
            raise CommandError(
                f"Model {model_id} has no stored file (registered from a URL, not fetched yet)."
            )
        if out.exists() and not force:
            raise CommandError(f"{out} exists; use --force to overwrite it.")
        try:
            source = open_from_storage(model.file.name)
        except FileNotFoundError:
            raise CommandError(
                f"The file of model {model_id} is missing from storage; run manage.py registry_fsck."
            ) from None
        partial = out.with_name(out.name + ".part")
        digest = hashlib.sha256()
        try:
            with source, open(partial, "wb") as target, tqdm(
                total=model.size, unit="B", unit_scale=True, unit_divisor=1024, desc=f"Exporting {model_id}",
                disable=no_progress or None, file=sys.stderr,
            ) as bar:  # fmt: skip
                while chunk := source.read(CHUNK_SIZE):
                    digest.update(chunk)
                    target.write(chunk)
                    bar.update(len(chunk))
            if model.sha256 and digest.hexdigest() != model.sha256:
                raise CommandError(
                    f"The stored file of {model_id} is corrupt: sha256 {digest.hexdigest()}, expected {model.sha256}."
                )
            os.replace(partial, out)
        finally:
            partial.unlink(missing_ok=True)
        self.stdout.write(f"Wrote {out} ({model.size} bytes, sha256 {digest.hexdigest()}).")
