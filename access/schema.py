"""OpenAPI security schemes of the access layer (imported by AccessConfig.ready)."""

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class BearerKeyScheme(OpenApiAuthenticationExtension):
    target_class = "access.drf.BearerKeyAuthentication"
    name = "apiKey"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return build_bearer_security_scheme_object(  # type: ignore[no-any-return]
            header_name="Authorization", token_prefix="Bearer"
        )


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "access.drf.SessionPrincipalAuthentication"
    name = "sessionAuth"

    def get_security_definition(self, auto_schema: Any) -> dict[str, Any]:
        return {"type": "apiKey", "in": "cookie", "name": "sessionid"}
