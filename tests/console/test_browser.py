"""The operator console in a real browser: Debian's chromium driven by Playwright against a live modelhub
(two server processes and a django-q2 worker) while a load generator sends inferences.

Screenshots of the main pages are kept in tests/artifacts/ (git-ignored) for a human to look at.
"""

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.deployments.loadgen import LoadGenerator
from tests.deployments.test_green_deployment import deploy, register, wait_task
from tests.live import ROOT, LiveService, live_service
from tests.modelfiles import build_constant_model, ir_zip

CHROMIUM = os.environ.get("MODELHUB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = ROOT / "tests" / "artifacts"
PASSWORD = "console-test-password"

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        not Path(CHROMIUM).exists(), reason=f"chromium not installed at {CHROMIUM} (apt-get install chromium)"
    ),
]

sync_api = pytest.importorskip(
    "playwright.sync_api", reason="playwright (Python package) is in the test extra"
)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveService]:
    # On the topology of the run: embedded defaults in `make test`, PostgreSQL + Redis + S3 in `make test-scaled`.
    env = {"MODELHUB_TRAFFIC_SECONDS": "1", "DJANGO_SUPERUSER_PASSWORD": PASSWORD}
    with live_service(tmp_path_factory.mktemp("console"), workers=2, env=env) as running:
        running.manage("createsuperuser", "--noinput", "--username", "operator", "--email", "op@example.com")
        yield running


@pytest.fixture(scope="module")
def browser() -> Iterator["sync_api.Browser"]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--no-first-run", "--disable-sync"],
        )  # fmt: skip
        yield browser
        browser.close()


@pytest.fixture
def page(browser: "sync_api.Browser", service: LiveService) -> Iterator["sync_api.Page"]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000}, base_url=service.url)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto("/admin/login/?next=/admin/")
    page.fill("#id_username", "operator")
    page.fill("#id_password", PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url("**/admin/")
    yield page
    context.close()


def shot(page: "sync_api.Page", name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def default_version(page: "sync_api.Page") -> str:
    return page.locator(".console-card .console-default").first.inner_text().strip()


def test_operator_sees_traffic_deploys_rolls_back_and_reads_a_signature(
    service: LiveService, page: "sync_api.Page", tmp_path: Path
) -> None:
    v1 = register(service, ir_zip(build_constant_model(1.0), tmp_path), name="const", version="1")
    v2 = register(service, ir_zip(build_constant_model(2.0), tmp_path), name="const", version="2")
    assert wait_task(service, "deploy", deploy(service, v1)["task_id"])["status"] == "done"
    load = LoadGenerator(service.url, "const", threads=4).start()
    try:
        # The overview: the card fills with traffic by itself (the page is not reloaded).
        page.goto("/admin/console/")
        assert "console-state-AVAILABLE" in page.content()
        page.wait_for_function(
            "() => { const c = document.querySelector('.console-rps'); return c && parseFloat(c.textContent) > 0; }",
            timeout=90_000,
        )
        card = page.locator(".console-card").first
        assert card.locator("svg polyline").count() >= 1
        assert "requests/s" in card.inner_text()
        assert card.locator(".console-state-AVAILABLE").count() == 2  # both server processes hold version 1
        shot(page, "overview")

        # Deploy version 2 from the servable page, through a confirmation page, and watch it switch.
        card.locator("h2 a").click()
        page.wait_for_url("**/admin/console/servables/const/")
        page.click("text=Deploy a version")
        page.select_option("#id_model_id", v2)
        page.click("#console-confirm")
        page.wait_for_url("**/admin/console/servables/const/")
        assert "Deployment task" in page.locator(".messagelist").inner_text()
        page.wait_for_function(
            "() => document.querySelector('.console-card .console-default').textContent.trim() === '2'",
            timeout=120_000,
        )
        _wait_history(page, "done", count=2)
        shot(page, "servable")

        # Roll back to version 1: the page that shows the switch done offers it (console/views.py reads the
        # history before the rollback target, so a task finishing mid-render cannot hide the button).
        assert page.locator("text=Roll back to version 1").count() == 1
        page.click("text=Roll back to version 1")
        page.click("#console-confirm")
        page.wait_for_url("**/admin/console/servables/const/")
        page.wait_for_function(
            "() => document.querySelector('.console-card .console-default').textContent.trim() === '1'",
            timeout=120_000,
        )
        _wait_history(page, "done", count=3)
        assert "version 2 → 1" in page.locator(".console-timeline").inner_text()
    finally:
        samples = load.stop()
    failed = [s for s in samples if s.error]
    assert samples and not failed, failed[:3]
    assert {s.value for s in samples} >= {1.0, 2.0}
    # Every request answered by either server process is in the stored traffic, once.
    stored, processes = _stored_traffic(service, at_least=len(samples))
    # Which of the two processes answer is the kernel's choice (SO_REUSEPORT, kept-alive connections): all
    # of them may land on one. Summing over processes is tested in tests/inference/test_traffic.py.
    assert processes >= 1
    assert len(samples) <= stored <= len(samples) + 4, (stored, len(samples))  # + requests cut off by stop()

    # The model page shows the signature read at registration.
    page.goto(f"/admin/registry/model/{v1}/change/")
    signature = page.locator("table.console-signature")
    assert (
        "input" in signature.inner_text()
        and "[1,4]" in signature.inner_text()
        and "f32" in signature.inner_text()
    )
    shot(page, "model")
    assert requests.get(f"{service.url}/models/{v1}", timeout=10).json()["signature"]["inputs"][0][
        "shape"
    ] == [1, 4]


@pytest.mark.parametrize(
    "path",
    ["/admin/registry/model/", "/admin/deployments/deploymenttask/", "/admin/inference/servable/",
     "/admin/inference/servingprocess/", "/admin/lifecycle/downloadjob/"],
)  # fmt: skip
def test_admin_lists_do_not_scroll_sideways_at_1400_px(page: "sync_api.Page", path: str) -> None:
    page.goto(path)
    overflow = page.evaluate(
        "() => [document.documentElement.scrollWidth - window.innerWidth,"
        " ...[...document.querySelectorAll('#changelist .results')].map(e => e.scrollWidth - e.clientWidth)]"
    )
    if path == "/admin/registry/model/":
        shot(page, "models")
    assert max(overflow) <= 0, (path, overflow)


def _stored_traffic(service: LiveService, *, at_least: int, timeout: float = 30) -> tuple[int, int]:
    """(requests stored, processes that stored them) once `at_least` requests are stored (each process writes
    its counts every MODELHUB_TRAFFIC_SECONDS), or as they are at the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        [row] = service.query(
            "SELECT COALESCE(SUM(requests), 0) AS stored, COUNT(DISTINCT process_id) AS processes "
            "FROM inference_trafficsample WHERE servable_name = 'const'"
        )
        if row["stored"] >= at_least or time.monotonic() > deadline:
            return int(row["stored"]), int(row["processes"])
        time.sleep(0.2)


def _wait_history(page: "sync_api.Page", status: str, *, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page.reload()
        if page.locator(f".console-timeline > li.status-{status}").count() >= count:
            return
        time.sleep(1)
    raise AssertionError(page.locator(".console-timeline").inner_text())


def test_screenshot_folder_is_git_ignored() -> None:
    ignored = (ROOT / ".gitignore").read_text().split()
    assert "tests/artifacts/" in ignored
