"""`manage.py geti_import PROJECT_ID MODEL_ID:GROUP_ID ...`: import OpenVINO models from Geti, with progress bars."""

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from tqdm import tqdm

from config.errors import ServiceError
from geti.client import GetiConfig
from geti.services import ModelRef, import_job_create, import_job_run


class TqdmProgress:
    """One progress bar per export download."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.bars: dict[str, tqdm] = {}

    def started(self, optimized_model_id: str, total_bytes: int | None) -> None:
        if self.enabled:
            self.bars[optimized_model_id] = tqdm(
                total=total_bytes,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=optimized_model_id,
                file=sys.stderr,
                leave=True,
            )

    def advanced(self, optimized_model_id: str, nbytes: int) -> None:
        if optimized_model_id in self.bars:
            self.bars[optimized_model_id].update(nbytes)

    def finished(self, optimized_model_id: str) -> None:
        bar = self.bars.pop(optimized_model_id, None)
        if bar is not None:
            bar.close()


class Command(BaseCommand):
    help = (
        "Import OpenVINO optimized models from a Geti project into the registry, all or nothing. Each model is "
        "OPTIMIZED_MODEL_ID:GROUP_ID as `manage.py geti_projects` lists them; the registry id is the optimized model id."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_id")
        parser.add_argument("models", nargs="+", metavar="MODEL_ID:GROUP_ID")
        parser.add_argument("--no-progress", action="store_true", help="No progress bars.")

    def handle(self, *args: Any, **options: Any) -> None:
        refs = []
        for item in options["models"]:
            model_id, _, group_id = item.partition(":")
            if not model_id or not group_id:
                raise CommandError(f"{item!r} is not MODEL_ID:GROUP_ID.")
            refs.append(ModelRef(id=model_id, group_id=group_id))
        try:
            GetiConfig.from_settings()
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        job = import_job_create(project_id=options["project_id"], refs=refs, enqueue=False)
        finished = import_job_run(job_id=job.pk, progress=TqdmProgress(enabled=not options["no_progress"]))
        if finished is None or finished.status_code is None:
            raise CommandError(f"Import job {job.pk} did not run.")
        if finished.status_code >= 300:
            raise CommandError(f"HTTP {finished.status_code}: {finished.message}")
        self.stdout.write(finished.message)
