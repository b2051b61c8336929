"""The image's HEALTHCHECK: liveness of the HTTP server (`/v2/health/live`, no I/O), standard library only.

The worker role serves no HTTP; its container is alive while config.run runs (it exits when the worker does).
"""

import os
import sys
import urllib.request

LIVE_PATH = "/v2/health/live"


def main() -> int:
    role = os.environ.get("MODELHUB_ROLE", "").strip().lower() or "all"
    if role == "worker":
        return 0
    host = os.environ.get("HOST", "0.0.0.0")
    target = "[::1]" if ":" in host else "127.0.0.1"  # a wildcard bind also answers on loopback
    url = f"http://{target}:{os.environ.get('PORT', '8000')}{LIVE_PATH}"
    try:
        with urllib.request.urlopen(url, timeout=4) as response:
            return 0 if response.status == 200 else 1
    except OSError as error:
        print(f"{url}: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
