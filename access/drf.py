"""DRF side of the policy: authentication (Bearer key, then session login) and the ONE global permission.

A view declares `access_policy = {"GET": "read", "POST": "write"}`. A view without one is refused (fail
closed); a method the view does not implement passes, so DRF answers it 405 (nothing can run).
"""

from typing import Any

from rest_framework import exceptions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication
from rest_framework.permissions import BasePermission
from rest_framework.request import Request

from access.keys import principal_for_user
from access.policy import (
    OFF,
    AccessDenied,
    current_principal,
    decide,
    mode,
    principal_from_authorization,
    scope_for_method,
)


class KeyUser:
    """request.user for a key: authenticated, not a Django user."""

    is_authenticated = True
    is_active = True
    is_staff = False
    is_superuser = False

    def __init__(self, name: str) -> None:
        self.username = name

    def __str__(self) -> str:
        return self.username


class BearerKeyAuthentication(BaseAuthentication):
    def authenticate(self, request: Request) -> tuple[KeyUser, Any] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if not header or mode() == OFF:  # "off": keys are not checked at all
            return None
        try:
            principal = principal_from_authorization(header)
        except AccessDenied as denied:
            raise exceptions.AuthenticationFailed(denied.message) from None
        if principal is None:
            return None
        return KeyUser(principal.name), principal

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="modelhub"'


class SessionPrincipalAuthentication(SessionAuthentication):
    """A Django login (the admin's session) with the user's scopes; CSRF is enforced for unsafe methods."""

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        result = super().authenticate(request)
        if result is None:
            return None
        user, _ = result
        return user, principal_for_user(user)


class AccessPolicyPermission(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        method = (request.method or "GET").upper()
        policy = getattr(view, "access_policy", None)
        scope = scope_for_method(policy, method)
        if scope is None:
            if policy and not hasattr(view, method.lower()):
                # Not implemented: DRF answers 405, but only to a caller who may use the route some other way, so
                # that under "all" an anonymous client cannot tell which routes exist (issue 24).
                _decide_any(sorted(set(policy.values())), request.auth)
                return True
            raise exceptions.PermissionDenied("This route declares no access policy for this method.")
        current_principal.set(_decide(scope, request.auth))
        return True


def _decide(scope: str, principal: Any) -> Any:
    try:
        return decide(scope, principal)
    except AccessDenied as denied:
        if denied.status == 401:
            raise exceptions.NotAuthenticated(denied.message) from None
        raise exceptions.PermissionDenied(denied.message) from None


def _decide_any(scopes: list[str], principal: Any) -> None:
    """Passes when the principal may use any of `scopes`; otherwise the first one's refusal."""
    for scope in scopes:
        try:
            decide(scope, principal)
            return
        except AccessDenied:
            continue
    _decide(scopes[0], principal)
