"""Per-request cost of the bounded HTTP protocol (config/http_protocol.py) against uvicorn's own httptools one.

    .venv/bin/python benchmarks/http_protocol.py [--requests 20000] [--rounds 9]

In-process and without sockets: each request (an inference-sized POST) goes through the protocol's parser,
a trivial ASGI app and the response path, on uvloop. The minimum over rounds is the figure to compare (the
median moves with whatever else the machine runs); wrk against a live server measures the same difference
under far more noise.
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

import uvloop  # noqa: E402
from uvicorn.config import Config  # noqa: E402
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol  # noqa: E402
from uvicorn.server import ServerState  # noqa: E402

from config.http_protocol import GuardedHttpToolsProtocol  # noqa: E402

REQUEST = (
    b"POST /v2/models/m/infer HTTP/1.1\r\nHost: 127.0.0.1:8000\r\nUser-Agent: wrk\r\n"
    b"Content-Type: application/json\r\nContent-Length: 20\r\n\r\n" + b"x" * 20
)


async def app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})


class Transport:
    def __init__(self) -> None:
        self.closing = False

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"peername": ("127.0.0.1", 5555), "sockname": ("127.0.0.1", 8000)}.get(name, default)

    def write(self, data: bytes) -> None:
        pass

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def microseconds_per_request(protocol_class: type, requests: int) -> float:
    loop = uvloop.new_event_loop()
    asyncio.set_event_loop(loop)
    config = Config(app=app, lifespan="off", log_level="warning")
    config.load()
    protocol = protocol_class(config=config, server_state=ServerState(), app_state={}, _loop=loop)
    protocol.connection_made(Transport())

    async def drive() -> float:
        started = time.process_time()
        for _ in range(requests):
            protocol.data_received(REQUEST)
            await asyncio.sleep(0)  # the app's task runs and answers
            await asyncio.sleep(0)
        return time.process_time() - started

    try:
        return loop.run_until_complete(drive()) / requests * 1e6
    finally:
        protocol.connection_lost(None)
        loop.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=9)
    options = parser.parse_args()
    results: dict[str, list[float]] = {}
    for _ in range(options.rounds):
        for protocol_class in (HttpToolsProtocol, GuardedHttpToolsProtocol):
            results.setdefault(protocol_class.__name__, []).append(
                microseconds_per_request(protocol_class, options.requests)
            )
    for name, values in results.items():
        print(f"{name:28} min {min(values):6.2f} us/request   median {statistics.median(values):6.2f}")


if __name__ == "__main__":
    main()
