"""The walk-throughs of README.md and docs/*.md run, exactly as written, against a live modelhub.

One page is one test: a fresh server (tests/live.py: migrated data folder, ASGI server, worker, as `make run`
starts them) and one bash in a copy-free view of the checkout; its bash blocks run in order and each shown
Output must match. The format is described in tests/docs/walkthroughs.py and docs/contributing-docs.md.
"""

import os
from pathlib import Path

import pytest

from tests.docs.walkthroughs import (
    Shell,
    checkout_view,
    other_ports,
    parse_page,
    run_blocks,
    server_env,
)
from tests.live import ROOT, live_service

# docs/_incoming/ holds drafts for the lead to fold into the pages: neither published nor run.
PAGES = [
    ROOT / "README.md",
    *sorted(path for path in (ROOT / "docs").rglob("*.md") if "_incoming" not in path.parts),
]


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
            run_blocks(page, shell, ports=ports)
        finally:
            shell.close()
