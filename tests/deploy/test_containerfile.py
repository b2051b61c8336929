"""The Containerfile, read statically (no container engine needed): our rules for the image, checked against the
code it packages. deploy/container/build.sh builds and runs it where podman works."""

import re
import tomllib

import pytest

from config import run
from inference.protocols.routing import Kind
from inference.protocols.routing import resolve as resolve_lean
from tests.deploy.code_reads import ROOT, default_of, environment_reads
from tests.deploy.containerfile import CONTAINERFILE, instructions


@pytest.fixture(scope="module")
def stages() -> list[list[tuple[str, str]]]:
    return instructions(CONTAINERFILE.read_text())


@pytest.fixture(scope="module")
def final(stages: list[list[tuple[str, str]]]) -> dict[str, list[str]]:
    by_keyword: dict[str, list[str]] = {}
    for keyword, arguments in stages[-1]:
        by_keyword.setdefault(keyword, []).append(arguments)
    return by_keyword


def env_of(final: dict[str, list[str]]) -> dict[str, str]:
    return dict(re.findall(r"(\w+)=(\S+)", " ".join(final["ENV"])))


def test_dockerfile_is_the_containerfile() -> None:
    assert (ROOT / "Dockerfile").resolve() == CONTAINERFILE.resolve()


def test_multi_stage_with_only_the_runtime_lock(stages: list[list[tuple[str, str]]]) -> None:
    assert len(stages) >= 2
    text = CONTAINERFILE.read_text()
    installs = [
        args for stage in stages for keyword, args in stage if keyword == "RUN" and "pip install" in args
    ]
    assert len(installs) == 1 and "--require-hashes" in installs[0]
    assert "COPY requirements/base.txt " in text
    assert "test.txt" not in text and "models.txt" not in text and "[test]" not in text
    # the final stage copies the built venv; it installs no Python package itself
    assert not any("pip" in args for keyword, args in stages[-1] if keyword == "RUN")


def test_runs_unprivileged_and_matches_the_kubernetes_user(final: dict[str, list[str]]) -> None:
    (user,) = final["USER"]
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "numeric, so Kubernetes' runAsNonRoot can verify it"
    server = (ROOT / "deploy" / "kubernetes" / "base" / "server.yaml").read_text()
    assert f"runAsUser: {uid}" in server and f"fsGroup: {uid}" in server


def test_ports_and_environment_match_what_the_code_reads(final: dict[str, list[str]]) -> None:
    reads = environment_reads()
    ports = {int(port.split("/")[0]) for line in final["EXPOSE"] for port in line.split()}
    assert ports == {int(default_of("PORT", reads)), int(default_of("GRPC_PORT", reads))}
    env = env_of(final)
    assert env["PORT"] == default_of("PORT", reads) and env["GRPC_PORT"] == default_of("GRPC_PORT", reads)
    for name in env:
        assert name in reads or name in {
            "PATH",
            "PYTHONDONTWRITEBYTECODE",
            "PYTHONUNBUFFERED",
            "XDG_CACHE_HOME",
            "HF_HOME",
        }, name
    assert env["PYTHONDONTWRITEBYTECODE"] == "1", "the root filesystem is read-only at run time"
    assert final["VOLUME"] == [f'["{env["MODELHUB_DATA_DIR"]}"]']


def test_healthcheck_probes_liveness(final: dict[str, list[str]]) -> None:
    from deploy.container import healthcheck

    (check,) = final["HEALTHCHECK"]
    assert "deploy/container/healthcheck.py" in check
    assert resolve_lean("GET", healthcheck.LIVE_PATH).kind is Kind.KFS_LIVE


def test_entrypoint_execs_config_run_under_an_init(final: dict[str, list[str]]) -> None:
    (entrypoint,) = final["ENTRYPOINT"]
    assert entrypoint.startswith("[") and entrypoint.endswith("]"), (
        "exec form: no shell between the signal and us"
    )
    assert entrypoint == '["/usr/bin/tini", "--", "python", "-m", "config.run"]'
    assert run.role_from([], {}) == "all"  # no role given: server and worker, as `make run`
    assert final.get("STOPSIGNAL", ["SIGTERM"]) == ["SIGTERM"]


def test_every_package_of_the_project_is_copied(stages: list[list[tuple[str, str]]]) -> None:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {name.rstrip("*") for name in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {args.split()[0] for stage in stages for keyword, args in stage if keyword == "COPY"}
    assert packages <= copied, f"not in the image: {packages - copied}"
    for source in copied - {"--from=build"}:
        if not source.startswith("--"):
            assert (ROOT / source).exists(), source
