"""URL dispatch of the inference protocols with OVMS's regular expressions and its method rules:
a known path with the wrong method is 406, an unknown path (or a version like -1) is 400."""

import re
from dataclasses import dataclass
from enum import Enum

from inference.protocols import errors


class Kind(Enum):
    TFS_PREDICT = "Predict"
    TFS_STATUS = "GetModelStatus"
    TFS_METADATA = "GetModelMetadata"
    CONFIG_RELOAD = "ConfigReload"
    CONFIG_STATUS = "ConfigStatus"
    KFS_LIVE = "ServerLive"
    KFS_READY = "ServerReady"
    KFS_SERVER_METADATA = "ServerMetadata"
    KFS_MODEL_METADATA = "ModelMetadata"
    KFS_MODEL_READY = "ModelReady"
    KFS_INFER = "ModelInfer"
    METRICS = "Metrics"
    # Triton's extensions of the KServe API
    KFS_STATISTICS = "ModelStatistics"
    KFS_MODEL_CONFIG = "ModelConfig"
    REPOSITORY_INDEX = "RepositoryIndex"
    REPOSITORY_LOAD = "RepositoryModelLoad"
    REPOSITORY_UNLOAD = "RepositoryModelUnload"


# The access scope of every route kind (access/policy.py decides; /metrics can be changed with
# MODELHUB_METRICS_SCOPE). Liveness and readiness are probes with no data: "open".
SCOPE_OF_KIND: dict[Kind, str] = {
    Kind.TFS_PREDICT: "infer",
    Kind.TFS_STATUS: "infer",
    Kind.TFS_METADATA: "infer",
    Kind.CONFIG_RELOAD: "deploy",
    Kind.CONFIG_STATUS: "infer",
    Kind.KFS_LIVE: "open",
    Kind.KFS_READY: "open",
    Kind.KFS_SERVER_METADATA: "infer",
    Kind.KFS_MODEL_METADATA: "infer",
    Kind.KFS_MODEL_READY: "infer",
    Kind.KFS_INFER: "infer",
    Kind.METRICS: "read",
    # Triton's extensions: statistics and config read like metadata; the index lists the registry (read);
    # load and unload change what is served (deploy, like POST /model/{id}/load).
    Kind.KFS_STATISTICS: "infer",
    Kind.KFS_MODEL_CONFIG: "infer",
    Kind.REPOSITORY_INDEX: "read",
    Kind.REPOSITORY_LOAD: "deploy",
    Kind.REPOSITORY_UNLOAD: "deploy",
}


@dataclass(frozen=True, slots=True)
class Route:
    kind: Kind
    name: str = ""
    version: int | None = None  # None (or 0 in the URL): the default version
    processing_method: str = ""


_PREDICT = re.compile(
    r"(.?)/v1/models/([^/:]+)(?:(?:/versions/(\d+))|(?:/labels/(\w+)))?:(classify|regress|predict)"
)
_STATUS = re.compile(
    r"(.?)/v1/models(?:/([^/:]+))?(?:(?:/versions/(\d+))|(?:/labels/(\w+)))?(?:/(metadata))?"
)
_RELOAD = re.compile(r"(.?)/v1/config/reload")
_CONFIG = re.compile(r"(.?)/v1/config")
_KFS_READY = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(?:/(ready))")
_KFS_METADATA = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(?:/)?")
_KFS_INFER = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?(?:/(infer))")
_KFS_LIVE = re.compile(r"/v2/health/live")
_KFS_HEALTH_READY = re.compile(r"/v2/health/ready")
_KFS_SERVER = re.compile(r"/v2")
_METRICS = re.compile(r"(.?)/metrics")
_KFS_ALL_STATS = re.compile(r"/v2/models/stats")
_KFS_STATS = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?/stats")
_KFS_CONFIG = re.compile(r"/v2/models/([^/]+)(?:/versions/([0-9]+))?/config")
_REPOSITORY_INDEX = re.compile(r"/v2/repository/index")
_REPOSITORY_CONTROL = re.compile(r"/v2/repository/models/([^/]+)/(load|unload)")

_GET_ONLY = (_STATUS, _KFS_LIVE, _CONFIG, _KFS_HEALTH_READY, _KFS_SERVER, _KFS_METADATA, _KFS_READY, _METRICS,
             _KFS_ALL_STATS, _KFS_STATS, _KFS_CONFIG)  # fmt: skip
_POST_ONLY = (_PREDICT, _KFS_INFER, _RELOAD, _REPOSITORY_INDEX, _REPOSITORY_CONTROL)


def handles(path: str) -> bool:
    """Paths answered by the inference protocols (everything else belongs to Django)."""
    return path.startswith(("/v1/", "/v2")) or path == "/v1" or path == "/metrics"


def resolve(method: str, path: str) -> Route:
    if method not in ("GET", "POST"):
        raise errors.UNSUPPORTED_METHOD
    if ".." in path:
        raise errors.INVALID_URL
    if method == "POST":
        if m := _PREDICT.fullmatch(path):
            return Route(Kind.TFS_PREDICT, m[2], _version(m[3]), m[5])
        if m := _KFS_INFER.fullmatch(path):
            return Route(Kind.KFS_INFER, m[1], _version(m[2]))
        if _RELOAD.fullmatch(path):
            return Route(Kind.CONFIG_RELOAD)
        if _REPOSITORY_INDEX.fullmatch(path):
            return Route(Kind.REPOSITORY_INDEX)
        if m := _REPOSITORY_CONTROL.fullmatch(path):
            return Route(Kind.REPOSITORY_LOAD if m[2] == "load" else Kind.REPOSITORY_UNLOAD, m[1])
        if any(pattern.fullmatch(path) for pattern in _GET_ONLY):
            raise errors.UNSUPPORTED_METHOD
        raise errors.INVALID_URL
    if m := _STATUS.fullmatch(path):
        kind = Kind.TFS_METADATA if m[5] == "metadata" else Kind.TFS_STATUS
        return Route(kind, m[2] or "", _version(m[3]))
    if _CONFIG.fullmatch(path):
        return Route(Kind.CONFIG_STATUS)
    if _KFS_LIVE.fullmatch(path):
        return Route(Kind.KFS_LIVE)
    if _KFS_HEALTH_READY.fullmatch(path):
        return Route(Kind.KFS_READY)
    if _KFS_SERVER.fullmatch(path):
        return Route(Kind.KFS_SERVER_METADATA)
    if _KFS_ALL_STATS.fullmatch(path):
        return Route(Kind.KFS_STATISTICS)
    if m := _KFS_STATS.fullmatch(path):
        return Route(Kind.KFS_STATISTICS, m[1], _version(m[2]))
    if m := _KFS_CONFIG.fullmatch(path):
        return Route(Kind.KFS_MODEL_CONFIG, m[1], _version(m[2]))
    if m := _KFS_METADATA.fullmatch(path):
        return Route(Kind.KFS_MODEL_METADATA, m[1], _version(m[2]))
    if m := _KFS_READY.fullmatch(path):
        return Route(Kind.KFS_MODEL_READY, m[1], _version(m[2]))
    if _METRICS.fullmatch(path):
        return Route(Kind.METRICS)
    if any(pattern.fullmatch(path) for pattern in _POST_ONLY):
        raise errors.UNSUPPORTED_METHOD
    raise errors.INVALID_URL


def _version(text: str | None) -> int | None:
    if not text:
        return None
    version = int(text)
    if version >= 2**63:
        raise errors.MODEL_VERSION_MISSING
    return version or None
