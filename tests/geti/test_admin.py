import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.test import APIClient

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("inline_tasks")]


@pytest.fixture
def admin_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    return client


def test_admin_shows_where_an_imported_model_came_from(fake_geti, admin_client):
    group, model, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    project = fake_geti.projects[0]
    response = APIClient().post(
        f"/projects/{project.id}/geti-models/download",
        {"models": [{"id": fp16.id, "group_id": group.id}]},
        format="json",
    )
    assert response.status_code == 201

    change = admin_client.get(f"/admin/registry/model/{fp16.id}/change/")
    assert change.status_code == 200
    page = change.content.decode()
    assert "Imported from Geti" in page
    for value in (project.id, group.id, model.id, fp16.id, fake_geti.url):
        assert value in page

    listing = admin_client.get("/admin/registry/model/").content.decode()
    # Names in the column, the ids in its tooltip (24-digit ids would widen the list past the screen).
    assert f'title="project {project.id} / model {fp16.id}">Vehicle detection / YOLOX</span>' in listing

    jobs = admin_client.get("/admin/geti/getiimportjob/").content.decode()
    assert f"Model(s): {fp16.id} registered." in jobs
    assert admin_client.get("/admin/registry/model/add/").status_code == 200
