from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from registry.integrity import registry_check, registry_repair


class Command(BaseCommand):
    help = (
        "Check that the database and the artifact storage agree: report stored files no model refers to, models "
        "whose file is missing, and stale upload temp files. --repair deletes them. Exit status 1 if problems remain."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--repair", action="store_true", help="Delete orphan files, broken models and stale temp files."
        )
        parser.add_argument(
            "--grace-seconds",
            type=float,
            default=600,
            help="Ignore stored files younger than this (an upload in flight stores its file just before its row).",
        )

    def handle(self, *args: Any, repair: bool, grace_seconds: float, **options: Any) -> None:
        report = registry_check(grace_seconds=grace_seconds)
        out = self.stdout.write
        out(f"Checked {report.models_checked} model(s) and {report.files_checked} stored file(s).")
        out(f"Orphan files (stored, no model refers to them): {len(report.orphan_files)}")
        for name in report.orphan_files:
            out(f"  {name}")
        out(f"Models whose file is missing: {len(report.broken_models)}")
        for broken in report.broken_models:
            out(f"  {broken.id} ({broken.name} {broken.version}): {broken.file}")
        out(f"Stale upload temp files: {len(report.stale_temp_files)}")
        for path in report.stale_temp_files:
            out(f"  {path}")
        if report.clean:
            out(self.style.SUCCESS("OK: database and storage agree."))
            return
        if not repair:
            out(self.style.WARNING("Problems found; run again with --repair to delete them."))
            raise SystemExit(1)
        result = registry_repair(report)
        out(
            self.style.SUCCESS(
                f"Repaired: deleted {len(result.deleted_files)} orphan file(s), {len(result.deleted_models)} "
                f"model(s) without a file, {len(result.deleted_temp_files)} temp file(s)."
            )
        )
        if result.refused:
            for line in result.refused:
                out(self.style.ERROR(f"  not deleted: {line}"))
            raise SystemExit(1)
