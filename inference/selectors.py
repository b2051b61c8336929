"""Reads of the serving state and of what the live server processes report."""

from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from inference.models import (
    Servable,
    ServedVersion,
    ServingGeneration,
    ServingProcess,
    VersionReport,
    VersionState,
)


def live_processes() -> QuerySet[ServingProcess]:
    """Server processes that heartbeated recently; the others are ignored (and cleaned up by the live ones)."""
    fresh = timezone.now() - timedelta(seconds=settings.INFERENCE_STALE_SECONDS)
    return ServingProcess.objects.filter(last_seen__gte=fresh)


def version_reports(name: str, version: int) -> list[VersionReport]:
    """What each live process holds for one servable version."""
    return list(
        VersionReport.objects.filter(
            process__in=live_processes(), servable_name=name, version=version
        ).select_related("process")
    )


def version_progress(name: str, version: int, state: VersionState) -> bool | None:
    """True when every live process reports `state`, False when one reports a failed load, else None (wait)."""
    processes = list(live_processes())
    if not processes:
        return True if state == VersionState.END else None
    reports = {report.process_id: report for report in version_reports(name, version)}
    if state == VersionState.END:
        return True if all(r.state == VersionState.END for r in reports.values()) else None
    if any(r.error_code != "OK" and r.state != VersionState.AVAILABLE for r in reports.values()):
        return False
    generation = ServingGeneration.current()
    warmup = Servable.objects.filter(name=name).values_list("warmup", flat=True).first()
    for process in processes:
        report = reports.get(process.pk)
        if report is None or report.state != state or process.generation_seen < generation:
            return None
        if state == VersionState.AVAILABLE and warmup and not report.warmed_up:
            return None
    return True


@dataclass(frozen=True)
class ServingStatus:
    servable_name: str
    version: int
    processes: int  # live server processes
    available_on: int  # of which hold it AVAILABLE
    ram_bytes: int | None  # largest report
    errors: list[str]

    @property
    def loaded(self) -> bool:
        return self.processes > 0 and self.available_on == self.processes


def served_versions_of(model_id: str) -> list[ServedVersion]:
    return list(
        ServedVersion.objects.filter(model_id=model_id)
        .select_related("servable")
        .order_by("servable__name", "version")
    )


def serving_status(name: str, version: int) -> ServingStatus:
    processes = live_processes().count()
    reports = version_reports(name, version)
    available = [r for r in reports if r.state == VersionState.AVAILABLE]
    ram = [r.ram_bytes for r in available if r.ram_bytes is not None]
    errors = sorted({r.error_message for r in reports if r.error_code != "OK" and r.error_message})
    return ServingStatus(name, version, processes, len(available), max(ram) if ram else None, errors)
