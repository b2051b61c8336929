"""`manage.py geti_projects`: the Geti workspace's projects and their importable OpenVINO models, as a table."""

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from geti import selectors
from geti.client import GetiError


class Command(BaseCommand):
    help = "List the projects of the configured Geti workspace with their OpenVINO optimized models (the ids geti_import takes)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_id", nargs="?", help="Only this project.")
        parser.add_argument("--json", action="store_true", help="Print the same JSON as GET /projects.")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            if options["project_id"]:
                projects = [selectors.project_detail(project_id=options["project_id"])]
            else:
                projects = selectors.project_list()
        except (GetiError, selectors.ProjectNotFound) as exc:
            raise CommandError(exc.message) from None
        if options["json"]:
            self.stdout.write(json.dumps(projects, indent=2))
            return
        rows = [
            (
                "PROJECT ID",
                "PROJECT",
                "GROUP ID",
                "GROUP",
                "VER",
                "OPTIMIZED MODEL ID",
                "OPTIMIZED MODEL",
                "PRECISION",
            )
        ]
        for project in projects:
            lines = [
                (
                    project["id"],
                    project["name"],
                    group["id"],
                    group["name"],
                    str(model["version"]),
                    om["id"],
                    om["name"],
                    ",".join(om["precision"]),
                )
                for group in project["model_groups"]
                for model in group["models"]
                for om in model["optimized_models"]
            ]
            rows.extend(
                lines or [(project["id"], project["name"], "-", "-", "-", "-", "(no OpenVINO models)", "-")]
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
        for row in rows:
            self.stdout.write(
                "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
            )
        self.stdout.write(
            f"\n{len(projects)} project(s). Import with: manage.py geti_import PROJECT_ID OPTIMIZED_MODEL_ID:GROUP_ID ..."
        )
