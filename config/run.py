"""`make run`: migrate, then run the ASGI server and the django-q2 cluster until Ctrl-C stops both.

HOST (127.0.0.1), PORT (8000), WEB_CONCURRENCY (1 server process), MODELHUB_ACCESS_LOG (off)
"""

import os
import signal
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


def main() -> int:
    os.chdir(ROOT)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE=os.environ.get("DJANGO_SETTINGS_MODULE", "config.settings"))
    host = env.get("HOST", "127.0.0.1")
    port = env.get("PORT", "8000")
    workers = int(env.get("WEB_CONCURRENCY", "1"))
    access_log = env.get("MODELHUB_ACCESS_LOG", "").lower() in {"1", "true", "yes", "on"}

    subprocess.run([sys.executable, "manage.py", "migrate", "--noinput"], check=True, env=env)
    children = {
        "server": subprocess.Popen(server_command(host, port, workers, access_log), env=env),
        "worker": subprocess.Popen([sys.executable, "manage.py", "qcluster"], env=env),
    }
    print(
        f"\nmodelhub on http://{host}:{port}/  (API docs /api/docs/, admin /admin/, {workers} server process(es))\n"
        "Ctrl-C stops the server and the worker.\n",
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
