"""HTTP compression as Triton serves it: request bodies sent with `Content-Encoding: gzip|deflate` (tritonclient's
`request_compression_algorithm`) and responses compressed when `Accept-Encoding` asks for it
(`response_compression_algorithm`). The body limit applies to the decompressed size, and decompression
stops at it, so a zip bomb costs at most the limit in memory."""

import zlib

from inference.triton import TritonError

ENCODINGS = ("gzip", "deflate")
_CHUNK = 1 << 20
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_ZLIB_WBITS = zlib.MAX_WBITS
# Fast: aiohttp (tritonclient.http.aio) asks for gzip on every request, whether the caller wants it or not.
_LEVEL = 1


def decompress(
    body: bytes | bytearray, encoding: str, *, limit: int, max_ratio: int | None = None, ratio_floor: int = 0
) -> bytearray:
    """The decompressed body, writeable (binary tensors become numpy views of it). 413 once it would pass
    `limit` bytes, or `max_ratio` times the compressed size (when more than `ratio_floor` bytes); 400 for data
    that is not what `encoding` says, 415 for another encoding. Decompression stops at the bound."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return body if isinstance(body, bytearray) else bytearray(body)
    if encoding not in ENCODINGS:
        raise TritonError(f"Unsupported Content-Encoding: {encoding}", status=415)
    bound = limit
    if max_ratio is not None:
        bound = min(limit, max(ratio_floor, max_ratio * len(body)))
    try:
        return _inflate(body, _GZIP_WBITS if encoding == "gzip" else _ZLIB_WBITS, bound, limit, max_ratio)
    except zlib.error as exc:
        if encoding == "deflate":  # some clients send raw deflate data without the zlib wrapper
            try:
                return _inflate(body, -zlib.MAX_WBITS, bound, limit, max_ratio)
            except zlib.error:
                pass
        raise TritonError(f"Request body is not valid {encoding} data: {exc}") from None


def _inflate(body: bytes | bytearray, wbits: int, bound: int, limit: int, max_ratio: int | None) -> bytearray:
    inflater = zlib.decompressobj(wbits)
    out = bytearray()
    pending = memoryview(body)
    while True:
        out += inflater.decompress(pending, min(_CHUNK, bound - len(out) + 1))
        if len(out) > bound:
            if bound < limit:
                raise TritonError(
                    f"Request body too large once decompressed: it inflates more than {max_ratio} times its "
                    f"{len(body)} compressed bytes.",
                    status=413,
                )
            raise TritonError(
                f"Request body too large: more than {limit} bytes once decompressed; the limit is {limit} bytes.",
                status=413,
            )
        pending = memoryview(inflater.unconsumed_tail)
        if inflater.eof or not pending:
            break
    if not inflater.eof:
        raise zlib.error("incomplete or truncated stream")
    return out


def compresses(path: str, status: int) -> bool:
    """Whether a reply may be compressed: only successful inference replies, as Triton does. Clients such as
    tritonclient.http.aio read every other reply, errors included, as plain text although their HTTP library
    sends Accept-Encoding on every request."""
    return status == 200 and path.endswith("/infer")


def response_encoding(accept_encoding: bytes | str | None) -> str | None:
    """The encoding to answer with: gzip or deflate when the client accepts one (by q-value, gzip first on a
    tie), else None."""
    if not accept_encoding:
        return None
    text = accept_encoding.decode("latin-1") if isinstance(accept_encoding, bytes) else accept_encoding
    best: tuple[float, int, str] | None = None
    for item in text.split(","):
        name, _, params = item.strip().partition(";")
        name = name.strip().lower()
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        candidates = ENCODINGS if name == "*" else (name,) if name in ENCODINGS else ()
        for candidate in candidates:
            rank = (quality, -ENCODINGS.index(candidate), candidate)
            if quality > 0 and (best is None or rank > best):
                best = rank
    return best[2] if best else None


def compress(body: bytes, encoding: str) -> bytes:
    """gzip, or deflate in the zlib wrapper (what `Content-Encoding: deflate` means, and what tritonclient reads)."""
    if encoding == "gzip":
        compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, _GZIP_WBITS)
    else:
        compressor = zlib.compressobj(_LEVEL, zlib.DEFLATED, _ZLIB_WBITS)
    return compressor.compress(body) + compressor.flush()
