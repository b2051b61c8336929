"""Failures of the lifecycle API, rendered as {"detail": message} by config.errors."""

from config.errors import ServiceError


class LifecycleNotFound(ServiceError):
    status_code = 404

    def __init__(self, model_id: str) -> None:
        super().__init__(f"Model {model_id!r} was not found.")


class SnapshotGone(ServiceError):
    """The spec answers the snapshot of an unknown model with 410 "model was not found."."""

    status_code = 410

    def __init__(self, model_id: str) -> None:
        super().__init__(f"model was not found: no model has the id {model_id!r}.")


class NothingToCancel(ServiceError):
    status_code = 409


class NotCustom(ServiceError):
    status_code = 403
