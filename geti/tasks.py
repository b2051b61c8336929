"""django-q2 entry points: thin, they take ids and call a service."""

from geti.services import import_job_run


def run_import_job(job_id: str) -> str | None:
    job = import_job_run(job_id=job_id)
    return None if job is None else f"{job.status_code} {job.message.splitlines()[0]}"
