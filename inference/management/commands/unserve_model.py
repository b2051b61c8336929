from django.core.management.base import BaseCommand, CommandError, CommandParser

from config.errors import ServiceError
from inference.models import VersionState
from inference.selectors import served_versions_of
from inference.services import servable_unload, wait_for_version


class Command(BaseCommand):
    help = "Stop serving a registry model on every server process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="Registry model id")
        parser.add_argument("--wait", action="store_true", help="Wait until no live server process holds it")
        parser.add_argument("--timeout", type=float, default=60.0)

    def handle(self, *args: object, **options: object) -> None:
        model_id = str(options["model_id"])
        served = [(row.servable.name, row.version) for row in served_versions_of(model_id)]
        try:
            removed = servable_unload(model_id=model_id)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        if not removed:
            self.stdout.write(f"Model {model_id} was not served.")
            return
        self.stdout.write(
            f"Model {model_id} is no longer served ({', '.join(f'{n}:{v}' for n, v in served)})."
        )
        if options["wait"]:
            for name, version in served:
                if not wait_for_version(
                    name, version, timeout=float(options["timeout"]), state=VersionState.END
                ):  # type: ignore[arg-type]
                    raise CommandError(
                        f"{name} version {version} is still loaded somewhere after {options['timeout']}s."
                    )
            self.stdout.write(self.style.SUCCESS("Unloaded from every server process."))
