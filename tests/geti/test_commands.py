import io
import json

import pytest
from django.core.management import CommandError, call_command

from geti.models import GetiImport
from registry.models import Model

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_geti_projects_prints_a_table_of_importable_models(fake_geti):
    group, _, int8 = fake_geti.optimized("Vehicle detection", "YOLOX", 2, "OpenVINO", "INT8")
    lines = run("geti_projects").splitlines()

    assert lines[0].split() == [
        "PROJECT",
        "ID",
        "PROJECT",
        "GROUP",
        "ID",
        "GROUP",
        "VER",
        "OPTIMIZED",
        "MODEL",
        "ID",
        "OPTIMIZED",
        "MODEL",
        "PRECISION",
    ]
    row = next(line for line in lines if int8.id in line)
    assert (
        row.split()[0] == fake_geti.projects[0].id
        and group.id in row
        and "YOLOX OpenVINO INT8" in row
        and row.endswith("INT8")
    )
    assert any("Empty project 2" in line and "(no OpenVINO models)" in line for line in lines)
    assert lines[-1].startswith("5 project(s).")


def test_geti_projects_json_is_the_api_shape(fake_geti):
    projects = json.loads(run("geti_projects", "--json"))
    assert [p["name"] for p in projects][:2] == ["Vehicle detection", "Defect inspection"]
    one = json.loads(run("geti_projects", fake_geti.projects[1].id, "--json"))
    assert [p["id"] for p in one] == [fake_geti.projects[1].id]


def test_geti_projects_reports_errors(fake_geti, settings):
    settings.GETI_TOKEN = "wrong"
    with pytest.raises(CommandError, match="rejected the API key"):
        run("geti_projects")
    settings.GETI_WORKSPACE_ID = ""
    with pytest.raises(CommandError, match="not configured: missing GETI_WORKSPACE_ID"):
        run("geti_projects")


def test_geti_import_registers_models_with_progress_bars(fake_geti, capsys):
    group, _, fp16 = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "OpenVINO", "FP16")
    atss, _, atss_fp16 = fake_geti.optimized("Vehicle detection", "ATSS", 1, "OpenVINO", "FP16")

    out = run("geti_import", fake_geti.projects[0].id, f"{fp16.id}:{group.id}", f"{atss_fp16.id}:{atss.id}")

    assert out.strip() == f"Model(s): {fp16.id}, {atss_fp16.id} registered."
    bars = capsys.readouterr().err
    assert f"{fp16.id}: 100%" in bars and f"{atss_fp16.id}: 100%" in bars
    assert set(Model.objects.values_list("pk", flat=True)) == {fp16.id, atss_fp16.id}
    assert GetiImport.objects.count() == 2


def test_geti_import_fails_with_the_api_status_and_text(fake_geti):
    group, _, onnx = fake_geti.optimized("Vehicle detection", "YOLOX", 1, "ONNX", "FP32")
    with pytest.raises(CommandError, match=f"HTTP 403: Model\\(s\\): {onnx.id} can not be registered."):
        run("geti_import", fake_geti.projects[0].id, f"{onnx.id}:{group.id}", "--no-progress")
    with pytest.raises(CommandError, match="is not MODEL_ID:GROUP_ID"):
        run("geti_import", fake_geti.projects[0].id, onnx.id)
    assert not Model.objects.exists()
