"""A fake Intel Geti server: a real HTTP server answering Geti 2.x REST paths with Geti's JSON shapes.

In tests: `with FakeGeti() as geti: ... geti.env()` (a thread on a free local port). Standalone, to try
modelhub by hand:

    python -m tests.fakes.geti --port 9090

prints the GETI_* variables to export before `make run`. Exports are ZIPs holding a real OpenVINO IR model
(`model.xml` + `model.bin`, built with tests/modelfiles.py): y = x * 0 + value, one value per optimized model.

Knobs for tests: `not_ready[oid] = n` (the next n exports answer 503), `slow[oid] = seconds` (the export
trickles over that long), `export_status[oid] = 500` (the export fails), `fail_json = n` (the next n JSON
reads answer 503), `hang = seconds` (JSON reads stall that long), `page_size` (projects per page).
"""

import argparse
import hashlib
import json
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DEFAULT_TOKEN = "geti_pat_fake-token-0123456789abcdef"
DEFAULT_ORG = "2b8b5d6e-1c7a-4f0e-9d3b-5a6f7e8d9c0b"
DEFAULT_WORKSPACE = "7c1d2e3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"


def object_id(seed: str) -> str:
    """A stable 24-hex ObjectId for a name, so ids are the same in every run."""
    return hashlib.sha1(seed.encode()).hexdigest()[:24]


@dataclass
class FakeOptimized:
    id: str
    name: str
    model_format: str
    precision: list[str]
    value: float
    optimization_type: str = "MO"
    model_status: str = "SUCCESS"


@dataclass
class FakeModel:
    id: str
    name: str
    version: int
    architecture: str
    score: float
    labels: list[str]
    optimized: list[FakeOptimized] = field(default_factory=list)


@dataclass
class FakeGroup:
    id: str
    name: str
    task_id: str
    model_template_id: str
    models: list[FakeModel] = field(default_factory=list)


@dataclass
class FakeProject:
    id: str
    name: str
    creation_time: str
    tasks: list[dict[str, Any]]
    groups: list[FakeGroup] = field(default_factory=list)


def _labels(names: list[str]) -> list[dict[str, Any]]:
    colors = ["#ff5662ff", "#26518eff", "#81407bff", "#9d3b1aff"]
    return [
        {
            "id": object_id(f"label {name}"),
            "name": name,
            "color": colors[i % len(colors)],
            "group": "default",
            "is_empty": False,
            "hotkey": "",
            "is_anomalous": False,
            "parent_id": None,
        }
        for i, name in enumerate(names)
    ]


def _task(project: str, task_type: str, title: str, labels: list[str] | None = None) -> dict[str, Any]:
    task: dict[str, Any] = {
        "id": object_id(f"{project} task {title}"),
        "task_type": task_type,
        "title": title,
    }
    if labels is not None:
        task["labels"] = _labels(labels)
        task["label_schema_id"] = object_id(f"{project} schema {title}")
    return task


def _group(
    project: str,
    task_id: str,
    architecture: str,
    versions: int,
    formats: list[tuple[str, str, str]],
    labels: list[str],
    base_value: float,
) -> FakeGroup:
    group = FakeGroup(
        object_id(f"{project} group {architecture}"),
        architecture,
        task_id,
        f"Custom_{architecture.replace('-', '_')}",
    )
    for version in range(1, versions + 1):
        model = FakeModel(
            object_id(f"{project} {architecture} v{version}"),
            architecture,
            version,
            architecture,
            round(0.7 + 0.05 * version, 2),
            labels,
        )
        for index, (fmt, precision, optimization) in enumerate(formats):
            name = f"{architecture} {fmt} {precision}"
            model.optimized.append(
                FakeOptimized(
                    id=object_id(f"{project} {architecture} v{version} {fmt} {precision}"),
                    name=name,
                    model_format=fmt,
                    precision=[precision],
                    value=base_value + version * 10 + index,
                    optimization_type=optimization,
                )
            )
        group.models.append(model)
    return group


def default_catalog(empty_projects: int = 3) -> list[FakeProject]:
    """Two projects with models (a detection project, a detection -> classification chain) and empty ones."""
    detection = FakeProject(
        object_id("project vehicles"), "Vehicle detection", "2024-05-02T09:30:00.000000+00:00", []
    )
    detection.tasks = [
        _task("vehicles", "dataset", "Dataset"),
        _task("vehicles", "detection", "Detection", ["car", "truck"]),
    ]
    ovms = [
        ("OpenVINO", "FP32", "MO"),
        ("OpenVINO", "FP16", "MO"),
        ("OpenVINO", "INT8", "POT"),
        ("ONNX", "FP32", "ONNX"),
    ]
    detection.groups = [
        _group("vehicles", detection.tasks[1]["id"], "YOLOX", 2, ovms, ["car", "truck"], 100.0),
        _group(
            "vehicles",
            detection.tasks[1]["id"],
            "ATSS",
            1,
            [("OpenVINO", "FP16", "MO"), ("ONNX", "FP32", "ONNX")],
            ["car", "truck"],
            200.0,
        ),
    ]
    chain = FakeProject(
        object_id("project defects"), "Defect inspection", "2024-06-11T14:05:00.000000+00:00", []
    )
    chain.tasks = [
        _task("defects", "dataset", "Dataset"),
        _task("defects", "detection", "Detection", ["defect"]),
        _task("defects", "crop", "Crop"),
        _task("defects", "classification", "Classification", ["scratch", "dent"]),
    ]
    chain.groups = [
        _group(
            "defects",
            chain.tasks[3]["id"],
            "EfficientNet-B0",
            1,
            [("OpenVINO", "FP16", "MO")],
            ["scratch", "dent"],
            300.0,
        )
    ]
    empties = [
        FakeProject(
            object_id(f"project empty {i}"),
            f"Empty project {i}",
            f"2024-07-0{i}T08:00:00.000000+00:00",
            [
                _task(f"empty{i}", "dataset", "Dataset"),
                _task(f"empty{i}", "segmentation", "Segmentation", ["blob"]),
            ],
        )
        for i in range(1, empty_projects + 1)
    ]
    return [detection, chain, *empties]


class FakeGeti:
    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        organization_id: str = DEFAULT_ORG,
        workspace_id: str = DEFAULT_WORKSPACE,
        api_version: str = "v1",
        page_size: int = 2,
        projects: list[FakeProject] | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.token = token
        self.organization_id = organization_id
        self.workspace_id = workspace_id
        self.api_version = api_version
        self.page_size = page_size
        self.projects = projects if projects is not None else default_catalog()
        self.not_ready: dict[str, int] = {}
        self.slow: dict[str, float] = {}
        self.export_status: dict[str, int] = {}
        self.fail_json = 0
        self.hang = 0.0
        self.export_attempts: Counter[str] = Counter()
        self.requests: list[tuple[str, str, bool]] = []  # (path, query, api key correct)
        self.lock = threading.Lock()
        self._zips: dict[str, bytes] = {}
        self._tmp = Path(tempfile.mkdtemp(prefix="fake-geti-"))
        self.server = _Server((host, port), _handler_for(self))
        self._thread: threading.Thread | None = None

    # Lifecycle ---------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}" if isinstance(host, str) else f"http://{host.decode()}:{port}"

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "GETI_HOST": self.url,
            "GETI_TOKEN": self.token,
            "GETI_SERVER_API_VERSION": self.api_version,
            "GETI_ORGANIZATION_ID": self.organization_id,
            "GETI_WORKSPACE_ID": self.workspace_id,
            "GETI_VERIFY_SSL": "false",
        }
        env.update(overrides)
        return env

    def start(self) -> "FakeGeti":
        self._thread = threading.Thread(target=self.server.serve_forever, name="fake-geti", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> "FakeGeti":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def reset(self) -> None:
        """Forget the knobs and the request log (a server shared by several tests)."""
        with self.lock:
            self.not_ready.clear()
            self.slow.clear()
            self.export_status.clear()
            self.fail_json = 0
            self.hang = 0.0
            self.export_attempts.clear()
            self.requests.clear()

    # Lookups for tests -------------------------------------------------------------------------------

    def project(self, name: str) -> FakeProject:
        return next(p for p in self.projects if p.name == name)

    def optimized(
        self, project_name: str, architecture: str, version: int, model_format: str, precision: str
    ) -> tuple[FakeGroup, FakeModel, FakeOptimized]:
        project = self.project(project_name)
        group = next(g for g in project.groups if g.name == architecture)
        model = next(m for m in group.models if m.version == version)
        optimized = next(
            o for o in model.optimized if o.model_format == model_format and o.precision == [precision]
        )
        return group, model, optimized

    def export_zip(self, optimized: FakeOptimized) -> bytes:
        with self.lock:
            if optimized.id not in self._zips:
                from tests.modelfiles import build_constant_model, ir_zip

                self._zips[optimized.id] = ir_zip(
                    build_constant_model(optimized.value), self._tmp / optimized.id
                )
            return self._zips[optimized.id]

    # JSON shapes of Geti 2.x -------------------------------------------------------------------------

    def workspace_path(self) -> str:
        return f"/api/{self.api_version}/organizations/{self.organization_id}/workspaces/{self.workspace_id}"

    def project_json(self, project: FakeProject) -> dict[str, Any]:
        connections = [
            {"from": a["id"], "to": b["id"]} for a, b in zip(project.tasks, project.tasks[1:], strict=False)
        ]
        return {
            "id": project.id,
            "name": project.name,
            "creation_time": project.creation_time,
            "creator_id": "8f7e6d5c-4b3a-4c2d-9e1f-0a9b8c7d6e5f",
            "pipeline": {"tasks": project.tasks, "connections": connections},
            "thumbnail": f"{self.workspace_path()}/projects/{project.id}/thumbnail",
            "performance": {
                "score": 0.82,
                "task_performances": [
                    {"task_id": t["id"], "score": {"value": 0.82, "metric_type": "f-measure"}}
                    for t in project.tasks
                    if "labels" in t
                ],
            },
            "storage_info": {},
            "datasets": [
                {
                    "id": object_id(f"{project.id} dataset"),
                    "name": "Dataset",
                    "use_for_training": True,
                    "creation_time": project.creation_time,
                }
            ],
        }

    def model_summary_json(self, model: FakeModel, group: FakeGroup) -> dict[str, Any]:
        return {
            "id": model.id,
            "name": model.name,
            "creation_date": "2024-05-03T10:00:00.000000+00:00",
            "size": 12_345_678,
            "performance": {"score": model.score},
            "label_schema_in_sync": True,
            "active_model": model is group.models[-1],
            "version": model.version,
            "purge_info": {"is_purged": False, "purge_time": None, "user_uid": None},
            "lifecycle_stage": "active",
        }

    def optimized_json(self, optimized: FakeOptimized, model: FakeModel) -> dict[str, Any]:
        return {
            "id": optimized.id,
            "name": optimized.name,
            "model_format": optimized.model_format,
            "model_status": optimized.model_status,
            "precision": optimized.precision,
            "creation_date": "2024-05-03T10:30:00.000000+00:00",
            "size": 4_567_890,
            "version": model.version,
            "performance": {"score": round(model.score - 0.01, 2)},
            "optimization_type": optimized.optimization_type,
            "optimization_methods": ["QUANTIZATION"] if optimized.optimization_type == "POT" else [],
            "optimization_objectives": {},
            "target_device": "CPU",
            "target_device_type": None,
            "has_xai_head": False,
            "lifecycle_stage": "active",
            "previous_revision_id": model.id,
            "previous_trained_revision_id": model.id,
        }

    def model_detail_json(self, model: FakeModel, group: FakeGroup) -> dict[str, Any]:
        return {
            **self.model_summary_json(model, group),
            "architecture": model.architecture,
            "precision": ["FP32"],
            "target_device": "CPU",
            "target_device_type": None,
            "training_framework": {"type": "otx", "version": "2.1.0"},
            "learning_approach": "fully_supervised",
            "labels": _labels(model.labels),
            "optimized_models": [self.optimized_json(o, model) for o in model.optimized],
            "training_dataset_info": {
                "dataset_storage_id": object_id(f"{group.id} dataset"),
                "dataset_revision_id": object_id(f"{model.id} rev"),
            },
        }


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # a client that went away is not news
            super().handle_error(request, client_address)


def _error(status: int, message: str, error_code: str) -> tuple[int, dict[str, Any]]:
    return status, {"http_status": status, "message": message, "error_code": error_code}


def _handler_for(geti: FakeGeti) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "FakeGeti/2.0"

        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def do_GET(self) -> None:  # noqa: N802
            parts = urlsplit(self.path)
            key_ok = self.headers.get("x-api-key") == geti.token
            with geti.lock:
                geti.requests.append((parts.path, parts.query, key_ok))
            if not key_ok:
                self._json(
                    *_error(401, "Unauthorized: the API key is missing, expired or invalid.", "unauthorized")
                )
                return
            prefix = f"/api/{geti.api_version}/organizations/"
            if not parts.path.startswith(prefix):
                self._json(*_error(404, "The requested resource was not found.", "resource_not_found"))
                return
            match = re.fullmatch(r"([^/]+)/workspaces/([^/]+)(/.*)", parts.path[len(prefix) :])
            if not match or match.group(1) != geti.organization_id or match.group(2) != geti.workspace_id:
                self._json(*_error(404, "The requested workspace could not be found.", "workspace_not_found"))
                return
            self._route(match.group(3), parse_qs(parts.query))

        def _route(self, path: str, query: dict[str, list[str]]) -> None:
            export = re.fullmatch(
                r"/projects/([^/]+)/model_groups/([^/]+)/models/([^/]+)/optimized_models/([^/]+)/export", path
            )
            if export:
                self._export(*export.groups())
                return
            if geti.hang:
                time.sleep(geti.hang)
            with geti.lock:
                transient = geti.fail_json > 0
                geti.fail_json -= 1 if transient else 0
            if transient:
                self._json(*_error(503, "The service is temporarily unavailable.", "service_unavailable"))
                return
            if path == "/projects":
                limit = min(int(query.get("limit", ["10"])[0]), 100, geti.page_size)
                skip = int(query.get("skip", ["0"])[0])
                page = geti.projects[skip : skip + limit]
                more = skip + limit < len(geti.projects)
                next_page = (
                    f"{geti.workspace_path()}/projects?limit={limit}&skip={skip + limit}" if more else ""
                )
                self._json(
                    200,
                    {
                        "projects": [geti.project_json(p) for p in page],
                        "project_counts": len(geti.projects),
                        "project_page_count": len(page),
                        "next_page": next_page,
                    },
                )
                return
            match = re.fullmatch(r"/projects/([^/]+)(?:/model_groups(?:/([^/]+)/models/([^/]+))?)?", path)
            if not match:
                self._json(*_error(404, "The requested resource was not found.", "resource_not_found"))
                return
            project_id, group_id, model_id = match.groups()
            project = next((p for p in geti.projects if p.id == project_id), None)
            if project is None:
                self._json(
                    *_error(
                        404,
                        f"The requested project could not be found. Project ID: `{project_id}`.",
                        "project_not_found",
                    )
                )
                return
            if path == f"/projects/{project_id}":
                self._json(200, geti.project_json(project))
            elif group_id is None:
                groups = [
                    {
                        "id": g.id,
                        "name": g.name,
                        "task_id": g.task_id,
                        "model_template_id": g.model_template_id,
                        "learning_approach": "fully_supervised",
                        "lifecycle_stage": "active",
                        "models": [geti.model_summary_json(m, g) for m in g.models],
                    }
                    for g in project.groups
                ]
                self._json(200, {"model_groups": groups})
            else:
                found = self._find(project, group_id, model_id)
                if found is not None:
                    group, model = found
                    self._json(200, geti.model_detail_json(model, group))

        def _find(
            self, project: FakeProject, group_id: str, model_id: str
        ) -> tuple[FakeGroup, FakeModel] | None:
            group = next((g for g in project.groups if g.id == group_id), None)
            if group is None:
                self._json(
                    *_error(
                        404,
                        f"The requested model group could not be found. Model Group ID: `{group_id}`.",
                        "model_storage_not_found",
                    )
                )
                return None
            model = next((m for m in group.models if m.id == model_id), None)
            if model is None:
                self._json(
                    *_error(
                        404,
                        f"The requested model could not be found. Model ID: `{model_id}`.",
                        "model_not_found",
                    )
                )
                return None
            return group, model

        def _export(self, project_id: str, group_id: str, model_id: str, optimized_id: str) -> None:
            project = next((p for p in geti.projects if p.id == project_id), None)
            if project is None:
                self._json(
                    *_error(
                        404,
                        f"The requested project could not be found. Project ID: `{project_id}`.",
                        "project_not_found",
                    )
                )
                return
            found = self._find(project, group_id, model_id)
            if found is None:
                return
            optimized = next((o for o in found[1].optimized if o.id == optimized_id), None)
            if optimized is None:
                self._json(
                    *_error(
                        404,
                        f"The requested model could not be found. Model ID: `{optimized_id}`.",
                        "model_not_found",
                    )
                )
                return
            with geti.lock:
                geti.export_attempts[optimized_id] += 1
                not_ready = geti.not_ready.get(optimized_id, 0) > 0
                if not_ready:
                    geti.not_ready[optimized_id] -= 1
            if not_ready:
                self._json(
                    *_error(503, "The model is not ready for export yet; try again later.", "model_not_ready")
                )
                return
            if optimized_id in geti.export_status:
                status = geti.export_status[optimized_id]
                self._json(*_error(status, "Exporting the model failed.", "model_export_failed"))
                return
            payload = geti.export_zip(optimized)
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header(
                "Content-Disposition", f'attachment; filename="{optimized.name.replace(" ", "_")}.zip"'
            )
            self.end_headers()
            slow = geti.slow.get(optimized_id, 0.0)
            pieces = 20 if slow else 1
            step = -(-len(payload) // pieces)
            try:
                for offset in range(0, len(payload), step):
                    if slow:
                        time.sleep(slow / pieces)
                    self.wfile.write(payload[offset : offset + step])
            except (BrokenPipeError, ConnectionResetError):
                pass

        def _json(self, status: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    return Handler


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="A fake Intel Geti server for trying modelhub's Geti integration."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=9090)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    parser.add_argument(
        "--page-size", type=int, default=2, help="Projects per page (Geti pages its project list)."
    )
    args = parser.parse_args(argv)
    geti = FakeGeti(token=args.token, host=args.host, port=args.port, page_size=args.page_size)
    print(f"Fake Geti on {geti.url} with {len(geti.projects)} projects. For modelhub, export:\n")
    for name, value in geti.env().items():
        print(f"export {name}={value}")
    print('\nProjects and importable OpenVINO models ({"id": optimized model, "group_id": group}):')
    for project in geti.projects:
        print(f"  {project.id}  {project.name}")
        for group in project.groups:
            for model in group.models:
                for optimized in model.optimized:
                    if optimized.model_format == "OpenVINO":
                        print(
                            f"      id={optimized.id} group_id={group.id}  {optimized.name} v{model.version}"
                        )
    print("\nCtrl-C stops it.", flush=True)
    try:
        geti.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        geti.server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
