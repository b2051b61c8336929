"""The documentation site builds offline with `mkdocs build --strict`: no broken link or anchor, no page
left out of the nav, nothing fetched from the network (no Google fonts, no social cards)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tests.live import ROOT


def build(config: Path, site: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )


def test_the_site_builds_strictly(tmp_path: Path) -> None:
    result = build(ROOT / "mkdocs.yml", tmp_path / "site")
    assert result.returncode == 0, result.stderr
    home = (tmp_path / "site" / "index.html").read_text()
    assert "five-minute tour" in home  # the home page is README.md (mkdocs_hooks.py)
    assert 'href="deployments/"' in home  # its docs/ links made site-relative
    assert "fonts.googleapis.com" not in home


def test_a_broken_anchor_fails_the_build(tmp_path: Path) -> None:
    """Guards the strictness itself: mkdocs only checks anchors when mkdocs.yml's `validation` asks it to."""
    copy = tmp_path / "copy"
    shutil.copytree(ROOT / "docs", copy / "docs")
    for name in ("mkdocs.yml", "mkdocs_hooks.py", "README.md"):
        shutil.copy(ROOT / name, copy / name)
    with (copy / "docs" / "registry.md").open("a") as page:
        page.write("\nSee [the deployments](deployments.md#no-such-section).\n")
    result = build(copy / "mkdocs.yml", tmp_path / "site")
    assert result.returncode != 0
    assert "no-such-section" in result.stderr
