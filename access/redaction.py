"""What of a stored secret each caller may see: source URLs keep their query string (presigned signatures,
`?token=`) and userinfo for callers who may write, and lose them everywhere else (API answers to readers, logs,
audit rows, error texts, progress frames).
"""

import re
from urllib.parse import urlsplit, urlunsplit

from access.policy import WRITE, current_principal, needs_key

REDACTED = "[redacted]"
# A `?query` right after a URL or a path (`https://h/p?sig=...`, requests' "with url: /p?sig=..."), and the
# userinfo of an absolute URL. A question mark followed by a space or the end (prose) is left alone.
_QUERY = re.compile(r"(?<=[^\s?])\?[^\s'\"<>()\[\]{}]+")
_USERINFO = re.compile(r"(?i)(\b[a-z][a-z0-9+.-]*://)[^/\s@'\"<>]+@")


def redact_url(url: str) -> str:
    """`url` without its query string, fragment and userinfo (each replaced by a marker when present)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return redact_text(url)
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{REDACTED}@{netloc.rpartition('@')[2]}"
    return urlunsplit((parts.scheme, netloc, parts.path, REDACTED if parts.query else "", ""))


def redact_text(text: str) -> str:
    """Every URL-like query string and userinfo in free text (error messages, log lines) redacted."""
    return _QUERY.sub(f"?{REDACTED}", _USERINFO.sub(rf"\g<1>{REDACTED}@", text))


def may_see_secrets() -> bool:
    """Whether the current caller may read stored secrets: under MODELHUB_AUTH=off anyone (anyone may write);
    otherwise a principal with the `write` scope (keys, admin users, the system itself)."""
    return not needs_key(WRITE) or current_principal.get().has(WRITE)


def source_url_for_caller(url: str) -> str:
    return url if not url or may_see_secrets() else redact_url(url)
