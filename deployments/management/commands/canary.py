from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ServiceError
from deployments import services
from deployments.management.commands._follow import follow


class Command(BaseCommand):
    help = (
        "Promote, roll back or set the weight of a running canary or shadow deployment "
        "(as POST /deploy/{task_id}/promote|rollback|weight), then show what the worker does."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        for action, text in (
            ("promote", "the candidate becomes the default; the stable version drains and is removed"),
            ("rollback", "the candidate gets 0 % and is removed; the stable version serves everything"),
            ("weight", "send (canary) or copy (shadow) this share of version-less requests to the candidate"),
        ):
            command = sub.add_parser(action, help=text)
            command.add_argument("task_id")
            if action == "weight":
                command.add_argument("weight", type=int, help="0-100")
            command.add_argument("--no-wait", action="store_true", help="Return once the request is accepted")
            command.add_argument("--timeout", type=float, default=900)

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        weight = options.get("weight")
        if weight is not None and not 0 <= weight <= 100:
            raise CommandError("weight must be from 0 to 100.")
        try:
            task = services.task_control(task_id=options["task_id"], action=action, weight=weight)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"{action} requested for task {task.pk}")
        if not options["no_wait"]:
            follow(self, task, timeout=options["timeout"], until_held=action == "weight")
