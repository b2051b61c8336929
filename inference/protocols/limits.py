"""Per-request bounds of the inference protocols (DESIGN.md section 11; issue 20 findings 3 and 7).

Every function here reads its limits from the settings (MODELHUB_* variables, see the configuration reference),
so other request paths (the OpenAI-compatible /v3) can apply the same bounds:
- `decompress_request`: a Content-Encoding'd body, with size and ratio bounds (JSON gets the lower ones);
- `check_json`: refuse a JSON text too long or with more values than the model can take, before it is parsed;
- `json_value_allowance`: how many JSON values a model's inputs can take;
- `max_elements`: how many BYTES elements an input may carry;
- `run_decoding`: run CPU-heavy decoding (images) off the event loop, a bounded number at a time.
"""

import asyncio
import functools
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from math import prod
from typing import Any, TypeVar

import numpy as np
from django.conf import settings

from inference.protocols import errors
from inference.protocols.tensors import TensorSpec
from inference.triton import compression

T = TypeVar("T")

# A compressed body may always inflate this far, whatever its ratio: small requests of repetitive data
# (zeros, a repeated value) compress far better than the ratio and cost nothing worth refusing.
RATIO_FLOOR_BYTES = 1024 * 1024
# JSON values a request may carry beyond three per model input element: names, parameters, requested outputs.
_JSON_SLACK_VALUES = 4096
_COUNT_CHUNK = 1024 * 1024
_ALWAYS_PARSED_BYTES = 64 * 1024
_OPENINGS_AND_COMMAS = np.zeros(256, dtype=bool)
_OPENINGS_AND_COMMAS[[ord("["), ord("{"), ord(",")]] = True


def decompress_request(body: bytes | bytearray, encoding: str, *, json: bool) -> bytearray:
    """The decompressed body. Binary data: at most MODELHUB_MAX_INFER_REQUEST_BYTES. JSON (every value becomes a
    Python object): also at most MODELHUB_MAX_INFER_JSON_BYTES, and beyond its first MiB at most
    MODELHUB_MAX_DECOMPRESSION_RATIO times its compressed size. 413/415/400 as compression.decompress says."""
    limit = settings.INFERENCE_MAX_REQUEST_BYTES
    if not json:
        return compression.decompress(body, encoding, limit=limit)
    return compression.decompress(
        body,
        encoding,
        limit=min(limit, settings.INFERENCE_MAX_JSON_BYTES),
        max_ratio=settings.INFERENCE_MAX_DECOMPRESSION_RATIO,
        ratio_floor=RATIO_FLOOR_BYTES,
    )


def json_value_allowance(inputs: Sequence[TensorSpec]) -> int:
    """The most JSON values a request for a model with these inputs can need: three per element the inputs can
    take (a value, and the lists and row objects around it) plus 4096 for the rest of the document (all there is
    for a request without a model, such as the repository's), or MODELHUB_MAX_INFER_JSON_VALUES when a dimension
    is unbounded."""
    cap: int = settings.INFERENCE_MAX_JSON_VALUES
    elements = 0
    for spec in inputs:
        if spec.dims is None or any(dim.high < 0 and not dim.static for dim in spec.dims):
            return cap
        elements += prod(dim.low if dim.static else dim.high for dim in spec.dims)
    return 3 * elements + _JSON_SLACK_VALUES


def check_json(body: bytes | bytearray | memoryview, *, inputs: Sequence[TensorSpec]) -> None:
    """413 for a JSON text longer than MODELHUB_MAX_INFER_JSON_BYTES or with more values than a request for a
    model with these `inputs` can need (`json_value_allowance`), before it is parsed. Values are counted without
    parsing: every value but the first of a list or object follows a comma, and lists and objects open with a
    bracket (those inside strings count too: an upper bound). Each value takes at least two bytes of the text, so
    a text shorter than twice the allowance, or than 64 KiB (at most ~2 MiB of Python objects), is not counted:
    the hot path's small requests cost a comparison."""
    limit: int = settings.INFERENCE_MAX_JSON_BYTES
    if len(body) > limit:
        raise errors.JSON_TOO_LARGE.with_details(f"{len(body)} bytes; the limit is {limit} bytes")
    if len(body) <= _ALWAYS_PARSED_BYTES:
        return
    allowed = json_value_allowance(inputs)
    if len(body) <= 2 * allowed:
        return
    if isinstance(body, (bytes, bytearray)):
        count = body.count(b",") + body.count(b"[") + body.count(b"{")
    else:
        data = np.frombuffer(body, dtype=np.uint8)
        count = 0
        for start in range(0, len(data), _COUNT_CHUNK):
            count += int(np.count_nonzero(_OPENINGS_AND_COMMAS[data[start : start + _COUNT_CHUNK]]))
    if count > allowed:
        raise errors.JSON_TOO_MANY_VALUES.with_details(
            f"more than {allowed} values, the most this model's inputs can take"
        )


def max_elements(name: str, shape: Sequence[int], *, count: int | None = None) -> int:
    """The most BYTES elements an input declared with `shape` may carry: its element count, and never more than
    MODELHUB_MAX_INFER_JSON_VALUES (each becomes a Python object). With `count` (elements already known without
    building them), 400 when it is more than that."""
    most = min(prod(shape), settings.INFERENCE_MAX_JSON_VALUES)
    if count is not None and count > most:
        raise too_many_elements(name, most)
    return most


def too_many_elements(name: str, most: int) -> errors.InferenceError:
    return errors.INVALID_VALUE_COUNT.with_details(
        f"Expected: at most {most} values; Actual: more; input name: {name}"
    )


@functools.cache
def _decoding_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(
        max_workers=settings.INFERENCE_IMAGE_DECODE_THREADS, thread_name_prefix="request-decoding"
    )


async def run_decoding(function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`function(*args, **kwargs)` in the decoding pool (MODELHUB_IMAGE_DECODE_THREADS threads): the event loop
    keeps answering while images decode, and no more than that many decode at once, whatever the request rate."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(_decoding_pool(), functools.partial(function, *args, **kwargs))
