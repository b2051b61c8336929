"""Resumable HTTP(S) download of one file with `requests` streaming.

The bytes go to `<name>.part`; a later attempt (or a later task, after a crash) continues it with a Range
request guarded by If-Range, so a file changed on the server starts over instead of being spliced. Only a
complete file whose sha256 matches (when one is expected) is renamed to its final name.
"""

import hashlib
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3
from django.conf import settings

from access.redaction import redact_text, redact_url
from registry.outbound import Allowlist, OutboundRefused, Resolver, open_checked

logger = logging.getLogger(__name__)

CHUNK = 256 * 1024
_CONTENT_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+|\*)$")
_UNSATISFIED_RANGE = re.compile(r"^bytes \*/(\d+)$")


class FetchFailed(Exception):
    """The file cannot be fetched; the message says why (shown to the user as is)."""


class FetchCanceled(Exception):
    pass


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    size: int
    resumed_from: int


class Transfer:
    """Cancels a running fetch from another thread, even while it waits on a silent server.

    Setting the event is seen between chunks; shutting the socket down also ends a read blocked in recv.
    """

    def __init__(self) -> None:
        self.canceled = threading.Event()
        self._lock = threading.Lock()
        self._sock: socket.socket | None = None

    def is_canceled(self) -> bool:
        return self.canceled.is_set()

    def cancel(self) -> None:
        self.canceled.set()
        with self._lock:
            if self._sock is not None:
                try:
                    self._sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def attach(self, response: requests.Response) -> None:
        connection = getattr(response.raw, "connection", None)
        with self._lock:
            self._sock = getattr(connection, "sock", None)
        if self.canceled.is_set():
            self.cancel()

    def detach(self) -> None:
        with self._lock:
            self._sock = None


def part_file(destination: Path) -> Path:
    """Where `fetch` keeps the bytes of `destination` received so far (kept across attempts to resume)."""
    return destination.with_name(destination.name + ".part")


def fetch(
    url: str,
    destination: Path,
    *,
    expected_sha256: str = "",
    validator: str = "",
    on_validator: Callable[[str], None] | None = None,
    progress: Callable[[int, int], None] | None = None,
    transfer: Transfer | None = None,
    connect_timeout: float = 10.0,
    read_timeout: float = 30.0,
    retries: int = 3,
    max_bytes: int | None = None,
    max_seconds: float | None = None,
    min_rate: float | None = None,
    rate_window: float | None = None,
    allow: Allowlist | None = None,
    resolver: Resolver | None = None,
) -> Fetched:
    """Fetch `url` into `destination` (resuming `destination.part`); return the verified file.

    `progress(done, total)` gets total 0 while the size is unknown. Raises FetchFailed with the reason
    (after `retries` further attempts for transient errors) or FetchCanceled. Every hop of the URL is checked
    by `registry.outbound` (`allow` and `resolver` default to the settings and DNS); the file may not exceed
    `max_bytes` and the whole fetch, retries included, may not take longer than `max_seconds`
    (defaults: MODELHUB_SOURCE_URL_MAX_BYTES and MODELHUB_SOURCE_URL_MAX_SECONDS); a response body that arrives
    slower than `min_rate` bytes/s on average over any `rate_window` seconds is given up
    (MODELHUB_SOURCE_URL_MIN_BYTES_PER_SECOND, MODELHUB_SOURCE_URL_RATE_WINDOW_SECONDS). Error texts and log lines
    carry the URL without its query string and userinfo (a presigned signature is a secret).
    """
    try:
        return _fetch(
            url, destination, expected_sha256=expected_sha256, validator=validator, on_validator=on_validator,
            progress=progress, transfer=transfer, connect_timeout=connect_timeout, read_timeout=read_timeout,
            retries=retries, max_bytes=max_bytes, max_seconds=max_seconds, min_rate=min_rate,
            rate_window=rate_window, allow=allow, resolver=resolver,
        )  # fmt: skip
    except FetchFailed as failed:
        raise FetchFailed(redact_text(str(failed))) from None


def _fetch(
    url: str,
    destination: Path,
    *,
    expected_sha256: str,
    validator: str,
    on_validator: Callable[[str], None] | None,
    progress: Callable[[int, int], None] | None,
    transfer: Transfer | None,
    connect_timeout: float,
    read_timeout: float,
    retries: int,
    max_bytes: int | None,
    max_seconds: float | None,
    min_rate: float | None,
    rate_window: float | None,
    allow: Allowlist | None,
    resolver: Resolver | None,
) -> Fetched:
    limits = _Limits(
        max_bytes=settings.SOURCE_URL_MAX_BYTES if max_bytes is None else max_bytes,
        deadline=time.monotonic() + (settings.SOURCE_URL_MAX_SECONDS if max_seconds is None else max_seconds),
        min_rate=settings.SOURCE_URL_MIN_BYTES_PER_SECOND if min_rate is None else min_rate,
        rate_window=settings.SOURCE_URL_RATE_WINDOW_SECONDS if rate_window is None else rate_window,
        allow=allow,
        resolver=resolver,
    )
    transfer = transfer or Transfer()
    part = part_file(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    if destination.exists():  # verified and renamed by an earlier attempt that died before using it
        digest = _hash_file(destination)
        if not expected_sha256 or digest == expected_sha256.lower():
            size = destination.stat().st_size
            if progress:
                progress(size, size)
            return Fetched(destination, digest, size, size)
        destination.unlink()

    attempt = 0
    last_error = ""
    known = {"validator": validator}
    resumed_from = part.stat().st_size if part.exists() else 0
    with requests.Session() as session:
        while True:
            if transfer.is_canceled():
                raise FetchCanceled()
            try:
                _attempt(
                    session, url, part, known=known, on_validator=on_validator, progress=progress,
                    transfer=transfer, timeouts=(connect_timeout, read_timeout), limits=limits,
                )  # fmt: skip
                break
            except _Transient as exc:
                if transfer.is_canceled():
                    raise FetchCanceled() from None
                last_error = str(exc)
            attempt += 1
            if attempt > retries:
                raise FetchFailed(f"Download of {url} failed after {attempt} attempt(s): {last_error}")
            logger.warning(
                "Download of %s interrupted (%s); retrying (%d/%d)",
                redact_url(url), redact_text(last_error), attempt, retries,
            )  # fmt: skip
            if transfer.canceled.wait(min(2.0 ** (attempt - 1), 10.0)):
                raise FetchCanceled()

    digest = _hash_file(part)
    if expected_sha256 and digest != expected_sha256.lower():
        part.unlink(missing_ok=True)
        raise FetchFailed(
            f"sha256 mismatch for {url}: expected {expected_sha256.lower()}, got {digest}. The file was removed."
        )
    size = part.stat().st_size
    part.rename(destination)
    return Fetched(destination, digest, size, resumed_from)


class _Transient(Exception):
    """Worth another attempt: a network error, a 5xx, or a connection closed before the end."""


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    deadline: float  # time.monotonic()
    min_rate: float  # bytes per second, on average over each rate_window; 0: no floor
    rate_window: float
    allow: Allowlist | None
    resolver: Resolver | None

    def check_time(self, url: str) -> None:
        if time.monotonic() > self.deadline:
            raise FetchFailed(
                f"Download of {url} took longer than the limit (MODELHUB_SOURCE_URL_MAX_SECONDS); stopped."
            )

    def check_size(self, url: str, size: int, part: Path) -> None:
        if size > self.max_bytes:
            part.unlink(missing_ok=True)
            raise FetchFailed(
                f"{url} is larger than the limit of {self.max_bytes} bytes (MODELHUB_SOURCE_URL_MAX_BYTES); "
                "stopped and removed."
            )


def _attempt(
    session: requests.Session,
    url: str,
    part: Path,
    *,
    known: dict[str, str],
    on_validator: Callable[[str], None] | None,
    progress: Callable[[int, int], None] | None,
    transfer: Transfer,
    timeouts: tuple[float, float],
    limits: _Limits,
) -> None:
    """One request; returns when the part file is complete, raises _Transient to try again."""
    offset = part.stat().st_size if part.exists() else 0
    headers = {"Accept-Encoding": "identity"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
        if known["validator"]:
            headers["If-Range"] = known["validator"]
    limits.check_time(url)
    try:
        response = open_checked(
            session, url, headers=headers, timeout=timeouts, allow=limits.allow, resolver=limits.resolver
        )
    except OutboundRefused as exc:
        raise FetchFailed(f"Refused to fetch {url}: {exc}") from None
    except requests.ConnectTimeout:
        raise _Transient(f"could not connect within {timeouts[0]:g} s") from None
    except requests.ReadTimeout:
        raise _Transient(f"the server sent no answer within {timeouts[1]:g} s (read timeout)") from None
    except requests.RequestException as exc:
        raise _Transient(f"connection error: {exc}") from None

    with response:
        transfer.attach(response)
        try:
            total = 0
            if response.status_code == 206:
                match = _CONTENT_RANGE.match(response.headers.get("Content-Range", ""))
                if not match or int(match.group(1)) != offset:
                    offset = 0  # not the range we asked for: start over
                    part.unlink(missing_ok=True)
                    raise _Transient("the server answered an unexpected byte range; starting over")
                total = int(match.group(3)) if match.group(3) != "*" else 0
            elif response.status_code == 200:
                if offset:
                    logger.info(
                        "%s: the server sent the whole file (changed, or no Range support); starting over",
                        redact_url(url),
                    )
                offset = 0
                total = int(response.headers.get("Content-Length") or 0)
            elif response.status_code == 416 and offset:
                match = _UNSATISFIED_RANGE.match(response.headers.get("Content-Range", ""))
                if match and int(match.group(1)) == offset:
                    return
                part.unlink(missing_ok=True)
                raise _Transient("the partial file no longer matches the server's file; starting over")
            elif response.status_code >= 500 or response.status_code == 429:
                raise _Transient(f"the server answered {response.status_code} {response.reason}")
            else:
                raise FetchFailed(f"The server answered {response.status_code} {response.reason} for {url}.")

            limits.check_size(url, total, part)
            new_validator = _validator_of(response)
            if new_validator != known["validator"]:
                known["validator"] = new_validator
                if on_validator:
                    on_validator(new_validator)
            done = offset
            if progress:
                progress(done, total)
            window_start, window_bytes = time.monotonic(), 0
            with open(part, "ab" if offset else "wb") as sink:
                # read1 hands over whatever has arrived, so a broken connection loses no received byte.
                while chunk := response.raw.read1(CHUNK):
                    if transfer.is_canceled():
                        raise FetchCanceled()
                    sink.write(chunk)
                    done += len(chunk)
                    window_bytes += len(chunk)
                    if limits.min_rate and time.monotonic() - window_start >= limits.rate_window:
                        rate = window_bytes / (time.monotonic() - window_start)
                        if rate < limits.min_rate:
                            raise FetchFailed(
                                f"Download of {url} stopped: {rate:.0f} bytes/s over the last "
                                f"{limits.rate_window:g} s, below the minimum of {limits.min_rate:g} "
                                "(MODELHUB_SOURCE_URL_MIN_BYTES_PER_SECOND)."
                            )
                        window_start, window_bytes = time.monotonic(), 0
                    limits.check_size(url, done, part)
                    limits.check_time(url)
                    if progress:
                        progress(done, total)
            if transfer.is_canceled():
                raise FetchCanceled()
            if total and done < total:
                raise _Transient(f"the connection closed after {done} of {total} bytes")
        except (urllib3.exceptions.HTTPError, requests.RequestException) as exc:
            if transfer.is_canceled():
                raise FetchCanceled() from None
            if isinstance(exc, urllib3.exceptions.ReadTimeoutError | requests.ReadTimeout):
                raise _Transient(f"the server sent no data for {timeouts[1]:g} s (read timeout)") from None
            raise _Transient(f"the connection broke: {exc}") from None
        finally:
            transfer.detach()


def _validator_of(response: requests.Response) -> str:
    etag = response.headers.get("ETag", "")
    if etag and not etag.startswith("W/"):  # If-Range needs a strong validator
        return etag
    return response.headers.get("Last-Modified", "")


def _hash_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as source:
        while block := source.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()
