"""manage.py download_model ID: download a model to this node with a progress bar (Ctrl-C cancels it)."""

import threading
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from tqdm import tqdm

from config.errors import ServiceError
from inference.lifecycle import nodes, services
from inference.lifecycle.models import TERMINAL_STATUSES, DownloadJob, DownloadStatus

POLL_SECONDS = 0.1
WORKER_HINT_SECONDS = 10


class Command(BaseCommand):
    help = (
        "Download a registry model into this node's model cache and show its progress (the same job the API "
        "and the WebSocket report). By default a background worker does the work (`make run` or "
        "`python -m config.worker` must be running); --inline does it in this process. Ctrl-C cancels the download."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("model_id", help="Registry model id")
        parser.add_argument(
            "--inline", action="store_true", help="Download in this process instead of a background worker."
        )
        parser.add_argument("--no-progress", action="store_true", help="Print only the outcome.")

    def handle(self, *args: Any, model_id: str, inline: bool, no_progress: bool, **options: Any) -> None:
        try:
            job = services.download_start(model_id=model_id, enqueue=not inline)
        except ServiceError as exc:
            raise CommandError(exc.message) from None
        runner: threading.Thread | None = None
        if inline and job.status not in TERMINAL_STATUSES:
            runner = threading.Thread(target=self._run_inline, args=(model_id, job.run_id), daemon=True)
            runner.start()
        try:
            job = self._follow(model_id, show=not no_progress and options.get("verbosity", 1) > 0)
        except KeyboardInterrupt:
            self.stderr.write("Canceling the download...")
            try:
                job = services.download_cancel(model_id=model_id, wait_seconds=5)
            except ServiceError as exc:
                raise CommandError(exc.message) from None
        if runner is not None:
            runner.join(timeout=30)
        if job.status == DownloadStatus.COMPLETED:
            frame = self._wait_for_nodes(model_id)  # the live nodes copy it into their caches after the job
            if frame["status"] != DownloadStatus.COMPLETED:
                raise CommandError(f"Model {model_id}: {frame['status']}: {frame['error']}")
            where = f"{len(frame['nodes'])} node(s)" if frame["nodes"] else "the model cache"
            self.stdout.write(
                self.style.SUCCESS(f"Model {model_id}: COMPLETED ({job.bytes_total} bytes in {where}).")
            )
            return
        raise CommandError(f"Model {model_id}: {job.status}" + (f": {job.error}" if job.error else "."))

    @staticmethod
    def _wait_for_nodes(model_id: str) -> dict[str, Any]:
        while True:
            frame, _ = nodes.download_state(model_id)
            if frame["status"] in TERMINAL_STATUSES:
                return frame
            time.sleep(POLL_SECONDS)

    @staticmethod
    def _run_inline(model_id: str, run_id: str) -> None:
        try:
            services.download_run(model_id=model_id, run_id=run_id)
        finally:
            connection.close()

    def _follow(self, model_id: str, *, show: bool) -> DownloadJob:
        """Poll the job row until it ends, drawing one bar per phase (fetch / copy / unpack)."""
        bar: tqdm | None = None
        phase: str | None = None
        started = time.monotonic()
        hinted = False
        while True:
            job = DownloadJob.objects.get(pk=model_id)
            if show and job.phase and job.phase != phase:
                if bar is not None:
                    bar.close()
                phase = job.phase
                bar = tqdm(
                    total=job.bytes_total or None,
                    desc=job.get_phase_display(),
                    unit="B",
                    unit_scale=True,
                    unit_divisor=1024,
                    file=self.stderr._out,
                )
            if bar is not None:
                if job.bytes_total and bar.total != job.bytes_total:
                    bar.total = job.bytes_total
                bar.update(max(job.bytes_done - bar.n, 0))
                bar.set_postfix_str(job.status, refresh=True)
            if job.status in TERMINAL_STATUSES:
                if (
                    show and bar is None and job.status == DownloadStatus.COMPLETED
                ):  # finished between two polls
                    bar = tqdm(
                        total=job.bytes_total,
                        initial=job.bytes_total,
                        desc="Downloaded",
                        unit="B",
                        unit_scale=True,
                        unit_divisor=1024,
                        file=self.stderr._out,
                    )
                if bar is not None:
                    bar.close()
                return job
            if (
                not hinted
                and job.status == DownloadStatus.INITIALIZED
                and time.monotonic() - started > WORKER_HINT_SECONDS
            ):
                hinted = True
                self.stderr.write(
                    "Still waiting for a worker: is `make run` or `python -m config.worker` running? (--inline downloads here)"
                )
            time.sleep(POLL_SECONDS)
