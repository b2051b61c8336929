"""`make run`: migrate, then run the ASGI server and the django-q2 cluster until Ctrl-C stops both.

HOST (127.0.0.1), PORT (8000), GRPC_PORT (9000), WEB_CONCURRENCY (1 server process), MODELHUB_ACCESS_LOG (off)
"""

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def server_command(host: str, port: str, workers: int, access_log: bool) -> list[str]:
    command = [
        sys.executable, "-m", "config.serve", "config.asgi:application",
        "--host", host, "--port", port, "--workers", str(workers),
        "--lifespan", "on", "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio",
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


def main() -> int:
    os.chdir(ROOT)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"))
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "8000")
    workers = int(env.get("WEB_CONCURRENCY", "1"))
    access_log = env.get("MODELHUB_ACCESS_LOG", "").lower() in {"1", "true", "yes", "on"}
    grpc_port = env.get("GRPC_PORT", "9000")

    grpc_host = env.get("GRPC_HOST", host)
    if grpc_port != "0" and port_in_use(grpc_host, int(grpc_port)):
        print(
            f"modelhub: {grpc_host}:{grpc_port} (GRPC_PORT) is in use; set GRPC_PORT (0: no gRPC).",
            file=sys.stderr,
        )
        return 1
    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], check=True, env=env)
    children = {
        "server": subprocess.Popen(server_command(host, port, workers, access_log), env=env),
        "worker": subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=env),
    }
    print(
        f"\nmodelhub on http://{host}:{port}/  (API docs /api/docs/, admin /admin/, {workers} server process(es))\n"
        + (f"gRPC (KServe v2, TF Serving) on {grpc_host}:{grpc_port}\n" if grpc_port != "0" else "")
        + "Ctrl-C stops the server and the worker.\n",
        flush=True,
    )

    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
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
            child.send_signal(signal.SIGINT)
    deadline = time.monotonic() + 15
    for child in children.values():
        try:
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
