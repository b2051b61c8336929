"""manage.py build_genai_models DIR [--zip]: three tiny openvino-genai models to try /v3 without a download."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandParser

from inference.genai import builder


class Command(BaseCommand):
    help = (
        "Build tiny random-weight models (a causal LM, an embedding encoder, a reranker) with their tokenizers "
        "into DIR/tiny-llm, DIR/tiny-embed and DIR/tiny-rerank; with --zip also DIR/<name>.zip for POST /models."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("directory", type=Path)
        parser.add_argument("--zip", action="store_true", help="also write a ZIP of each folder")

    def handle(self, *args: object, **options: object) -> None:
        directory = Path(str(options["directory"]))
        for name, folder in builder.build_all(directory).items():
            line = f"{name}: {folder}"
            if options["zip"]:
                archive = directory / f"{name}.zip"
                builder.zip_folder(folder, archive)
                line += f"  ({archive}, {archive.stat().st_size // 1024} KiB)"
            self.stdout.write(line)
        self.stdout.write(
            self.style.SUCCESS("Register a ZIP with POST /models, then serve it (see docs/llm.md).")
        )
