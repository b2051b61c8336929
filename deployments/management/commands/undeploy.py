from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ServiceError
from deployments import services
from deployments.management.commands._follow import follow
from deployments.models import TaskStatus


class Command(BaseCommand):
    help = "Remove a model from the inference service (unload everywhere, delete local files) and show the steps."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id")
        parser.add_argument("--no-wait", action="store_true")
        parser.add_argument("--timeout", type=float, default=300)

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            task, _ = services.deletion_create(model_id=options["model_id"])
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Deletion task {task.pk}: {task.status}")
        if task.status == TaskStatus.REFUSED:
            raise CommandError(task.detail)
        if not options["no_wait"]:
            follow(self, task, timeout=options["timeout"])
