"""Audit events, recorded by the services (register, update, delete, deploy, load, ...), never by views.

Who acted comes from the context variable the auth layer sets (`access.policy.current_principal`): the key
name, the user name, "anonymous" (MODELHUB_AUTH=off or an open route) or "system" (commands, workers).
"""

import logging
from typing import Any

from access.policy import current_principal, current_request_id
from access.redaction import redact_text

logger = logging.getLogger(__name__)


def who() -> str:
    """The current principal's name, e.g. for a task's `requested_by`."""
    return current_principal.get().name


def _redacted(value: Any) -> Any:
    """Error texts and URLs in an event's detail lose their query strings and userinfo (access/redaction.py)."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, list | tuple):
        return [_redacted(item) for item in value]
    if isinstance(value, dict):
        return {key: _redacted(item) for key, item in value.items()}
    return value


def record(action: str, object_type: str, object_id: Any = "", **detail: Any) -> None:
    """Write one event. An audit failure is logged and never breaks the action it describes."""
    from access.models import AuditEvent

    principal = current_principal.get()
    try:
        AuditEvent.objects.create(
            who=principal.name[:150],
            who_kind=principal.kind,
            action=action,
            object_type=object_type,
            object_id=str(object_id)[:255],
            request_id=current_request_id.get(),
            detail={key: _redacted(value) for key, value in detail.items()},
        )
    except Exception:
        logger.exception("Could not record the audit event %s %s %s", action, object_type, object_id)
