"""manage.py registry_fsck, register_model and export_model against real storage and a real database."""

import hashlib
import io
import os
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from registry.models import Model
from tests.registry.conftest import stored_files

pytestmark = pytest.mark.django_db


def run(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    try:
        call_command(*args, stdout=out, stderr=io.StringIO())
    except SystemExit as exc:
        return int(exc.code or 0), out.getvalue()
    return 0, out.getvalue()


def register(path: Path, *args: str) -> str:
    out = io.StringIO()
    call_command("register_model", str(path), *args, "--no-progress", stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


@pytest.fixture
def zip_path(tmp_path: Path, ir_archive: bytes) -> Path:
    path = tmp_path / "model.zip"
    path.write_bytes(ir_archive)
    return path


# --- register_model / export_model -----------------------------------------------------------------------


def test_register_model_takes_every_field(
    zip_path: Path, ir_archive: bytes, artifacts_dir: Path, upload_tmp: Path
) -> None:
    model_id = register(
        zip_path, "--name", "cli", "--version", "7", "--id", "cli-7", "--precision", "fp16,int8", "--score", "0",
        "--labels", '["a", "b"]', "--overview", '{"description": "d"}', "--project-name", "P", "--category", "Detection",
        "--architecture", "YOLO", "--target-device", "GPU", "--target-device-type", "edge", "--origin", "cli",
        "--created-date", "2024-02-28 15:39:07", "--optimization-capabilities", "none", "--project-id", "p1", "--format", "openvino",
    )  # fmt: skip
    assert model_id == "cli-7"
    model = Model.objects.get(pk="cli-7")
    assert (model.precision, model.score, model.labels, model.project_name, model.target_device_type) == (
        "FP16,INT8",
        0.0,
        ["a", "b"],
        "P",
        "edge",
    )
    assert model.overview == {"description": "d"}
    assert model.sha256 == hashlib.sha256(ir_archive).hexdigest()
    assert model.detected_format == "openvino"
    assert [p.read_bytes() for p in stored_files(artifacts_dir)] == [ir_archive]
    assert zip_path.exists()  # the source is copied, never moved
    assert list(upload_tmp.iterdir()) == []


def test_register_model_validates_like_the_api(
    zip_path: Path, tmp_path: Path, artifacts_dir: Path, upload_tmp: Path
) -> None:
    with pytest.raises(CommandError, match="FP64 is not a supported precision"):
        register(zip_path, "--name", "x", "--version", "1", "--precision", "fp64")
    bad = tmp_path / "bad.zip"
    bad.write_bytes(b"not a zip")
    with pytest.raises(CommandError, match="file: The file is not a valid ZIP archive"):
        register(bad, "--name", "x", "--version", "1")
    with pytest.raises(CommandError, match="is not a file"):
        register(tmp_path / "missing.zip", "--name", "x", "--version", "1")
    register(zip_path, "--name", "x", "--version", "1", "--id", "one")
    with pytest.raises(CommandError, match="Model ID one is already in use."):
        register(zip_path, "--name", "y", "--version", "1", "--id", "one")
    assert Model.objects.count() == 1
    assert len(stored_files(artifacts_dir)) == 1
    assert list(upload_tmp.iterdir()) == []


def test_export_model_writes_the_same_bytes(zip_path: Path, ir_archive: bytes, tmp_path: Path) -> None:
    model_id = register(zip_path, "--name", "x", "--version", "1")
    out = tmp_path / "out" / "exported.zip"
    out.parent.mkdir()
    code, text = run("export_model", model_id, str(out), "--no-progress")
    assert code == 0 and f"sha256 {hashlib.sha256(ir_archive).hexdigest()}" in text
    assert out.read_bytes() == ir_archive
    with pytest.raises(CommandError, match="exists"):
        call_command("export_model", model_id, str(out), "--no-progress")
    call_command("export_model", model_id, str(out), "--force", "--no-progress", stdout=io.StringIO())
    assert sorted(p.name for p in out.parent.iterdir()) == ["exported.zip"]


def test_export_model_refuses_a_corrupt_file(zip_path: Path, tmp_path: Path, artifacts_dir: Path) -> None:
    model_id = register(zip_path, "--name", "x", "--version", "1")
    [stored] = stored_files(artifacts_dir)
    stored.write_bytes(stored.read_bytes()[:-1] + b"!")
    with pytest.raises(CommandError, match="corrupt"):
        call_command("export_model", model_id, str(tmp_path / "o.zip"), "--no-progress")
    assert not (tmp_path / "o.zip").exists() and not (tmp_path / "o.zip.part").exists()


def test_export_model_of_unknown_or_missing_file(zip_path: Path, tmp_path: Path, artifacts_dir: Path) -> None:
    with pytest.raises(CommandError, match="Model not found."):
        call_command("export_model", "nope", str(tmp_path / "o.zip"))
    model_id = register(zip_path, "--name", "x", "--version", "1")
    for path in stored_files(artifacts_dir):
        path.unlink()
    with pytest.raises(CommandError, match="registry_fsck"):
        call_command("export_model", model_id, str(tmp_path / "o.zip"))


# --- registry_fsck -----------------------------------------------------------------------------------------


def test_fsck_on_a_consistent_registry_is_ok(zip_path: Path) -> None:
    register(zip_path, "--name", "x", "--version", "1")
    code, text = run("registry_fsck")
    assert code == 0
    assert "Checked 1 model(s) and 1 stored file(s)." in text and "OK: database and storage agree." in text


def test_fsck_reports_then_repairs_orphans_and_broken_rows(
    zip_path: Path,
    artifacts_dir: Path,
    upload_tmp: Path,
    django_capture_on_commit_callbacks,  # type: ignore[no-untyped-def]
) -> None:
    keep = register(zip_path, "--name", "keep", "--version", "1")
    broken = register(zip_path, "--name", "broken", "--version", "1")
    broken_file = Model.objects.get(pk=broken).file.name
    Path(artifacts_dir / broken_file).unlink()
    orphan = artifacts_dir / "models" / "crashed-upload.zip"
    orphan.write_bytes(b"PK orphan")
    age(orphan, 3600)
    young = artifacts_dir / "models" / "in-flight.zip"  # an upload between storing its file and its row
    young.write_bytes(b"PK young")
    stale_temp = upload_tmp / "tmpabc.upload.zip"
    stale_temp.write_bytes(b"partial")
    age(stale_temp, 7200)
    fresh_temp = upload_tmp / "tmpdef.upload.zip"
    fresh_temp.write_bytes(b"partial")

    code, text = run("registry_fsck")
    assert code == 1
    assert "Orphan files (stored, no model refers to them): 1\n  models/crashed-upload.zip" in text
    assert f"Models whose file is missing: 1\n  {broken} (broken 1): {broken_file}" in text
    assert f"Stale upload temp files: 1\n  {stale_temp}" in text
    assert "--repair" in text
    assert orphan.exists() and Model.objects.filter(pk=broken).exists()  # a report changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        code, text = run("registry_fsck", "--repair")
    assert code == 0
    assert "Repaired: deleted 1 orphan file(s), 1 model(s) without a file, 1 temp file(s)." in text
    assert not orphan.exists() and young.exists()
    assert list(Model.objects.values_list("pk", flat=True)) == [keep]
    assert sorted(upload_tmp.iterdir()) == [fresh_temp]
    young.unlink()
    assert run("registry_fsck")[0] == 0


def test_fsck_grace_period_is_configurable(artifacts_dir: Path) -> None:
    (artifacts_dir / "models").mkdir(parents=True)
    (artifacts_dir / "models" / "new.zip").write_bytes(b"x")
    assert run("registry_fsck")[0] == 0
    code, text = run("registry_fsck", "--grace-seconds", "0")
    assert code == 1 and "models/new.zip" in text


def test_fsck_with_nothing_stored_yet() -> None:
    code, text = run("registry_fsck")
    assert code == 0 and "Checked 0 model(s) and 0 stored file(s)." in text
