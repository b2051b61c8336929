"""Run the built image once as production would and check it: read-only root, no capabilities, a volume for /data;
/health 200, a model registered, downloaded, loaded and served over KServe v2 REST, the HEALTHCHECK healthy, then
a clean stop (`podman stop`: exit code 0 well before the kill timeout).

    .venv/bin/python deploy/container/check.py --image localhost/modelhub:latest

Needs the project's venv (OpenVINO builds the test model, requests talks HTTP); deploy/container/build.sh runs it.
"""

import argparse
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.modelfiles import build_constant_model, ir_zip  # noqa: E402

STOP_TIMEOUT = 40  # seconds podman waits before SIGKILL; a clean stop takes a few


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(what: str, seconds: float, probe) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"FAILED: {what} within {seconds:g} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--image", default="localhost/modelhub:latest")
    parser.add_argument("--podman", default="podman", help="the podman command and its global options")
    parser.add_argument("--run-options", default="", help="extra `podman run` options (resource limits)")
    args = parser.parse_args()
    podman = shlex.split(args.podman)
    name = f"modelhub-check-{uuid.uuid4().hex[:8]}"
    http_port, grpc_port = free_port(), free_port()
    url = f"http://127.0.0.1:{http_port}"

    def run(*command: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*podman, *command], check=check, capture_output=True, text=True)

    run("volume", "create", name)
    started = time.monotonic()
    run(
        "run", "--detach", "--name", name, *shlex.split(args.run_options),
        "--read-only", "--cap-drop=ALL", "--security-opt=no-new-privileges",
        "--volume", f"{name}:/data", "--env", "DJANGO_ALLOWED_HOSTS=localhost",
        "--publish", f"127.0.0.1:{http_port}:8000", "--publish", f"127.0.0.1:{grpc_port}:9000",
        args.image,
    )  # fmt: skip
    try:
        wait_for("/health 200", 120, lambda: requests.get(f"{url}/health", timeout=3).status_code == 200)
        print(f"ok: /health 200, {time.monotonic() - started:.1f} s after `podman run`")
        key = run(
            "exec",
            name,
            "python",
            "manage.py",
            "create_api_key",
            "check",
            "--scopes",
            "read,write,deploy,infer",
        ).stdout.strip()
        headers = {"Authorization": f"Bearer {key}"}
        with tempfile.TemporaryDirectory() as tmp:
            archive = ir_zip(build_constant_model(7.0), Path(tmp))
        response = requests.post(
            f"{url}/models", headers=headers, data={"name": "seven", "version": "1"},
            files={"file": ("seven.zip", archive)}, timeout=30,
        )  # fmt: skip
        assert response.status_code == 201, response.text
        model_id = response.text
        assert requests.post(f"{url}/model/{model_id}/download", headers=headers, timeout=10).ok
        wait_for(
            "the model downloaded", 60,
            lambda: requests.get(f"{url}/model/{model_id}", headers=headers, timeout=5).json()["downloaded"],
        )  # fmt: skip
        response = requests.post(f"{url}/model/{model_id}/load", headers=headers, timeout=60)
        assert response.ok, response.text
        body = {"inputs": [{"name": "input", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
        wait_for(
            "the model served", 60,
            lambda: requests.post(f"{url}/v2/models/seven/infer", json=body, headers=headers, timeout=5).ok,
        )  # fmt: skip
        outputs = requests.post(f"{url}/v2/models/seven/infer", json=body, headers=headers, timeout=5).json()
        assert outputs["outputs"][0]["data"] == [7.0] * 4, outputs
        print("ok: a model registered, downloaded, loaded and served (KServe v2 infer)")
        # The image's HEALTHCHECK, run now (podman schedules it with systemd timers, absent in containers/CI).
        health = run("healthcheck", "run", name, check=False)
        assert health.returncode == 0, f"HEALTHCHECK failed: {health.stdout}{health.stderr}"
        print("ok: the image's HEALTHCHECK passes")
        stopping = time.monotonic()
        run("stop", "--time", str(STOP_TIMEOUT), name)
        stopped_in = time.monotonic() - stopping
        code = run("inspect", "--format", "{{.State.ExitCode}}", name).stdout.strip()
        logs = run("logs", name).stdout + run("logs", name).stderr
        assert code == "0", f"exit code {code} after podman stop\n{logs[-3000:]}"
        assert stopped_in < STOP_TIMEOUT / 2, f"stopping took {stopped_in:.1f} s"
        assert "Application shutdown complete." in logs and "has stopped." in logs, logs[-3000:]
        print(f"ok: clean stop on SIGTERM in {stopped_in:.1f} s (exit code 0, server and worker shut down)")
    except BaseException:
        print(run("logs", name, check=False).stderr[-4000:], file=sys.stderr)
        raise
    finally:
        run("rm", "--force", name, check=False)
        run("volume", "rm", "--force", name, check=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
