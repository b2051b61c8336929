"""django-q2 entry points: thin wrappers that take ids and call a service."""

from inference.lifecycle import services


def download_model(model_id: str, run_id: str) -> str:
    return services.download_run(model_id=model_id, run_id=run_id)


def recover_stale_downloads() -> int:
    return services.download_recover()
