import time

import pytest

from geti.client import (
    GetiAuthFailed,
    GetiClient,
    GetiConfig,
    GetiExportNotReady,
    GetiNotConfigured,
    GetiNotFound,
    GetiTimeout,
    GetiUnreachable,
)
from tests.live import free_port


def client() -> GetiClient:
    return GetiClient(GetiConfig.from_settings())


def test_projects_are_read_page_by_page_until_the_last(fake_geti):
    projects = client().list_projects()

    assert [p.name for p in projects] == [p.name for p in fake_geti.projects]
    skips = [query for path, query, _ in fake_geti.requests if path.endswith("/projects")]
    assert skips == ["limit=100&skip=0", "limit=100&skip=2", "limit=100&skip=4"]
    assert all(key_ok for _, _, key_ok in fake_geti.requests)


def test_project_model_groups_and_model_detail_are_typed(fake_geti):
    geti = client()
    project = geti.get_project(fake_geti.project("Defect inspection").id)
    assert project.task_types == ["detection", "classification"]  # dataset and crop are not trainable

    group, model, optimized = fake_geti.optimized("Vehicle detection", "YOLOX", 2, "OpenVINO", "INT8")
    groups = geti.list_model_groups(fake_geti.project("Vehicle detection").id)
    assert [g.name for g in groups] == ["YOLOX", "ATSS"]
    assert [(m.version, m.active_model) for m in groups[0].models] == [(1, False), (2, True)]

    detail = geti.get_model(fake_geti.project("Vehicle detection").id, group.id, model.id)
    assert detail.architecture == "YOLOX"
    assert [label.name for label in detail.labels] == ["car", "truck"]
    found = next(om for om in detail.optimized_models if om.id == optimized.id)
    assert (found.precision, found.is_openvino, found.optimization_type) == (("INT8",), True, "POT")
    assert sum(not om.is_openvino for om in detail.optimized_models) == 1


def test_transient_errors_on_reads_are_retried(fake_geti):
    fake_geti.fail_json = 2
    assert client().get_project(fake_geti.projects[0].id).name == "Vehicle detection"
    assert len(fake_geti.requests) == 3


def test_reads_give_up_after_the_configured_retries(fake_geti, settings):
    settings.GETI_RETRIES = 2
    fake_geti.fail_json = 10
    with pytest.raises(GetiUnreachable, match="unavailable \\(HTTP 503"):
        client().get_project(fake_geti.projects[0].id)
    assert len(fake_geti.requests) == 3


def test_an_export_that_is_not_ready_is_retried_with_growing_waits(fake_geti):
    group, model, optimized = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    fake_geti.not_ready[optimized.id] = 3
    waits: list[float] = []
    with client().open_optimized_model_export(
        fake_geti.projects[0].id, group.id, model.id, optimized.id, sleep=waits.append
    ) as download:
        data = b"".join(download.chunks)
    assert data == fake_geti.export_zip(optimized) and download.total_bytes == len(data)
    assert fake_geti.export_attempts[optimized.id] == 4
    assert len(waits) == 3 and waits[0] < waits[1] < waits[2]


def test_an_export_never_ready_stops_at_the_deadline_without_a_busy_loop(fake_geti, settings):
    settings.GETI_EXPORT_DEADLINE_SECONDS = 0.5
    settings.GETI_RETRY_BACKOFF_SECONDS = 0.05
    group, model, optimized = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    fake_geti.not_ready[optimized.id] = 1000
    started = time.monotonic()
    with pytest.raises(
        GetiExportNotReady, match="not have the export of optimized model .* ready within 0.5 s"
    ) as caught:
        with client().open_optimized_model_export(fake_geti.projects[0].id, group.id, model.id, optimized.id):
            pass
    assert caught.value.status_code == 504
    assert time.monotonic() - started < 2
    assert 2 <= fake_geti.export_attempts[optimized.id] <= 6


def test_a_wrong_token_is_reported_without_the_token(fake_geti, settings):
    settings.GETI_TOKEN = "wrong-secret-token-42"
    with pytest.raises(GetiAuthFailed) as caught:
        client().list_projects()
    assert caught.value.status_code == 502
    assert "rejected the API key (HTTP 401): check GETI_TOKEN" in caught.value.message
    assert "wrong-secret-token-42" not in caught.value.message


def test_an_unreachable_host_is_a_clear_error(fake_geti, settings):
    settings.GETI_HOST = f"http://127.0.0.1:{free_port()}"
    settings.GETI_RETRIES = 0
    with pytest.raises(
        GetiUnreachable, match="Cannot reach the Geti server at http://127.0.0.1:\\d+ \\(GETI_HOST\\)"
    ):
        client().list_projects()


def test_a_server_that_does_not_answer_times_out(fake_geti, settings):
    settings.GETI_TIMEOUT_SECONDS = 0.3
    settings.GETI_RETRIES = 0
    fake_geti.hang = 1.0
    with pytest.raises(GetiTimeout, match="did not answer .* within 0.3 s") as caught:
        client().list_projects()
    assert caught.value.status_code == 504


def test_missing_configuration_names_every_missing_variable(settings):
    settings.GETI_HOST = "geti.example.com"
    settings.GETI_TOKEN = ""
    settings.GETI_SERVER_API_VERSION = "v1"
    settings.GETI_ORGANIZATION_ID = ""
    settings.GETI_WORKSPACE_ID = "ws"
    with pytest.raises(GetiNotConfigured) as caught:
        GetiConfig.from_settings()
    assert caught.value.missing == ["GETI_TOKEN", "GETI_ORGANIZATION_ID"]
    assert caught.value.status_code == 503
    assert caught.value.message.startswith(
        "The Geti integration is not configured: missing GETI_TOKEN, GETI_ORGANIZATION_ID."
    )


def test_host_without_scheme_and_numeric_api_version_are_normalised(settings):
    settings.GETI_HOST = "geti.example.com/"
    settings.GETI_TOKEN = "secret-xyz"
    settings.GETI_SERVER_API_VERSION = "1"
    settings.GETI_ORGANIZATION_ID = "o"
    settings.GETI_WORKSPACE_ID = "w"
    config = GetiConfig.from_settings()
    assert config.workspace_url == "https://geti.example.com/api/v1/organizations/o/workspaces/w"
    assert "secret-xyz" not in repr(config)


def test_not_found_carries_getis_error_code_and_bad_ids_never_reach_the_server(fake_geti):
    with pytest.raises(GetiNotFound) as caught:
        client().get_project("0123456789abcdef01234567")
    assert caught.value.error_code == "project_not_found"
    fake_geti.requests.clear()
    with pytest.raises(GetiNotFound):
        client().get_project("../../etc")
    assert fake_geti.requests == []
