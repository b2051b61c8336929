"""JSON bodies with a nesting limit: a body nested ~1000 levels deep is a 422 (json_invalid), not a RecursionError.

The limit also keeps every later step (validation, the database's JSON, orjson's rendering, which stops at
254 levels) far from its own recursion limit. A body is also refused, before it is parsed, when it holds more
values than MODELHUB_MAX_JSON_ITEMS: 10 MiB of `[],[],...` would otherwise become ~3.5 million Python lists
(~20 times the body in memory); the registry's bodies hold a few dozen.
"""

import io
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

MAX_JSON_DEPTH = 64


def json_depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0, `[]` is 1), computed without recursion."""
    deepest = 0
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
            deepest = max(deepest, depth + 1)
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
            deepest = max(deepest, depth + 1)
    return deepest


def check_json_depth(value: Any, *, limit: int = MAX_JSON_DEPTH) -> None:
    if json_depth(value) > limit:
        raise ValueError(f"JSON nested deeper than {limit} levels is not accepted.")


def json_items_upper_bound(raw: bytes) -> int:
    """At least the number of arrays, objects and values in `raw` (commas and openings, counted in C)."""
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{")


class DepthLimitedJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        limit = settings.MAX_JSON_ITEMS
        if json_items_upper_bound(raw) > limit:
            raise ParseError(f"JSON parse error - more than {limit} values in one body.")
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels.") from None
        try:
            check_json_depth(data)
        except ValueError as exc:
            raise ParseError(f"JSON parse error - {exc}") from None
        return data
