"""A real local HTTP file server for download tests: Range/If-Range, a throttled rate, and misbehaviours.

Runs in a thread of the test process on 127.0.0.1. Every request is recorded (path and headers) so tests can
see that a resume really asked for a byte range.
"""

import hashlib
import re
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 16 * 1024


@dataclass
class Served:
    body: bytes
    rate: float | None = None  # bytes per second; None = as fast as possible
    etag: str = ""
    # Close the connection after this many body bytes, for the first `drop_times` requests.
    drop_after: int | None = None
    drop_times: int = 0
    hang: bool = False  # accept, then never answer
    stall_after_headers: bool = False  # answer headers, then send nothing
    redirect_to: str = ""  # answer 302 with this Location instead of the body
    trickle: float | None = None  # send the body one byte every `trickle` seconds (never a read timeout)

    def __post_init__(self) -> None:
        self.etag = self.etag or f'"{hashlib.sha256(self.body).hexdigest()[:16]}"'


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients that cancel or die mid-transfer reset their connection: expected here


@dataclass
class FileServer:
    files: dict[str, Served] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    port: int = 0

    def __post_init__(self) -> None:
        self.stopping = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802
                server.requests.append((self.path, dict(self.headers.items())))
                served = server.files.get(self.path)
                if served is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "9")
                    self.end_headers()
                    self.wfile.write(b"not found")
                    return
                if served.redirect_to:
                    self.send_response(302)
                    self.send_header("Location", served.redirect_to)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                if served.hang:
                    server.stopping.wait(60)
                    return
                start = 0
                match = re.match(r"^bytes=(\d+)-$", self.headers.get("Range", ""))
                if_range = self.headers.get("If-Range")
                if (
                    match
                    and (if_range is None or if_range == served.etag)
                    and int(match.group(1)) < len(served.body)
                ):
                    start = int(match.group(1))
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(served.body) - 1}/{len(served.body)}"
                    )
                elif (
                    match
                    and int(match.group(1)) >= len(served.body)
                    and (if_range is None or if_range == served.etag)
                ):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(served.body)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                else:
                    self.send_response(200)
                self.send_header("Content-Type", "application/zip")
                self.send_header("Content-Length", str(len(served.body) - start))
                self.send_header("ETag", served.etag)
                self.send_header("Accept-Ranges", "bytes")
                self.end_headers()
                if served.stall_after_headers:
                    server.stopping.wait(60)
                    return
                limit = None
                if served.drop_after is not None and served.drop_times > 0:
                    served.drop_times -= 1
                    limit = served.drop_after
                sent = 0
                began = time.monotonic()
                try:
                    if served.trickle:
                        for offset in range(start, len(served.body)):
                            self.wfile.write(served.body[offset : offset + 1])
                            self.wfile.flush()
                            if server.stopping.wait(served.trickle):
                                return
                        return
                    for offset in range(start, len(served.body), CHUNK):
                        chunk = served.body[offset : offset + CHUNK]
                        if limit is not None and sent + len(chunk) > limit:
                            self.wfile.write(chunk[: max(limit - sent, 0)])
                            self.wfile.flush()
                            self.close_connection = True
                            return
                        self.wfile.write(chunk)
                        sent += len(chunk)
                        if served.rate:
                            ahead = sent / served.rate - (time.monotonic() - began)
                            if ahead > 0:
                                if server.stopping.wait(ahead):
                                    return
                except (BrokenPipeError, ConnectionResetError):
                    return

        self.httpd = _QuietServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def serve(self, path: str, served: Served) -> str:
        self.files[path] = served
        return self.base_url + path

    def requests_for(self, path: str) -> list[dict[str, str]]:
        return [headers for request_path, headers in self.requests if request_path == path]

    def start(self) -> "FileServer":
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> int:
    """Serve files over HTTP at a throttled rate, with Range and ETag (for trying downloads by hand)."""
    import argparse
    from pathlib import Path

    parser = argparse.ArgumentParser(prog="python -m tests.lifecycle.fileserver", description=main.__doc__)
    parser.add_argument("--port", type=int, default=8800)
    parser.add_argument("--rate", type=float, default=2_000_000, help="bytes per second (default 2 MB/s)")
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    server = FileServer(port=args.port)
    for path in args.files:
        url = server.serve(f"/{path.name}", Served(path.read_bytes(), rate=args.rate))
        print(f"{url}  sha256 {hashlib.sha256(server.files[f'/{path.name}'].body).hexdigest()}")
    server.start()
    print(f"{args.rate / 1e6:g} MB/s, Ctrl-C stops it.", flush=True)
    try:
        server.thread.join()
    except KeyboardInterrupt:
        server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
