import orjson
from django.core.management.base import BaseCommand, CommandParser

from inference.models import Servable, ServingGeneration, VersionReport, VersionState
from inference.selectors import live_processes


class Command(BaseCommand):
    help = "What should be served (database) and what every live server process reports it holds."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Machine-readable output")

    def handle(self, *args: object, **options: object) -> None:
        processes = list(live_processes().order_by("started_at"))
        reports = VersionReport.objects.filter(process__in=processes).order_by(
            "servable_name", "version", "process_id"
        )
        by_version: dict[tuple[str, int], list[dict[str, object]]] = {}
        for report in reports:
            by_version.setdefault((report.servable_name, report.version), []).append(
                {"process": report.process_id, "state": VersionState(report.state).name, "error_code": report.error_code,
                 "error": report.error_message, "warmed_up": report.warmed_up, "ram_bytes": report.ram_bytes}
            )  # fmt: skip
        status = {
            "generation": ServingGeneration.current(),
            "processes": [
                {"id": p.pk, "last_seen": p.last_seen.isoformat(), "generation_seen": p.generation_seen}
                for p in processes
            ],
            "servables": [
                {
                    "name": servable.name,
                    "default_version": servable.default_version,
                    "previous_default_version": servable.previous_default_version,
                    "default_switch_at": servable.default_switch_at.isoformat()
                    if servable.default_switch_at
                    else None,
                    "versions": [
                        {
                            "version": row.version,
                            "model_id": row.model_id,
                            "reports": by_version.get((servable.name, row.version), []),
                        }
                        for row in servable.versions.all()
                    ],
                }
                for servable in Servable.objects.prefetch_related("versions").order_by("name")
            ],
        }
        if options["json"]:
            self.stdout.write(orjson.dumps(status).decode())
            return
        self.stdout.write(f"Generation {status['generation']}; {len(processes)} live server process(es).")
        for servable in status["servables"]:  # type: ignore[attr-defined]
            pin = servable["default_version"] or "highest AVAILABLE"
            self.stdout.write(f"{servable['name']} (default: {pin})")
            for version in servable["versions"]:
                states = (
                    ", ".join(
                        f"{r['state']}{' ' + r['error'] if r['error'] else ''}" for r in version["reports"]
                    )
                    or "not reported"
                )
                self.stdout.write(f"  version {version['version']} (model {version['model_id']}): {states}")
