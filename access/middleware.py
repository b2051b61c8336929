"""Django middleware of the access layer: request context (id, principal), browser-attack refusals, and the
access policy of plain (non-DRF) Django views."""

import uuid
from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from access.browser import cross_site_refusal
from access.keys import principal_for_user
from access.policy import (
    ANONYMOUS,
    OFF,
    AccessDenied,
    current_principal,
    current_request_id,
    decide,
    mode,
    principal_from_authorization,
    scope_for_method,
)

Handler = Callable[[HttpRequest], HttpResponse]


def _request_id(request: HttpRequest) -> str:
    given = request.headers.get("X-Request-ID", "")
    return given[:64] if given and given.isascii() and given.isprintable() else uuid.uuid4().hex


class RequestContextMiddleware:
    """A request id (X-Request-ID, echoed) and an anonymous principal until the auth layer says otherwise."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request_id = _request_id(request)
        id_token = current_request_id.set(request_id)
        principal_token = current_principal.set(ANONYMOUS)
        try:
            response = self.get_response(request)
        finally:
            current_principal.reset(principal_token)
            current_request_id.reset(id_token)
        response["X-Request-ID"] = request_id
        return response


class BrowserGuardMiddleware:
    """403 {"detail": ...} for a state-changing request that another site's page sent (see access/browser.py).
    Host is checked by Django itself (ALLOWED_HOSTS) when the request is first read."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        refusal = cross_site_refusal(
            request.method or "GET",
            request.get_host(),
            request.headers.get("Origin"),
            request.headers.get("Sec-Fetch-Site"),
        )
        if refusal is not None:
            return JsonResponse({"detail": refusal}, status=403)
        return self.get_response(request)


def access_policy(policy: dict[str, str]) -> Callable[[Any], Any]:
    """Declare the policy of a plain Django function view: @access_policy({"GET": "read"})."""

    def mark(view: Any) -> Any:
        view.access_policy = policy
        return view

    return mark


def view_policy(view_func: Any) -> dict[str, str] | None:
    for candidate in (view_func, getattr(view_func, "view_class", None), getattr(view_func, "cls", None)):
        policy = getattr(candidate, "access_policy", None)
        if policy is not None:
            return policy  # type: ignore[no-any-return]
    return None


def is_drf_view(view_func: Any) -> bool:
    return getattr(view_func, "cls", None) is not None  # APIView.as_view() sets .cls; DRF enforces itself


def is_admin_view(request: HttpRequest) -> bool:
    match = request.resolver_match
    return match is not None and "admin" in match.namespaces


class AccessPolicyMiddleware:
    """Plain Django views obey the same policy (the admin keeps its own staff login)."""

    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view_func: Any, args: Any, kwargs: Any
    ) -> HttpResponse | None:
        if is_drf_view(view_func):
            return None
        if is_admin_view(request):  # the admin's own staff login; its actions are audited as the user
            user_principal = principal_for_user(getattr(request, "user", None))
            if user_principal is not None:
                current_principal.set(user_principal)
            return None
        scope = scope_for_method(view_policy(view_func), request.method or "GET")
        if scope is None:
            return JsonResponse(
                {"detail": "This route declares no access policy for this method."}, status=403
            )
        try:
            principal = None
            if mode() != OFF:  # "off": keys are not checked at all (as in DRF and on the lean path)
                principal = principal_from_authorization(request.headers.get("Authorization"))
            if principal is None:
                principal = principal_for_user(getattr(request, "user", None))
            current_principal.set(decide(scope, principal))
        except AccessDenied as denied:
            response = JsonResponse({"detail": denied.message}, status=denied.status)
            if denied.status == 401:
                response["WWW-Authenticate"] = 'Bearer realm="modelhub"'
            return response
        return None
