"""Streaming file responses with single-range HTTP Range support (resumable downloads)."""

import re
from typing import IO

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
CHUNK = 1024 * 1024


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """(first, last) inclusive for a satisfiable single range; None when the header should be ignored.

    Raises ValueError for a syntactically valid but unsatisfiable range (-> 416).
    """
    match = _RANGE.match(header.strip())
    if not match or match.groups() == ("", ""):
        return None
    start_text, end_text = match.groups()
    if start_text == "":  # suffix range: the last N bytes
        length = int(end_text)
        if length == 0:
            raise ValueError("empty suffix range")
        return max(size - length, 0), size - 1
    start = int(start_text)
    end = int(end_text) if end_text else size - 1
    if start >= size or end < start:
        raise ValueError("range not satisfiable")
    return start, min(end, size - 1)


def _read_span(handle: IO[bytes], start: int, length: int):  # type: ignore[no-untyped-def]
    try:
        handle.seek(start)
        remaining = length
        while remaining > 0:
            chunk = handle.read(min(CHUNK, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk
    finally:
        handle.close()


def file_response(handle: IO[bytes], *, size: int, filename: str, range_header: str | None) -> HttpResponse:
    """200 with the whole file, 206 with the requested range, or 416; always advertises Accept-Ranges."""
    span = None
    if range_header:
        try:
            span = parse_range(range_header, size)
        except ValueError:
            handle.close()
            response = HttpResponse(status=416)
            response["Content-Range"] = f"bytes */{size}"
            response["Accept-Ranges"] = "bytes"
            return response
    if span is None:
        response: HttpResponse = FileResponse(
            handle, as_attachment=True, filename=filename, content_type="application/zip"
        )
        response["Content-Length"] = str(size)
    else:
        first, last = span
        response = StreamingHttpResponse(
            _read_span(handle, first, last - first + 1), status=206, content_type="application/zip"
        )
        response["Content-Length"] = str(last - first + 1)
        response["Content-Range"] = f"bytes {first}-{last}/{size}"
        response["Content-Disposition"] = content_disposition_header(True, filename)
    response["Accept-Ranges"] = "bytes"
    return response
