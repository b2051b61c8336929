"""One place where failures become HTTP responses for the management APIs (registry, Geti, lifecycle, deployments).

Domain code raises `ServiceError` subclasses carrying a status and a message; each API family picks how that
message is rendered (the registry spec uses plain text for some errors and JSON for others). Request
validation failures use the FastAPI-style 422 shape the specs document: {"detail": [{"loc", "msg", "type"}]}.
The inference protocols do not go through here: they render `{"error": ...}` themselves.
"""

import logging
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpResponse
from rest_framework import exceptions as drf_exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

logger = logging.getLogger(__name__)


class ServiceError(Exception):
    """A failure the client can act on. Rendered as {"detail": message} unless a subclass says otherwise."""

    status_code = 400

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code

    def to_response(self) -> HttpResponse:
        return Response({"detail": self.message}, status=self.status_code)


class PlainTextError(ServiceError):
    """Rendered as text/plain, as the registry spec shows for 404/409 on /models."""

    def to_response(self) -> HttpResponse:
        return HttpResponse(self.message, status=self.status_code, content_type="text/plain; charset=utf-8")


class StatusMessageError(ServiceError):
    """Rendered as {"status": "error", "message": ...}, the shape of PUT /models/{id} errors."""

    def to_response(self) -> HttpResponse:
        return Response({"status": "error", "message": self.message}, status=self.status_code)


class ValidationFailed(ServiceError):
    """422 with the spec's list of {"loc", "msg", "type"} errors."""

    status_code = 422

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__("; ".join(str(error["msg"]) for error in errors))
        self.errors = errors

    @classmethod
    def single(cls, loc: list[str | int], msg: str, type_: str = "value_error") -> "ValidationFailed":
        return cls([{"loc": loc, "msg": msg, "type": type_}])

    def to_response(self) -> HttpResponse:
        return Response({"detail": self.errors}, status=self.status_code)


def describe_error(exc: BaseException) -> str:
    """A message for people: what went wrong in the exception's own words, never its class name (the log keeps
    the traceback)."""
    if isinstance(exc, KeyError) and exc.args:
        return f"missing {exc.args[0]!r}"
    text = str(exc).strip()
    return text or "an unexpected error (details in the server log)"


def validation_errors_from_drf(detail: Any, loc: list[str | int] | None = None) -> list[dict[str, Any]]:
    """Flatten DRF's nested error dict/list into the spec's [{"loc", "msg", "type"}] list."""
    loc = loc or ["body"]
    if isinstance(detail, dict):
        errors: list[dict[str, Any]] = []
        for field, sub in detail.items():
            sub_loc = loc if field == "non_field_errors" else [*loc, field]
            errors.extend(validation_errors_from_drf(sub, sub_loc))
        return errors
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [_error_item(loc, item) for item in detail]
        errors = []
        for index, sub in enumerate(detail):
            errors.extend(validation_errors_from_drf(sub, [*loc, index]))
        return errors
    return [_error_item(loc, detail)]


def _error_item(loc: list[str | int], item: Any) -> dict[str, Any]:
    code = getattr(item, "code", None) or "value_error"
    return {"loc": loc, "msg": str(item), "type": _ERROR_TYPES.get(code, code)}


_ERROR_TYPES = {
    "required": "missing",
    "null": "missing",
    "blank": "string_too_short",
    "max_length": "string_too_long",
    "invalid": "value_error",
}


def exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse | None:
    if isinstance(exc, ServiceError):
        return exc.to_response()
    if isinstance(exc, drf_exceptions.ValidationError):
        return ValidationFailed(validation_errors_from_drf(exc.detail)).to_response()
    if isinstance(exc, drf_exceptions.ParseError):
        return ValidationFailed.single(["body"], str(exc.detail), "json_invalid").to_response()
    if isinstance(exc, drf_exceptions.UnsupportedMediaType):
        return Response({"detail": str(exc.detail)}, status=415)
    if isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        return Response({"detail": str(exc)}, status=413)
    response = drf_exception_handler(exc, context)
    if response is None:
        view = context.get("view")
        logger.exception("Unhandled error in %s", type(view).__name__ if view else "view")
    return response
