"""django-q2 entry points: thin, they take ids and call the runner."""

from deployments import runner, services


def run_task(task_id: str) -> None:
    runner.run(task_id)


def reap_stale_tasks() -> int:
    return services.reap_stale_tasks()
