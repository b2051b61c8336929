"""`make run`: migrate, then run the ASGI server and/or the django-q2 cluster until Ctrl-C stops them.

Roles (MODELHUB_ROLE, or `python -m config.run --role ...`; the option wins):
  all     the ASGI server and the django-q2 cluster (default, `make run`)
  server  the ASGI server only (HTTP, WebSocket, inference; a replica behind a load balancer)
  worker  the django-q2 cluster only (background tasks; a host that serves nothing)
HOST (127.0.0.1), PORT (8000), GRPC_PORT (9000; 0: no gRPC), WEB_CONCURRENCY (1 server process), MODELHUB_ACCESS_LOG (off),
MODELHUB_MIGRATE (on: run `migrate` first; turn it off on all but one node of a cluster).

Signals: this process owns them. Its children run in their own session, so the terminal's Ctrl-C (sent
to the whole foreground process group) reaches this process only, and each child is stopped with exactly
one SIGTERM; uvicorn then runs its graceful shutdown and the ASGI lifespan shutdown (two signals would make
it force-exit). Each child also gets SIGTERM from the kernel if this process dies, even by SIGKILL
(config/processes.py), so no server or worker outlives the command that started it.
"""

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ROLES = ("all", "server", "worker")
STOP_SECONDS = 25  # uvicorn's graceful timeout (10 s) + lifespan shutdown, or a worker finishing its task


def server_command(host: str, port: str, workers: int, access_log: bool) -> list[str]:
    command = [
        sys.executable, "-m", "config.serve", "config.asgi:application",
        "--host", host, "--port", port, "--workers", str(workers),
        "--lifespan", "on", "--loop", "uvloop", "--http", "config.http_protocol:GuardedHttpToolsProtocol", "--ws", "websockets-sansio",
        "--timeout-graceful-shutdown", "10",
    ]  # fmt: skip
    if not access_log:
        command.append("--no-access-log")
    return command


def port_in_use(host: str, port: int) -> bool:
    """Whether something listens on host:port. The check binds without SO_REUSEPORT, so it also sees another
    modelhub's gRPC listener (which gRPC binds with SO_REUSEPORT, and which would otherwise share the port
    with ours without a word)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def worker_command() -> list[str]:
    return [sys.executable, "-m", "config.worker"]


def role_from(argv: list[str], environ: dict[str, str]) -> str:
    parser = argparse.ArgumentParser(prog="python -m config.run", description=__doc__.split("\n")[0])
    parser.add_argument("--role", choices=ROLES, help="overrides MODELHUB_ROLE (default: all)")
    role = parser.parse_args(argv).role or environ.get("MODELHUB_ROLE", "").strip().lower() or "all"
    if role not in ROLES:
        parser.error(f"MODELHUB_ROLE must be one of {', '.join(ROLES)}, got {role!r}")
    return role


def _start(command: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    from config.processes import child_preexec

    return subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=child_preexec())


def main(argv: list[str] | None = None) -> int:
    os.chdir(ROOT)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"))
    role = role_from(sys.argv[1:] if argv is None else argv, env)
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "8000")
    workers = int(env.get("WEB_CONCURRENCY", "1"))
    access_log = env.get("MODELHUB_ACCESS_LOG", "").lower() in {"1", "true", "yes", "on"}
    grpc_host, grpc_port = env.get("GRPC_HOST", host), env.get("GRPC_PORT", "9000")
    if role in ("all", "server") and grpc_port != "0" and port_in_use(grpc_host, int(grpc_port)):
        print(
            f"modelhub: {grpc_host}:{grpc_port} (GRPC_PORT) is in use; set GRPC_PORT (0: no gRPC).",
            file=sys.stderr,
        )
        return 1

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)

    if env.get("MODELHUB_MIGRATE", "on").strip().lower() not in {"0", "false", "no", "off"}:
        migrate = _start([sys.executable, "manage.py", "migrate", "--noinput"], env)
        while migrate.poll() is None:
            if stopping:
                migrate.terminate()
            time.sleep(0.1)
        if migrate.returncode != 0 or stopping:
            return migrate.returncode or 1
    children: dict[str, subprocess.Popen[bytes]] = {}
    if role in ("all", "server"):
        children["server"] = _start(server_command(host, port, workers, access_log), env)
    if role in ("all", "worker"):
        children["worker"] = _start(worker_command(), env)
    served = f"http://{host}:{port}/  (API docs /api/docs/, admin /admin/, {workers} server process(es))"
    if grpc_port != "0":
        served += f"\n  and gRPC (KServe v2, TF Serving) on {grpc_host}:{grpc_port}"
    print(
        f"\nmodelhub [{role}]" + (f" on {served}" if "server" in children else ", background tasks only")
        + f"\nCtrl-C stops the {' and the '.join(children)}.\n",
        flush=True,
    )  # fmt: skip

    exit_code = 0
    while not stopping:
        for name, child in children.items():
            if child.poll() is not None:
                print(
                    f"modelhub: the {name} exited with code {child.returncode}; stopping.",
                    file=sys.stderr,
                    flush=True,
                )
                exit_code = child.returncode or 1
                stopping = True
        time.sleep(0.2)

    for child in children.values():
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + STOP_SECONDS
    for name, child in children.items():
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            print(f"modelhub: the {name} did not stop in time; killing it.", file=sys.stderr, flush=True)
            child.kill()
            child.wait()
            exit_code = exit_code or 1
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
