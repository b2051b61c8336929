"""MkDocs hook: the site's home page is README.md itself (one source), its `docs/` links made site-relative."""

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

README = Path(__file__).resolve().parent / "README.md"


def home_page(readme: str) -> str:
    """README links point into docs/ (right on GitHub); on the site the pages are siblings of the home page."""
    return readme.replace("](docs/", "](")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    files.append(File.generated(config, "index.md", content=home_page(README.read_text())))
    return files
