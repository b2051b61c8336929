import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ServiceError
from deployments import services
from deployments.management.commands._follow import follow
from deployments.models import TaskStatus


class Command(BaseCommand):
    help = (
        "Deploy a registry model through the worker (green by default, or a canary or shadow), and show its "
        "steps as they happen. A manual canary or shadow is followed until it holds its weight."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id")
        parser.add_argument("--name", help="Servable name (default: from the model's name)")
        parser.add_argument("--device", help="OpenVINO device, e.g. CPU")
        parser.add_argument("--nireq", type=int)
        parser.add_argument(
            "--drain", type=float, help="Seconds the old version keeps serving in-flight requests"
        )
        parser.add_argument("--no-warmup", action="store_true")
        parser.add_argument("--strategy", choices=["green", "canary", "shadow"])
        parser.add_argument(
            "--weight", type=int, help="Canary/shadow: percent held until promoted or rolled back"
        )
        parser.add_argument("--steps", help="Canary/shadow: automatic steps, e.g. 10,50,100")
        parser.add_argument(
            "--step-seconds", type=float, help="Canary/shadow: seconds per step before analysis"
        )
        parser.add_argument("--config", help="The whole config as JSON (merged under the options above)")
        parser.add_argument("--no-wait", action="store_true", help="Return once the task is created")
        parser.add_argument("--timeout", type=float, default=900)

    def handle(self, *args: Any, **options: Any) -> None:
        config: dict[str, Any] = json.loads(options["config"]) if options["config"] else {}
        for option, key in (
            ("name", "servable_name"),
            ("device", "target_device"),
            ("nireq", "nireq"),
            ("drain", "drain_seconds"),
            ("strategy", "strategy"),
            ("weight", "weight"),
            ("step_seconds", "step_seconds"),
        ):
            if options[option] is not None:
                config[key] = options[option]
        if options["no_warmup"]:
            config["warmup"] = False
        if options["steps"]:
            try:
                config["steps"] = [int(step) for step in options["steps"].split(",")]
            except ValueError:
                raise CommandError("--steps must be integers separated by commas, e.g. 10,50,100") from None
        try:
            task, _ = services.deployment_create(model_id=options["model_id"], raw_config=config)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Deployment task {task.pk}: {task.status}")
        if task.status == TaskStatus.REFUSED:
            raise CommandError(task.detail)
        if not options["no_wait"]:
            follow(self, task, timeout=options["timeout"], until_held=True)
