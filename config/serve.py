"""The ASGI server of `make run`, the tests and the benchmarks: uvicorn's own command line, plus one tuning
that uvicorn has no option for.

uvicorn stops reading a request body from the socket once 64 KiB of it wait for the application. For a
1 GiB model upload that means ~16,000 pause/resume cycles and as many small pieces through the ASGI receive
loop; a 1 MiB window per connection cuts the event loop's share of an upload by about a tenth (see README,
Benchmarks). The module-level assignment also runs in each worker process, which re-imports this module.
"""

import faulthandler
import logging
import os
import signal
import sys

from uvicorn.main import main
from uvicorn.protocols.http import h11_impl, httptools_impl

from config.processes import die_with_parent

REQUEST_BODY_WINDOW = 1024 * 1024

for _protocol in (httptools_impl, h11_impl):
    if hasattr(_protocol, "HIGH_WATER_LIMIT"):
        _protocol.HIGH_WATER_LIMIT = REQUEST_BODY_WINDOW


class WebSocketPathWithoutQuery(logging.Filter):
    """uvicorn logs each WebSocket handshake ('"WebSocket /path?query" [accepted]') even with the access log off;
    a client that puts its key in `?token=` (which modelhub ignores) would leave it in the log. The path stays,
    the query string goes."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and record.msg.startswith('%s - "WebSocket %s"'):
            args = record.args
            if isinstance(args, tuple) and len(args) >= 2 and isinstance(args[1], str):
                record.args = (args[0], args[1].split("?", 1)[0], *args[2:])
        return True


# A native crash (OpenVINO and openvino-genai run C++ in several threads) logs every thread's Python stack to the
# server's stderr before the process dies, so the log says what the process was doing. Module level: it also runs
# in each worker process.
faulthandler.enable()

# Module level: it also runs in each worker process, and logging.config.dictConfig (uvicorn's logging setup,
# which runs after this import) keeps a logger's filters.
logging.getLogger("uvicorn.error").addFilter(WebSocketPathWithoutQuery())

if __name__ == "__mp_main__":  # a worker process of `--workers N`, spawned by uvicorn's supervisor
    die_with_parent(signal.SIGTERM)


def bind_host(argv: list[str]) -> str:
    """The address uvicorn will bind to (its default is 127.0.0.1)."""
    for index, arg in enumerate(argv):
        if arg == "--host" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--host="):
            return arg.split("=", 1)[1]
    return "127.0.0.1"


def proxy_header_options(environ: "os._Environ[str]") -> list[str]:
    """uvicorn trusts X-Forwarded-For/-Proto from 127.0.0.1 by default (FORWARDED_ALLOW_IPS): a client on the
    same host, or any client of a proxy that passes the header through, could then choose its address. Only
    the proxies named in MODELHUB_FORWARDED_ALLOW_IPS are trusted; without it, no one."""
    proxies = environ.get("MODELHUB_FORWARDED_ALLOW_IPS", "").strip()
    environ.pop("FORWARDED_ALLOW_IPS", None)  # uvicorn's own variable: ours is the one setting
    if not proxies:
        return ["--no-proxy-headers"]
    return ["--proxy-headers", "--forwarded-allow-ips", proxies]


if __name__ == "__main__":
    # The settings choose the access defaults (MODELHUB_AUTH, ALLOWED_HOSTS) from HOST: make it the real bind
    # address, whatever the environment said, so `--host 0.0.0.0` can never run with loopback defaults.
    os.environ["HOST"] = bind_host(sys.argv[1:])
    sys.argv += proxy_header_options(os.environ)
    sys.exit(main())
