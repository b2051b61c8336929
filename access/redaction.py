"""What of a stored secret each caller may see: source URLs keep their query string (presigned signatures,
`?token=`) and userinfo for callers who may write, and lose them everywhere else (API answers to readers, logs,
audit rows, error texts, progress frames).
"""

import re
from pathlib import Path
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


# An absolute POSIX path in free text (OpenVINO's and the OS's error messages quote the files they failed on).
_ABSOLUTE_PATH = re.compile(r"(?<![\w.:/])(/(?:[^\s'\"<>:;,()\[\]{}]+/)*[^\s'\"<>:;,()\[\]{}/]+/?)")


def _roots() -> list[tuple[str, str]]:
    """(absolute folder, what it is shown as): the model cache and the data folders, as configured and resolved."""
    from django.conf import settings

    named = [
        (settings.MODEL_CACHE_DIR, ""),
        (settings.ARTIFACTS_DIR, "artifacts/"),
        (settings.UPLOAD_TEMP_DIR, "tmp/"),
        (settings.DATA_DIR, ""),
    ]
    roots: dict[str, str] = {}
    for folder, shown in named:
        for form in (str(folder), str(Path(folder).resolve())):
            roots.setdefault(form.rstrip("/") + "/", shown)
    return sorted(roots.items(), key=lambda item: -len(item[0]))


def relative_paths(text: str) -> str:
    """Absolute paths in `text` made relative: to the model cache or the data folder when they lie there, else
    their last two parts (`…/1/model.xml`), so that no host layout reaches a reader. Logs keep the full text."""
    roots = _roots()

    def shorten(match: re.Match[str]) -> str:
        path = match.group(1)
        for root, shown in roots:
            if path.startswith(root):
                return shown + path[len(root) :]
        parts = [part for part in path.split("/") if part]
        return "…/" + "/".join(parts[-2:]) if len(parts) > 2 else path

    return _ABSOLUTE_PATH.sub(shorten, text)


def shown_error(text: str) -> str:
    """An error text as readers may see it: no URL secrets, no absolute paths."""
    return relative_paths(redact_text(text))
