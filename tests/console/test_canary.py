"""The console while a canary or shadow runs: both versions side by side, and the confirmed promote / roll back /
set weight buttons, which write the same request to the task as the API."""

from datetime import timedelta

import pytest
from django.test import Client
from django.utils import timezone

from console import views
from deployments.models import DeploymentTask
from inference.models import TrafficSample
from registry.models import Model

pytestmark = pytest.mark.django_db


def running_canary(mode: str = "canary", weight: int = 20) -> DeploymentTask:
    now = timezone.now()
    for version, requests, failures, bucket in ((1, 800, 0, 8), (2, 200, 20, 10)):
        TrafficSample.objects.create(
            process_id="host:1:1", servable_name="const", version=version, started_at=now - timedelta(seconds=8),
            seconds=5, requests=requests, failures=failures,
            latency_buckets=[0] * bucket + [requests - failures] + [0] * (28 - bucket), latency_sum_us=0,
        )  # fmt: skip
    return DeploymentTask.objects.create(
        kind="deploy", model_id="m2", servable_name="const", status="processing",
        config={"strategy": mode, "weight": weight},
        metadata={"strategy": mode, "weight": weight, "candidate": {"servable": "const", "version": 2, "stable": 1},
                  "current_step": f"{mode} {weight}%", "steps": []},
    )  # fmt: skip


def test_the_card_shows_the_weights_and_both_versions_side_by_side(staff: Client, served: Model) -> None:
    task = running_canary()
    html = staff.get("/admin/console/cards/const").content.decode()
    assert "Canary running" in html and 'class="console-weight">20%<' in html
    table = html.split('class="console-side-by-side"')[1].split("</table>")[0]
    rows = [row for row in table.split("<tr>")[2:]]
    assert rows[0].startswith("<td>stable</td><td>1</td><td>80%</td>") and rows[1].startswith(
        "<td>canary</td><td>2</td><td>20%</td>"
    ), table
    assert "<td>10.0</td><td>1.00</td>" in rows[1]  # 200 requests, 20 failed, in the last 20 s
    assert "/admin/console/servables/const/canary/promote" in html and task.pk[:5] in html


def test_a_shadow_keeps_the_stable_version_at_100_percent(staff: Client, served: Model) -> None:
    running_canary("shadow", 30)
    html = staff.get("/admin/console/cards/const").content.decode()
    assert "Shadow running" in html and "<td>stable</td><td>1</td><td>100%</td>" in html
    assert "<td>shadow</td><td>2</td><td>30%</td>" in html


def test_promote_rollback_and_weight_need_confirmation_then_reach_the_task(
    staff: Client, served: Model
) -> None:
    task = running_canary()
    page = staff.get("/admin/console/servables/const/canary/weight").content.decode()
    assert 'name="weight"' in page and 'value="20"' in page and 'name="confirm"' in page
    task.refresh_from_db()
    assert task.control is None
    assert (
        staff.post(
            "/admin/console/servables/const/canary/weight", {"confirm": "yes", "weight": "101"}
        ).status_code
        == 302
    )
    task.refresh_from_db()
    assert task.control is None  # refused: not a weight
    staff.post("/admin/console/servables/const/canary/weight", {"confirm": "yes", "weight": "50"})
    task.refresh_from_db()
    assert (
        task.control["action"] == "weight" and task.control["weight"] == 50 and task.control["by"] == "root"
    )
    DeploymentTask.objects.filter(pk=task.pk).update(control=None)
    assert "Promote version 2" in staff.get("/admin/console/servables/const/canary/promote").content.decode()
    staff.post("/admin/console/servables/const/canary/promote", {"confirm": "yes"})
    task.refresh_from_db()
    assert task.control["action"] == "promote"
    assert staff.get("/admin/console/servables/const/canary/explode").status_code == 404
    assert views.canary.access_policy == {"GET": "read", "POST": "deploy"}


def test_without_a_running_canary_the_buttons_redirect_with_a_message(staff: Client, served: Model) -> None:
    response = staff.get("/admin/console/servables/const/canary/promote", follow=True)
    assert "No canary or shadow of const is running" in response.content.decode()
    assert "console-side-by-side" not in staff.get("/admin/console/cards/const").content.decode()


def test_the_deploy_page_starts_a_manual_canary(staff: Client, served: Model) -> None:
    assert 'name="strategy"' in staff.get("/admin/console/servables/const/deploy").content.decode()
    staff.post(
        "/admin/console/servables/const/deploy",
        {"model_id": "m1", "confirm": "yes", "strategy": "canary", "weight": "25"},
    )
    task = DeploymentTask.objects.get()
    assert task.config["strategy"] == "canary" and task.config["weight"] == 25
