"""The walk-throughs of README.md and docs/*.md run, exactly as written, against a live modelhub.

One page is one test: a fresh server (tests/live.py: migrated data folder, ASGI server, worker, as `make run`
starts them) and one bash in a copy-free view of the checkout; its bash blocks run in order and each shown
Output must match. The format is described in tests/docs/walkthroughs.py and docs/contributing-docs.md.
"""

import difflib
import os
from pathlib import Path

import pytest

from tests.docs.walkthroughs import (
    Shell,
    checkout_view,
    other_ports,
    output_matches,
    parse_page,
    server_env,
    with_ports,
)
from tests.live import ROOT, live_service

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]


def _name(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_every_page_follows_the_walkthrough_format() -> None:
    problems = [problem for path in PAGES for problem in parse_page(path).problems]
    assert problems == []


@pytest.mark.skipif(
    os.environ.get("MODELHUB_TEST_TOPOLOGY") == "scaled",
    reason="the pages walk through `make run` on its embedded defaults; `make test` runs them",
)
@pytest.mark.timeout(900)
@pytest.mark.parametrize("path", [path for path in PAGES if parse_page(path).runnable], ids=_name)
def test_walkthrough(path: Path, tmp_path: Path) -> None:
    page = parse_page(path)
    workdir = checkout_view(ROOT, tmp_path / "checkout")
    others = other_ports(page)
    with live_service(tmp_path / "data", env=server_env(page, others)) as server:
        shell = Shell(cwd=workdir, env=server.env, scratch=tmp_path / "blocks")
        try:
            ports = {"http_port": server.port, "grpc_port": server.grpc_port, "others": others}
            for block in page.runnable:
                output = shell.run(block, with_ports(block.code, **ports))
                if block.expected is None:
                    continue
                expected = with_ports(block.expected, **ports)
                if not output_matches(expected, output):
                    diff = "\n".join(
                        difflib.unified_diff(
                            expected.splitlines(), output.splitlines(), "shown", "printed", lineterm=""
                        )
                    )
                    pytest.fail(f"{block.where}: the output shown no longer matches:\n{diff}")
        finally:
            shell.close()
