"""Import jobs: 202 + Location when the import outlasts the wait, one run per job, takeover after a crash."""

from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ
from rest_framework.test import APIClient

from geti.models import GetiImport, GetiImportJob, ImportStatus
from geti.services import ModelRef, import_job_create, import_job_run
from registry.models import Model

pytestmark = pytest.mark.django_db(transaction=True)


def test_an_import_still_running_answers_202_with_a_location_that_later_gives_the_outcome(
    fake_geti, settings
):
    settings.GETI_IMPORT_WAIT_SECONDS = 0.2  # and no worker runs: the job stays queued
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    project_id = fake_geti.projects[0].id

    response = APIClient().post(
        f"/projects/{project_id}/geti-models/download",
        {"models": [{"id": fp16.id, "group_id": group.id}]},
        format="json",
    )

    assert response.status_code == 202
    body = response.json()
    job_id = body["job_id"]
    assert (
        response["Location"]
        == f"http://testserver/projects/{project_id}/geti-models/download/{job_id}"
        == body["status_url"]
    )
    assert (body["status"], body["models"], body["bytes_done"]) == (
        "pending",
        [{"id": fp16.id, "group_id": group.id}],
        0,
    )
    assert OrmQ.objects.count() == 1  # handed to django-q2's broker
    assert APIClient().get(response["Location"]).status_code == 202

    import_job_run(job_id=job_id)  # what the worker does

    later = APIClient().get(response["Location"])
    assert (later.status_code, later.content.decode()) == (201, f"Model(s): {fp16.id} registered.")
    assert GetiImportJob.objects.get(pk=job_id).bytes_done == len(fake_geti.export_zip(fp16))


def test_a_job_delivered_twice_runs_once(fake_geti):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    job = import_job_create(
        project_id=fake_geti.projects[0].id, refs=[ModelRef(fp16.id, group.id)], enqueue=False
    )
    assert import_job_run(job_id=job.pk).status_code == 201
    assert import_job_run(job_id=job.pk) is None
    assert fake_geti.export_attempts[fp16.id] == 1


def test_a_job_running_elsewhere_is_left_alone(fake_geti):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    job = import_job_create(
        project_id=fake_geti.projects[0].id, refs=[ModelRef(fp16.id, group.id)], enqueue=False
    )
    GetiImportJob.objects.filter(pk=job.pk).update(status=ImportStatus.RUNNING, heartbeat_at=timezone.now())
    assert import_job_run(job_id=job.pk) is None
    assert fake_geti.export_attempts[fp16.id] == 0


def test_a_job_whose_worker_died_is_taken_over_and_its_partial_work_redone(fake_geti):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    _, _, fp32 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP32")
    project_id = fake_geti.projects[0].id
    crashed = import_job_create(
        project_id=project_id, refs=[ModelRef(fp16.id, group.id), ModelRef(fp32.id, group.id)], enqueue=False
    )
    # The crashed attempt had registered the first model, then its worker was killed.
    first = import_job_create(project_id=project_id, refs=[ModelRef(fp16.id, group.id)], enqueue=False)
    import_job_run(job_id=first.pk)
    GetiImport.objects.filter(model_id=fp16.id).update(job=crashed)
    GetiImportJob.objects.filter(pk=crashed.pk).update(
        status=ImportStatus.RUNNING, attempts=1, heartbeat_at=timezone.now() - timedelta(hours=1)
    )

    finished = import_job_run(job_id=crashed.pk)

    assert (finished.status_code, finished.attempts) == (201, 2)
    assert finished.message == f"Model(s): {fp16.id}, {fp32.id} registered."
    assert set(Model.objects.values_list("pk", flat=True)) == {fp16.id, fp32.id}
    assert set(GetiImport.objects.values_list("job", flat=True)) == {crashed.pk}


def test_a_job_whose_worker_died_and_was_never_redelivered_reads_as_failed(fake_geti):
    client = APIClient()
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    project_id = fake_geti.projects[0].id
    first = import_job_create(project_id=project_id, refs=[ModelRef(fp16.id, group.id)], enqueue=False)
    import_job_run(job_id=first.pk)
    crashed = import_job_create(project_id=project_id, refs=[ModelRef(fp16.id, group.id)], enqueue=False)
    GetiImport.objects.filter(model_id=fp16.id).update(job=crashed)  # what the dead attempt had registered
    GetiImportJob.objects.filter(pk=crashed.pk).update(
        status=ImportStatus.RUNNING, attempts=1, heartbeat_at=timezone.now() - timedelta(minutes=2)
    )

    response = client.get(f"/projects/{project_id}/geti-models/download/{crashed.pk}")

    assert response.status_code == 500
    assert "worker running this import stopped" in response.content.decode()
    assert not Model.objects.filter(pk=fp16.id).exists()
