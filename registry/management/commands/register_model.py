import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from config.errors import ServiceError, ValidationFailed
from registry import services
from registry.artifacts import stage_file
from registry.serializers import ModelFieldsSerializer

# Measured or URL-only fields make no sense for a local file.
_SKIPPED = {"size", "source_url", "sha256"}


def metadata_fields() -> list[str]:
    return [name for name in ModelFieldsSerializer().fields if name not in _SKIPPED]


class Command(BaseCommand):
    help = "Register a model from a local ZIP with the same rules as POST /models; prints the new id."

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        # --version is the model's version here, not Django's.
        return super().create_parser(prog_name, subcommand, conflict_handler="resolve", **kwargs)

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("path", type=Path, help="The ZIP holding the model files.")
        for name in metadata_fields():
            field = ModelFieldsSerializer().fields[name]
            parser.add_argument(
                f"--{name.replace('_', '-')}",
                dest=name,
                required=name in {"name", "version"},
                help=field.help_text or f"The model's {name.replace('_', ' ')} (as in POST /models).",
            )
        parser.add_argument("--no-progress", action="store_true", help="No progress bar.")

    def handle(self, *args: Any, path: Path, no_progress: bool, **options: Any) -> None:
        if not path.is_file():
            raise CommandError(f"{path} is not a file.")
        data = {name: options[name] for name in metadata_fields() if options.get(name) is not None}
        serializer = ModelFieldsSerializer(data=data, partial=True)
        if not serializer.is_valid():
            raise CommandError(
                "; ".join(f"{key}: {' '.join(map(str, errors))}" for key, errors in serializer.errors.items())
            )
        with tqdm(
            total=path.stat().st_size, unit="B", unit_scale=True, unit_divisor=1024, desc=f"Staging {path.name}",
            disable=no_progress or None, file=sys.stderr,
        ) as bar:  # fmt: skip
            staged = stage_file(path, progress=bar.update)
        try:
            model = services.model_create(fields=dict(serializer.validated_data), archive=staged)
        except ValidationFailed as exc:
            raise CommandError(
                "; ".join(f"{'.'.join(map(str, e['loc'][1:]))}: {e['msg']}" for e in exc.errors)
            ) from None
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stderr.write(
            f"Registered {model.name} {model.version} ({model.size} bytes, {model.detected_format})."
        )
        self.stdout.write(model.id)
