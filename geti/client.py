"""A small client for the REST API of an Intel Geti server (2.x), only the endpoints modelhub uses.

Reference: https://docs.geti.intel.com/docs/rest-api/openapi-specification (also served by every Geti server
at /api/v1/docs). Base URL `{GETI_HOST}/api/{GETI_SERVER_API_VERSION}`, authentication by the `x-api-key`
header, resources under `/organizations/{org}/workspaces/{workspace}`.

Responses are parsed at the boundary into the frozen dataclasses below; every failure is a `GetiError` whose
message a person can act on and whose `status_code` is what modelhub answers its own client (502 Geti failed,
503 not configured, 504 timed out, 404 not found). The token never appears in a message or a log line.
"""

import logging
import re
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.exceptions import ReadTimeoutError
from urllib3.util.retry import Retry

from config.errors import PlainTextError, describe_error

logger = logging.getLogger(__name__)

REQUIRED_SETTINGS = (
    "GETI_HOST",
    "GETI_TOKEN",
    "GETI_SERVER_API_VERSION",
    "GETI_ORGANIZATION_ID",
    "GETI_WORKSPACE_ID",
)
RETRY_STATUSES = frozenset({429, 502, 503, 504})
PAGE_LIMIT = 100  # Geti's maximum page size
MAX_PAGES = 10_000
CHUNK_SIZE = 1024 * 1024
OBJECT_ID = re.compile(r"^[0-9a-fA-F]{24}$")


# --- Errors ---------------------------------------------------------------------------------------------


class GetiError(PlainTextError):
    """Talking to Geti failed. `status_code` is the status modelhub answers with."""

    status_code = 502


class GetiNotConfigured(GetiError):
    status_code = 503

    def __init__(self, missing: list[str]) -> None:
        super().__init__(
            f"The Geti integration is not configured: missing {', '.join(missing)}. Set "
            f"{', '.join(REQUIRED_SETTINGS[:-1])} and {REQUIRED_SETTINGS[-1]}, then restart modelhub."
        )
        self.missing = missing


class GetiUnreachable(GetiError):
    status_code = 502


class GetiTimeout(GetiError):
    status_code = 504


class GetiAuthFailed(GetiError):
    status_code = 502


class GetiNotFound(GetiError):
    status_code = 404

    def __init__(self, message: str, *, error_code: str = "") -> None:
        super().__init__(message)
        self.error_code = error_code


class GetiBadResponse(GetiError):
    status_code = 502


class GetiExportNotReady(GetiError):
    status_code = 504


# --- Typed responses ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Label:
    id: str
    name: str


@dataclass(frozen=True)
class Task:
    id: str
    task_type: str
    title: str
    labels: tuple[Label, ...] = ()

    @property
    def trainable(self) -> bool:
        return self.task_type.lower() not in {"dataset", "crop"}


@dataclass(frozen=True)
class Project:
    id: str
    name: str
    creation_time: str
    tasks: tuple[Task, ...] = ()

    @property
    def task_types(self) -> list[str]:
        return [task.task_type.lower() for task in self.tasks if task.trainable]


@dataclass(frozen=True)
class ModelSummary:
    id: str
    name: str
    version: int
    creation_date: str = ""
    size: int | None = None
    score: float | None = None
    active_model: bool = False


@dataclass(frozen=True)
class ModelGroup:
    id: str
    name: str
    task_id: str = ""
    model_template_id: str = ""
    models: tuple[ModelSummary, ...] = ()


@dataclass(frozen=True)
class OptimizedModel:
    id: str
    name: str
    model_format: str
    model_status: str = ""
    precision: tuple[str, ...] = ()
    size: int | None = None
    version: int | None = None
    score: float | None = None
    target_device: str = ""
    target_device_type: str = ""
    optimization_type: str = ""
    optimization_methods: tuple[str, ...] = ()
    creation_date: str = ""

    @property
    def is_openvino(self) -> bool:
        return self.model_format.lower() == "openvino"

    @property
    def importable(self) -> bool:
        return self.is_openvino and self.model_status.upper() != "FAILED"


@dataclass(frozen=True)
class ModelDetail:
    id: str
    name: str
    version: int
    architecture: str = ""
    precision: tuple[str, ...] = ()
    labels: tuple[Label, ...] = ()
    score: float | None = None
    creation_date: str = ""
    optimized_models: tuple[OptimizedModel, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class ExportDownload:
    """An export being streamed: iterate `chunks` once; `total_bytes` is None when Geti sends no length."""

    total_bytes: int | None
    chunks: Iterator[bytes]


# --- Parsing (the boundary) -----------------------------------------------------------------------------


def _score(data: dict[str, Any]) -> float | None:
    performance = data.get("performance") or {}
    value = performance.get("score") if isinstance(performance, dict) else None
    if value is None:
        value = data.get("score")
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _int_or_none(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _labels(items: Any) -> tuple[Label, ...]:
    return tuple(
        Label(id=str(item.get("id", "")), name=str(item["name"]))
        for item in items or []
        if isinstance(item, dict)
    )


def parse_project(data: dict[str, Any]) -> Project:
    pipeline = data.get("pipeline") or {}
    tasks = tuple(
        Task(
            id=str(task["id"]),
            task_type=str(task["task_type"]),
            title=str(task.get("title", "")),
            labels=_labels(task.get("labels")),
        )
        for task in pipeline.get("tasks", [])
    )
    return Project(
        id=str(data["id"]),
        name=str(data["name"]),
        creation_time=str(data.get("creation_time", "")),
        tasks=tasks,
    )


def parse_model_group(data: dict[str, Any]) -> ModelGroup:
    models = tuple(
        ModelSummary(
            id=str(model["id"]),
            name=str(model.get("name", "")),
            version=int(model.get("version", 0)),
            creation_date=str(model.get("creation_date", "")),
            size=_int_or_none(model.get("size")),
            score=_score(model),
            active_model=bool(model.get("active_model", False)),
        )
        for model in data.get("models", [])
    )
    return ModelGroup(
        id=str(data["id"]),
        name=str(data.get("name", "")),
        task_id=str(data.get("task_id", "")),
        model_template_id=str(data.get("model_template_id", "")),
        models=models,
    )


def parse_optimized_model(data: dict[str, Any]) -> OptimizedModel:
    return OptimizedModel(
        id=str(data["id"]),
        name=str(data.get("name", "")),
        model_format=str(data.get("model_format", "")),
        model_status=str(data.get("model_status", "")),
        precision=tuple(str(p) for p in data.get("precision") or []),
        size=_int_or_none(data.get("size")),
        version=_int_or_none(data.get("version")),
        score=_score(data),
        target_device=str(data.get("target_device") or ""),
        target_device_type=str(data.get("target_device_type") or ""),
        optimization_type=str(data.get("optimization_type") or ""),
        optimization_methods=tuple(str(m) for m in data.get("optimization_methods") or []),
        creation_date=str(data.get("creation_date") or ""),
    )


def parse_model_detail(data: dict[str, Any]) -> ModelDetail:
    return ModelDetail(
        id=str(data["id"]),
        name=str(data.get("name", "")),
        version=int(data.get("version", 0)),
        architecture=str(data.get("architecture") or ""),
        precision=tuple(str(p) for p in data.get("precision") or []),
        labels=_labels(data.get("labels")),
        score=_score(data),
        creation_date=str(data.get("creation_date") or ""),
        optimized_models=tuple(parse_optimized_model(item) for item in data.get("optimized_models") or []),
    )


# --- Configuration --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GetiConfig:
    host: str
    token: str = field(repr=False)
    api_version: str
    organization_id: str
    workspace_id: str
    verify_ssl: bool = True
    timeout: float = 30.0
    retries: int = 3
    backoff: float = 0.5
    export_deadline: float = 600.0

    @classmethod
    def from_settings(cls) -> "GetiConfig":
        """The configuration from Django settings; GetiNotConfigured names every missing variable."""
        missing = [name for name in REQUIRED_SETTINGS if not str(getattr(settings, name, "") or "").strip()]
        if missing:
            raise GetiNotConfigured(missing)
        host = settings.GETI_HOST.strip().rstrip("/")
        if "://" not in host:
            host = f"https://{host}"
        version = settings.GETI_SERVER_API_VERSION.strip().strip("/")
        if version.isdigit():
            version = f"v{version}"
        return cls(
            host=host,
            token=settings.GETI_TOKEN.strip(),
            api_version=version,
            organization_id=settings.GETI_ORGANIZATION_ID.strip(),
            workspace_id=settings.GETI_WORKSPACE_ID.strip(),
            verify_ssl=settings.GETI_VERIFY_SSL,
            timeout=settings.GETI_TIMEOUT_SECONDS,
            retries=settings.GETI_RETRIES,
            backoff=settings.GETI_RETRY_BACKOFF_SECONDS,
            export_deadline=settings.GETI_EXPORT_DEADLINE_SECONDS,
        )

    @property
    def workspace_url(self) -> str:
        return f"{self.host}/api/{self.api_version}/organizations/{self.organization_id}/workspaces/{self.workspace_id}"


def is_object_id(value: str) -> bool:
    """Geti ids are 24-hex ObjectIds; anything else cannot name a Geti resource (and must not reach a URL)."""
    return bool(OBJECT_ID.match(value))


# --- Client ---------------------------------------------------------------------------------------------


class GetiClient:
    """One method per Geti endpoint. Thread-safe for concurrent GETs (one pooled session)."""

    def __init__(self, config: GetiConfig) -> None:
        self.config = config
        self.session = requests.Session()
        self.session.headers.update({"x-api-key": config.token, "Accept": "application/json"})
        self.session.verify = config.verify_ssl
        # JSON reads retry transient statuses with exponential backoff (Retry-After honoured); exports do their
        # own loop with a deadline, because "not ready yet" can last far longer than a few retries.
        self.session.mount(
            config.host,
            HTTPAdapter(
                pool_maxsize=16,
                max_retries=Retry(
                    total=config.retries,
                    backoff_factor=config.backoff,
                    status_forcelist=sorted(RETRY_STATUSES),
                    allowed_methods=frozenset({"GET"}),
                    respect_retry_after_header=True,
                    raise_on_status=False,
                ),
            ),
        )
        self._export_session = requests.Session()
        self._export_session.headers.update({"x-api-key": config.token})
        self._export_session.verify = config.verify_ssl
        self._export_session.mount(
            config.host,
            HTTPAdapter(
                max_retries=Retry(
                    total=config.retries,
                    connect=config.retries,
                    read=0,
                    status=0,
                    backoff_factor=config.backoff,
                    allowed_methods=frozenset({"GET"}),
                )
            ),
        )

    def close(self) -> None:
        self.session.close()
        self._export_session.close()

    def __enter__(self) -> "GetiClient":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # Endpoints ---------------------------------------------------------------------------------------

    def list_projects(self) -> list[Project]:
        """GET {P}/projects, every page."""
        projects: list[Project] = []
        skip = 0
        for _ in range(MAX_PAGES):
            page = self._get_json(
                "/projects", params={"limit": PAGE_LIMIT, "skip": skip}, what="the list of projects"
            )
            items = page.get("projects")
            if not isinstance(items, list):
                raise GetiBadResponse(
                    f"The Geti server at {self.config.host} answered GET /projects without a 'projects' list."
                )
            projects.extend(self._parse(parse_project, item, "a project") for item in items)
            skip += len(items)
            total = _int_or_none(page.get("project_counts"))
            if not items or not page.get("next_page") or (total is not None and len(projects) >= total):
                return projects
        raise GetiBadResponse(f"The Geti server at {self.config.host} kept answering more pages of projects.")

    def get_project(self, project_id: str) -> Project:
        """GET {P}/projects/{id}."""
        self._require_object_id(project_id, "project")
        data = self._get_json(f"/projects/{project_id}", what=f"project {project_id}")
        return self._parse(parse_project, data, "a project")

    def list_model_groups(self, project_id: str) -> list[ModelGroup]:
        """GET {P}/projects/{id}/model_groups."""
        self._require_object_id(project_id, "project")
        data = self._get_json(
            f"/projects/{project_id}/model_groups", what=f"the model groups of project {project_id}"
        )
        items = data.get("model_groups")
        if not isinstance(items, list):
            raise GetiBadResponse(
                f"The Geti server at {self.config.host} answered without a 'model_groups' list."
            )
        return [self._parse(parse_model_group, item, "a model group") for item in items]

    def get_model(self, project_id: str, group_id: str, model_id: str) -> ModelDetail:
        """GET {P}/projects/{id}/model_groups/{gid}/models/{mid}: the model with its optimized models."""
        for value, kind in ((project_id, "project"), (group_id, "model group"), (model_id, "model")):
            self._require_object_id(value, kind)
        data = self._get_json(
            f"/projects/{project_id}/model_groups/{group_id}/models/{model_id}", what=f"model {model_id}"
        )
        return self._parse(parse_model_detail, data, "a model")

    @contextmanager
    def open_optimized_model_export(
        self,
        project_id: str,
        group_id: str,
        model_id: str,
        optimized_model_id: str,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> Iterator[ExportDownload]:
        """GET {P}/projects/{id}/model_groups/{gid}/models/{mid}/optimized_models/{oid}/export, streamed.

        While Geti answers 429/502/503/504 (an export that is not ready yet), retries with exponential
        backoff until `export_deadline` seconds have passed, then raises GetiExportNotReady.
        """
        for value, kind in (
            (project_id, "project"),
            (group_id, "model group"),
            (model_id, "model"),
            (optimized_model_id, "optimized model"),
        ):
            self._require_object_id(value, kind)
        path = f"/projects/{project_id}/model_groups/{group_id}/models/{model_id}/optimized_models/{optimized_model_id}/export"
        what = f"the export of optimized model {optimized_model_id}"
        deadline = time.monotonic() + self.config.export_deadline
        delay = max(self.config.backoff, 0.01)
        attempt = 0
        while True:
            attempt += 1
            response = self._send(self._export_session, path, what=what, stream=True)
            if response.status_code not in RETRY_STATUSES:
                break
            remaining = deadline - time.monotonic()
            wait = min(_retry_after(response) or delay, 30.0)
            response.close()
            if remaining <= wait:
                raise GetiExportNotReady(
                    f"The Geti server at {self.config.host} did not have {what} ready within "
                    f"{self.config.export_deadline:g} s ({attempt} attempts, last answer HTTP {response.status_code})."
                )
            logger.info(
                "Geti: %s not ready (HTTP %s, attempt %s); retrying in %.1f s",
                what,
                response.status_code,
                attempt,
                wait,
            )
            sleep(wait)
            delay = min(delay * 2, 30.0)
        try:
            self._raise_for_status(response, path, what)
            length = response.headers.get("Content-Length")
            yield ExportDownload(
                total_bytes=int(length) if length and length.isdigit() else None,
                chunks=self._iter_chunks(response, what),
            )
        finally:
            response.close()

    # Plumbing ----------------------------------------------------------------------------------------

    def _iter_chunks(self, response: requests.Response, what: str) -> Iterator[bytes]:
        try:
            yield from response.iter_content(CHUNK_SIZE)
        except requests.Timeout:
            raise GetiTimeout(
                f"The Geti server at {self.config.host} stalled while sending {what} (no data for {self.config.timeout:g} s)."
            ) from None
        except requests.RequestException as exc:
            raise GetiUnreachable(
                f"The download of {what} from the Geti server at {self.config.host} broke off: {self._redact(exc)}."
            ) from None

    def _get_json(self, path: str, *, what: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        response = self._send(self.session, path, what=what, params=params)
        with response:
            self._raise_for_status(response, path, what)
            try:
                data = response.json()
            except ValueError:
                raise GetiBadResponse(
                    f"The Geti server at {self.config.host} answered {what} with something that is not JSON."
                ) from None
        if not isinstance(data, dict):
            raise GetiBadResponse(
                f"The Geti server at {self.config.host} answered {what} with JSON that is not an object."
            )
        return data

    def _send(
        self,
        session: requests.Session,
        path: str,
        *,
        what: str,
        params: dict[str, Any] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        url = f"{self.config.workspace_url}{path}"
        try:
            return session.get(
                url,
                params=params,
                timeout=(min(self.config.timeout, 10.0), self.config.timeout),
                stream=stream,
            )
        except requests.exceptions.SSLError as exc:
            raise GetiUnreachable(
                f"TLS with the Geti server at {self.config.host} failed ({self._redact(exc)}); set GETI_VERIFY_SSL=false "
                "only for a server with a self-signed certificate you trust."
            ) from None
        except requests.Timeout:
            raise GetiTimeout(
                f"The Geti server at {self.config.host} did not answer {what} within {self.config.timeout:g} s."
            ) from None
        except requests.exceptions.RetryError:
            raise GetiUnreachable(
                f"The Geti server at {self.config.host} kept failing to answer {what}."
            ) from None
        except requests.ConnectionError as exc:
            if _is_read_timeout(exc):
                raise GetiTimeout(
                    f"The Geti server at {self.config.host} did not answer {what} within {self.config.timeout:g} s."
                ) from None
            raise GetiUnreachable(
                f"Cannot reach the Geti server at {self.config.host} (GETI_HOST) to get {what}."
            ) from None
        except requests.RequestException as exc:
            raise GetiUnreachable(
                f"Cannot get {what} from the Geti server at {self.config.host}: {self._redact(exc)}."
            ) from None

    def _raise_for_status(self, response: requests.Response, path: str, what: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        body_message, error_code = _error_body(response)
        detail = f": {self._redact(body_message)}" if body_message else ""
        if status == 401:
            raise GetiAuthFailed(
                f"The Geti server at {self.config.host} rejected the API key (HTTP 401): check GETI_TOKEN."
            )
        if status == 403:
            raise GetiAuthFailed(
                f"The Geti server at {self.config.host} refused access to {what} (HTTP 403): check that the GETI_TOKEN "
                "user may read GETI_ORGANIZATION_ID / GETI_WORKSPACE_ID."
            )
        if status == 404:
            raise GetiNotFound(f"The Geti server has no {what}{detail}", error_code=error_code)
        if status in RETRY_STATUSES:
            raise GetiUnreachable(
                f"The Geti server at {self.config.host} is unavailable (HTTP {status} for {what}, after {self.config.retries} retries){detail}."
            )
        raise GetiBadResponse(
            f"The Geti server at {self.config.host} answered HTTP {status} for {what}{detail}."
        )

    def _parse(self, parser: Callable[[dict[str, Any]], Any], data: Any, what: str) -> Any:
        try:
            return parser(data)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise GetiBadResponse(
                f"The Geti server at {self.config.host} sent {what} in an unexpected shape ({describe_error(exc)})."
            ) from None

    def _require_object_id(self, value: str, kind: str) -> None:
        if not is_object_id(value):
            raise GetiNotFound(
                f"{value!r} is not a Geti {kind} id (24 hexadecimal digits).", error_code="invalid_id"
            )

    def _redact(self, value: object) -> str:
        text = str(value)
        return text.replace(self.config.token, "***") if self.config.token else text


def _is_read_timeout(exc: requests.ConnectionError) -> bool:
    """urllib3 reports a read timeout that used up the retries as a connection error wrapping it."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, ReadTimeoutError)


def _retry_after(response: requests.Response) -> float | None:
    raw = response.headers.get("Retry-After", "")
    try:
        return max(float(raw), 0.0) if raw else None
    except ValueError:
        return None


def _error_body(response: requests.Response) -> tuple[str, str]:
    """Geti's error body {"http_status", "message", "error_code"}, or a short piece of whatever came."""
    try:
        data = response.json()
    except ValueError:
        return response.text[:200].strip(), ""
    if isinstance(data, dict):
        return str(data.get("message") or data.get("detail") or "")[:500], str(data.get("error_code") or "")
    return "", ""


def client_from_settings() -> GetiClient:
    return GetiClient(GetiConfig.from_settings())
