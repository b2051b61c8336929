"""The serving overview, a servable's history page and the confirmed deploy / roll back / undeploy actions."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.utils import timezone

from console import views
from deployments.models import DeploymentTask
from inference.models import Servable, TrafficSample
from registry.models import Model

pytestmark = pytest.mark.django_db


def test_pages_need_a_staff_login(served: Model) -> None:
    for url in ("/admin/console/", "/admin/console/cards/const", "/admin/console/servables/const/"):
        response = Client().get(url)
        assert response.status_code == 302 and "/admin/login/" in response["Location"], url


def test_views_declare_their_access_policy() -> None:
    assert views.overview.access_policy == {"GET": "read"}
    assert views.card.access_policy == {"GET": "read"}
    assert views.deploy.access_policy == {"GET": "read", "POST": "deploy"}


def test_overview_shows_versions_states_default_ram_and_traffic(staff: Client, served: Model) -> None:
    TrafficSample.objects.create(
        process_id="host:1:1", servable_name="const", version=1, started_at=timezone.now() - timedelta(seconds=30),
        seconds=10, requests=600, failures=0, latency_buckets=[0] * 8 + [600] + [0] * 20, latency_sum_us=0,
    )  # fmt: skip
    html = staff.get("/admin/console/").content.decode()
    assert 'data-card-url="/admin/console/cards/const"' in html
    assert "console-state-AVAILABLE" in html and "(default)" in html and "3.0\xa0MB" in html
    assert (
        "<svg" in html and "requests/s" in html and 'class="console-rps">30.0<'
    )  # 600 requests in the last 20 s in html
    assert "overview.js" in html


def test_one_broken_card_shows_its_error_and_the_others_render(
    staff: Client, served: Model, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    Servable.objects.create(name="other")
    real = views.card_context

    def failing(name: str):  # type: ignore[no-untyped-def]
        if name == "other":
            raise RuntimeError("the database said no")
        return real(name)

    monkeypatch.setattr(views, "card_context", failing)
    response = staff.get("/admin/console/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "This card could not be shown: the database said no" in html
    assert "console-state-AVAILABLE" in html  # the healthy card


def test_card_fragment_is_polled_alone(staff: Client, served: Model) -> None:
    response = staff.get("/admin/console/cards/const")
    assert response.status_code == 200 and response.content.decode().lstrip().startswith("<section")
    assert staff.get("/admin/console/cards/nothing").status_code == 404


def test_deploy_needs_confirmation_then_creates_a_task(staff: Client, served: Model) -> None:
    page = staff.get("/admin/console/servables/const/deploy")
    assert page.status_code == 200 and 'name="confirm"' in page.content.decode()
    assert not DeploymentTask.objects.exists()
    response = staff.post("/admin/console/servables/const/deploy", {"model_id": "m1", "confirm": "yes"})
    assert response.status_code == 302
    task = DeploymentTask.objects.get()
    assert (task.kind, task.model_id, task.servable_name) == ("deploy", "m1", "const")


def test_undeploy_creates_a_deletion_of_the_default_model(staff: Client, served: Model) -> None:
    assert "m1" in staff.get("/admin/console/servables/const/undeploy").content.decode()
    staff.post("/admin/console/servables/const/undeploy", {"model_id": "m1", "confirm": "yes"})
    assert DeploymentTask.objects.get().kind == "delete"


def test_history_shows_versions_before_and_after_steps_and_rollback(staff: Client, served: Model) -> None:
    created = timezone.now() - timedelta(minutes=1)
    DeploymentTask.objects.create(
        kind="deploy", model_id="m2", servable_name="const", status="done", detail="Model m2 serves as const 2",
        metadata={
            "previous": {"version": 1, "model_id": "m1"}, "new": {"servable": "const", "version": 2, "model_id": "m2"},
            "switched_at": created.isoformat(), "time_to_switch_seconds": 3.5, "finished_at": timezone.now().isoformat(),
            "steps": [{"name": "warm-up", "status": "done", "started_at": created.isoformat(),
                       "finished_at": (created + timedelta(seconds=2)).isoformat(), "detail": "ready on 2 processes"}],
        },
    )  # fmt: skip
    html = staff.get("/admin/console/servables/const/").content.decode()
    assert "Last deploy: <strong" in html  # on the card as well
    assert "version 1 &rarr; 2" in html and "switched after 3.5 s" in html and "ready on 2 processes" in html
    assert "Roll back to version 1" in html and "asked by (not recorded)" in html
    staff.post("/admin/console/servables/const/rollback", {"confirm": "yes"})
    rollback = DeploymentTask.objects.exclude(model_id="m2").get()
    assert (rollback.kind, rollback.model_id) == ("deploy", "m1")


def test_a_switch_the_history_shows_done_always_comes_with_its_rollback_button(
    staff: Client, served: Model
) -> None:
    """The page reads the tasks more than once while the worker may finish one: it must never show the switch
    done in the history without the button to roll it back (the browser test once clicked a missing button)."""
    created = timezone.now() - timedelta(minutes=1)
    task = DeploymentTask.objects.create(
        kind="deploy", model_id="m2", servable_name="const", status="processing",
        metadata={"previous": {"version": 1, "model_id": "m1"}, "new": {"servable": "const", "version": 2, "model_id": "m2"},
                  "switched_at": created.isoformat()},
    )  # fmt: skip
    finished = []

    def worker_finishes_after_the_first_read(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        result = execute(sql, params, many, context)
        if not finished and "deployments_deploymenttask" in sql and sql.lstrip().upper().startswith("SELECT"):
            finished.append(sql)  # the worker's finish() lands between this read and the next
            DeploymentTask.objects.filter(pk=task.pk).update(status="done")
        return result

    with connection.execute_wrapper(worker_finishes_after_the_first_read):
        html = staff.get("/admin/console/servables/const/").content.decode()
    assert finished and DeploymentTask.objects.get(pk=task.pk).status == "done"
    assert 'class="status-done"' not in html or "Roll back to version 1" in html
    html = staff.get("/admin/console/servables/const/").content.decode()
    assert 'class="status-done"' in html and "Roll back to version 1" in html


def test_admin_index_links_to_the_overview(staff: Client) -> None:
    assert 'href="/admin/console/"' in staff.get("/admin/").content.decode()


def test_servables_only_the_server_processes_know_get_a_card(staff: Client, served: Model) -> None:
    from inference.models import ServingProcess, VersionReport, VersionState

    process = ServingProcess.objects.get()
    VersionReport.objects.create(
        process=process, servable_name="from-config", version=4, state=VersionState.AVAILABLE
    )
    html = staff.get("/admin/console/cards/from-config").content.decode()
    assert "highest available version (config.json)" in html and "console-state-AVAILABLE" in html


def test_under_auth_all_staff_read_the_console_and_only_deployers_act(served: Model, settings) -> None:  # type: ignore[no-untyped-def]
    from django.contrib.auth.models import User

    from access import keys

    keys.clear_cache()
    settings.MODELHUB_AUTH = "all"
    viewer = Client()
    viewer.force_login(User.objects.create_user("viewer", password="pw", is_staff=True))
    assert viewer.get("/admin/console/").status_code == 200
    assert viewer.get("/admin/console/cards/const").status_code == 200
    refused = viewer.post("/admin/console/servables/const/deploy", {"model_id": "m1", "confirm": "yes"})
    assert refused.status_code == 403 and not DeploymentTask.objects.exists()
    operator = Client()
    operator.force_login(User.objects.create_superuser("op", "op@example.com", "pw"))
    operator.post("/admin/console/servables/const/deploy", {"model_id": "m1", "confirm": "yes"})
    task = DeploymentTask.objects.get()
    assert task.requested_by and "op" in task.requested_by
    assert "asked by " + task.requested_by in operator.get("/admin/console/servables/const/").content.decode()
