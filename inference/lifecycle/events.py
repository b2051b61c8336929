"""Progress frames and their delivery to WebSocket consumers.

The job row is the truth and consumers poll it; a frame is also sent to the model's channel-layer group as a
low-latency nudge. With Redis that reaches consumers in every server process; with the in-memory layer it
reaches those in the sending process only, and polling covers the rest.
"""

import hashlib
import logging
import time
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer

from inference.lifecycle.models import TERMINAL_STATUSES, DownloadJob, DownloadStatus

logger = logging.getLogger(__name__)

EVENT_TYPE = "download.progress"  # handled by DownloadProgressConsumer.download_progress


def now_version() -> int:
    return time.time_ns() // 1000


def group_name(model_id: str) -> str:
    # Group names are limited to 100 ASCII characters; model ids may be 128.
    return "lifecycle.download." + hashlib.sha1(model_id.encode()).hexdigest()[:24]


def frame_of(job: DownloadJob | None, *, cached: bool = False) -> dict[str, Any]:
    """The frame of a job, or of no job at all, as seen on one node (nodes.download_state adds the others)."""
    if job is None:
        status = DownloadStatus.COMPLETED if cached else DownloadStatus.UNKNOWN
        return {
            "status": str(status),
            "percentage": 100.0 if cached else 0.0,
            "bytes_done": 0,
            "bytes_total": 0,
            "phase": "",
            "error": None,
        }
    if job.status == DownloadStatus.COMPLETED and not cached:
        # Its files have since left this node's cache: a download must start over.
        return {**frame_of(None), "status": str(DownloadStatus.RESET), "bytes_total": job.bytes_total}
    return {
        "status": str(job.status),
        "percentage": job.percentage,
        "bytes_done": job.bytes_done,
        "bytes_total": job.bytes_total,
        "phase": job.phase,
        "error": job.error or None,
    }


def is_terminal(frame: dict[str, Any]) -> bool:
    return frame["status"] in TERMINAL_STATUSES


def publish(model_id: str) -> None:
    """Send the model's current frame (across nodes) to its group; a broken channel layer never breaks the
    download itself."""
    from inference.lifecycle.nodes import download_state  # nodes builds frames with frame_of

    layer = get_channel_layer()
    if layer is None:
        return
    try:
        frame, version = download_state(model_id)
        async_to_sync(layer.group_send)(
            group_name(model_id), {"type": EVENT_TYPE, "frame": frame, "version": version}
        )
    except Exception:
        logger.warning("Could not publish download progress of %s", model_id, exc_info=True)
