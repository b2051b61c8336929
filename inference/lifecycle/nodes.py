"""Node-local work on several nodes: every node's server processes keep its model cache as the database says.

A node is one model cache on one host, named by settings.NODE_NAME (MODELHUB_NODE_NAME, default
"node-<12 hex digits of a hash of hostname and model cache folder>": readers see it, so it names neither); all server processes of a node share the name and the cache. The node
agent (a thread in each server process, started by the ASGI lifespan) every NODE_SYNC_SECONDS:
- heartbeats the Node row (a node is live while one of its server processes beats);
- for every COMPLETED DownloadJob (= the model is wanted on every node), makes sure this node has a
  COMPLETED NodeCopy of that run whose files are in the cache; one process of the node claims the copy with
  a conditional UPDATE and unpacks it (inference.cache.materialize, from S3 or the shared disk);
- evicts the files of models with a CacheRemoval (POST /delete) that no process serves, and complete
  folders whose model no longer exists (deleted from the registry), so a node that was down catches up.

Worker-only hosts serve nothing and keep no cache. When no node is live at all (management commands, tests
without a server), the django-q2 worker materialises into its own node's cache, as a single machine did.
Reads: `download_state` is the progress of one model across the live nodes (WebSocket frames, the Model
object): COMPLETED when every live node has it, FAILED when one node failed, IN-PROGRESS meanwhile.
"""

import logging
import os
import shutil
import socket
import threading
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection
from django.utils import timezone

from access.redaction import shown_error
from inference.cache import COMPLETE_MARKER, MaterializeCanceled, cached_path, evict, materialize
from inference.lifecycle.events import frame_of, now_version, publish
from inference.lifecycle.models import (
    CacheRemoval,
    DownloadJob,
    DownloadPhase,
    DownloadStatus,
    Node,
    NodeCopy,
)
from inference.models import ServableIdentity, ServedVersion
from registry.models import Model

logger = logging.getLogger(__name__)

PROGRESS_INTERVAL = 0.15
CANCEL_CHECK_SECONDS = 0.5
SWEEP_EVERY_TICKS = 5


def phase_slices(model: Model, start: float, end: float) -> dict[str, tuple[float, float]]:
    """The part of [start, end] each phase of unpacking `model` fills: COPY (remote storage such as S3 to a
    local temporary file) and UNPACK, or UNPACK alone when the stored file is on a local disk."""
    try:
        model.file.path  # noqa: B018 (local storage has a path; remote storage raises)
        return {DownloadPhase.UNPACK: (start, end)}
    except NotImplementedError:
        middle = (start + end) / 2
        return {DownloadPhase.COPY: (start, middle), DownloadPhase.UNPACK: (middle, end)}


def node_name() -> str:
    return str(settings.NODE_NAME)


def live_nodes() -> list[str]:
    cutoff = timezone.now() - timedelta(seconds=settings.INFERENCE_STALE_SECONDS)
    return sorted(Node.objects.filter(last_seen__gte=cutoff).values_list("name", flat=True))


def materialize_in_worker() -> bool:
    """Does the worker that ran a download also unpack it? Only when no node is live to do it."""
    return not live_nodes()


# --- reads ----------------------------------------------------------------------------------------------------


def _node_frame(copy: NodeCopy | None, node: str, run_id: str) -> dict[str, Any]:
    if copy is None or copy.run_id != run_id:
        return {"node": node, "status": str(DownloadStatus.INITIALIZED), "percentage": 0.0, "phase": "", "error": None,
                "bytes_done": 0, "bytes_total": 0}  # fmt: skip
    return {
        "node": node,
        "status": str(copy.status),
        "percentage": 100.0 if copy.status == DownloadStatus.COMPLETED else round(copy.percentage, 2),
        "phase": copy.phase,
        "error": copy.error or None,
        "bytes_done": copy.bytes_done,
        "bytes_total": copy.bytes_total,
    }


def download_state(model_id: str) -> tuple[dict[str, Any], int]:
    """(frame, change stamp) of the model's download across the live nodes; the frame has `nodes` detail."""
    return download_state_of(model_id, DownloadJob.objects.filter(pk=model_id).first())


def download_state_of(model_id: str, job: DownloadJob | None) -> tuple[dict[str, Any], int]:
    """`download_state` for a caller that has already read the model's job row (None: there is none)."""
    # A job that is not COMPLETED is not wanted on the nodes yet: its row is the whole state, no node is asked.
    if job is not None and job.status != DownloadStatus.COMPLETED:
        return {**frame_of(job), "nodes": []}, job.version
    nodes = live_nodes()
    if not nodes:  # nobody serves: this node's cache is the only one (single process, management commands)
        model = Model.objects.filter(pk=model_id).first()
        cached = model is not None and cached_path(model) is not None
        return {**frame_of(job, cached=cached), "nodes": []}, job.version if job else 0
    if job is None:
        return {**frame_of(None), "nodes": []}, 0
    copies = {copy.node: copy for copy in NodeCopy.objects.filter(model_id=model_id, node__in=nodes)}
    details = [_node_frame(copies.get(node), node, job.run_id) for node in nodes]
    version = max([job.version, *(copy.version for copy in copies.values())])
    statuses = {detail["status"] for detail in details}
    if statuses == {DownloadStatus.COMPLETED}:
        return {**frame_of(job, cached=True), "nodes": details}, version
    base = job.progress if job.progress < 100 else 0.0  # the share of a URL fetch, done before the nodes copy
    share = sum(detail["percentage"] for detail in details) / len(details)
    frame = {
        "status": str(DownloadStatus.IN_PROGRESS),
        "percentage": round(base + (100 - base) * share / 100, 2),
        "bytes_done": sum(detail["bytes_done"] for detail in details),
        "bytes_total": sum(detail["bytes_total"] for detail in details),
        "phase": next((d["phase"] for d in details if d["status"] == DownloadStatus.IN_PROGRESS), ""),
        "error": None,
        "nodes": details,
    }
    failed = [detail for detail in details if detail["status"] == DownloadStatus.FAILED]
    if failed:
        frame["status"] = str(DownloadStatus.FAILED)
        frame["error"] = "; ".join(f"node {d['node']}: {d['error']}" for d in failed)
    return frame, version


# --- writes ---------------------------------------------------------------------------------------------------


def request_removal_from_nodes(model: Model) -> str:
    """Every node drops the model's unpacked files (once nothing serves it) until a new download starts."""
    CacheRemoval.objects.update_or_create(model=model, defaults={"requested_at": timezone.now()})
    DownloadJob.objects.filter(model=model).delete()  # no longer wanted on any node
    nodes = live_nodes()
    return f"removal requested on {len(nodes)} live node(s)" + (f" ({', '.join(nodes)})" if nodes else "")


# --- the agent ------------------------------------------------------------------------------------------------


class NodeAgent:
    def __init__(self) -> None:
        self.node = node_name()
        self.worker = f"{socket.gethostname()}:{os.getpid()}"
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticks = 0

    def start(self) -> None:
        if self._thread is None:
            logger.info("This server process belongs to node %s (%s)", self.node, settings.NODE_IDENTITY)
            self._thread = threading.Thread(target=self._loop, name="node-agent", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:
                    logger.exception("Node agent of %s failed; retrying", self.node)
                    connection.close()
                self._stop.wait(settings.NODE_SYNC_SECONDS)
        finally:
            connection.close()

    def tick(self) -> None:
        now = timezone.now()
        if not Node.objects.filter(pk=self.node).update(last_seen=now):
            try:
                Node.objects.create(name=self.node, last_seen=now)
            except IntegrityError:  # another process of this node created it meanwhile
                Node.objects.filter(pk=self.node).update(last_seen=now)
        removed = set(CacheRemoval.objects.values_list("model_id", flat=True))
        copies = {copy.model_id: copy for copy in NodeCopy.objects.filter(node=self.node)}
        for job in DownloadJob.objects.filter(status=DownloadStatus.COMPLETED).select_related("model"):
            if self._stop.is_set():
                return
            if job.model_id not in removed and job.model.file:
                self._hold(job, copies.get(job.model_id))
        if self._ticks % SWEEP_EVERY_TICKS == 0:
            self._sweep(removed)
        self._ticks += 1

    def _hold(self, job: DownloadJob, copy: NodeCopy | None) -> None:
        """Make sure this node has the job's model (claim the copy unless another process of the node has)."""
        if copy is not None and copy.run_id == job.run_id:
            if copy.status == DownloadStatus.FAILED:
                return  # a new download run retries
            if copy.status == DownloadStatus.COMPLETED and cached_path(job.model) is not None:
                return
            stale = timezone.now() - timedelta(seconds=settings.LIFECYCLE_STALE_SECONDS)
            if copy.status == DownloadStatus.IN_PROGRESS and copy.heartbeat and copy.heartbeat >= stale:
                return  # another process of this node is at it
        fields = {
            "run_id": job.run_id, "status": DownloadStatus.IN_PROGRESS, "phase": DownloadPhase.NONE, "percentage": 0.0,
            "bytes_done": 0, "bytes_total": 0, "error": "", "worker": self.worker, "heartbeat": timezone.now(),
            "version": now_version(),
        }  # fmt: skip
        if copy is None:
            try:
                copy = NodeCopy.objects.create(model_id=job.model_id, node=self.node, **fields)
            except IntegrityError:
                return
        else:
            claimed = NodeCopy.objects.filter(
                pk=copy.pk, run_id=copy.run_id, status=copy.status, heartbeat=copy.heartbeat
            ).update(**fields)
            if not claimed:
                return
        _NodeCopyRun(copy.pk, job, self._stop).run()

    def _sweep(self, removed: set[str]) -> None:
        """Evict what the database no longer wants on any node."""
        served = set(ServedVersion.objects.filter(model_id__in=removed).values_list("model_id", flat=True))
        unserved = removed - served
        for model in Model.objects.filter(pk__in=unserved):
            if evict(model):
                logger.info("Removed model %s from the cache of node %s", model.pk, self.node)
        NodeCopy.objects.filter(model_id__in=unserved, node=self.node).delete()
        root = Path(settings.MODEL_CACHE_DIR)
        known = set(ServableIdentity.objects.values_list("servable_name", "version"))
        for marker in root.glob(f"*/*/{COMPLETE_MARKER}"):
            folder = marker.parent
            if not folder.name.isdigit() or (folder.parent.name, int(folder.name)) in known:
                continue
            shutil.rmtree(folder, ignore_errors=True)
            logger.info("Removed %s from the cache of node %s: its model was deleted", folder, self.node)


class _NodeCopyRun:
    """One claimed copy into this node's cache, with progress, heartbeat and cancellation."""

    def __init__(self, copy_pk: int, job: DownloadJob, stop: threading.Event) -> None:
        self.copy_pk = copy_pk
        self.job = job
        self.stop = stop
        self.phase = DownloadPhase.NONE
        self.percentage = 0.0
        self._last_write = 0.0
        self._last_check = 0.0
        self._canceled = False
        self.slices = phase_slices(job.model, 0.0, 100.0)

    def _row(self) -> Any:
        return NodeCopy.objects.filter(
            pk=self.copy_pk, run_id=self.job.run_id, status=DownloadStatus.IN_PROGRESS
        )

    def run(self) -> None:
        try:
            materialize(
                self.job.model,
                progress=self.progress,
                should_cancel=self.should_cancel,
                on_phase=self.on_phase,
            )
            fields: dict[str, Any] = {
                "status": DownloadStatus.COMPLETED,
                "percentage": 100.0,
                "phase": DownloadPhase.NONE,
            }
            logger.info("Model %s is in the cache of node %s", self.job.model_id, node_name())
        except MaterializeCanceled:
            NodeCopy.objects.filter(pk=self.copy_pk, run_id=self.job.run_id).delete()
            publish(self.job.model_id)
            return
        except Exception as exc:
            logger.exception(
                "Copy of model %s into the cache of node %s failed", self.job.model_id, node_name()
            )
            fields = {"status": DownloadStatus.FAILED, "error": shown_error(f"{type(exc).__name__}: {exc}")}
        self._row().update(heartbeat=timezone.now(), version=now_version(), **fields)
        publish(self.job.model_id)

    def on_phase(self, phase: str) -> None:
        self.phase = DownloadPhase(phase)
        self.progress(0, 0, force=True)

    def progress(self, done: int, total: int, *, force: bool = False) -> None:
        start, end = self.slices.get(self.phase, (self.percentage, self.percentage))
        share = done / total if total else 0.0
        self.percentage = max(self.percentage, start + (end - start) * min(share, 1.0))
        if not force and time.monotonic() - self._last_write < PROGRESS_INTERVAL:
            return
        self._last_write = time.monotonic()
        self._row().update(
            phase=self.phase, percentage=self.percentage, bytes_done=done, bytes_total=total,
            heartbeat=timezone.now(), version=now_version(),
        )  # fmt: skip
        publish(self.job.model_id)

    def should_cancel(self) -> bool:
        """Stop when the server stops, the download was canceled or restarted, or removal was asked."""
        if self._canceled or self.stop.is_set():
            return True
        if time.monotonic() - self._last_check >= CANCEL_CHECK_SECONDS:
            self._last_check = time.monotonic()
            wanted = DownloadJob.objects.filter(
                pk=self.job.model_id, run_id=self.job.run_id, status=DownloadStatus.COMPLETED
            ).exists()
            self._canceled = not wanted or CacheRemoval.objects.filter(model_id=self.job.model_id).exists()
            if not self._canceled:
                now = timezone.now()
                self._row().update(heartbeat=now)
                Node.objects.filter(pk=node_name()).update(last_seen=now)  # a long copy keeps the node live
        return self._canceled


_agent: NodeAgent | None = None


def startup() -> None:
    """ASGI lifespan startup hook: this server process takes its part of its node's work."""
    global _agent
    if _agent is None:
        _agent = NodeAgent()
        _agent.start()


def shutdown() -> None:
    global _agent
    if _agent is not None:
        _agent.stop()
        _agent = None
