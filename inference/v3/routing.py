"""The /v3 routes, their methods and access scopes (the route-coverage test reads ROUTES)."""

from dataclasses import dataclass
from enum import Enum


class V3Kind(Enum):
    CHAT = "ChatCompletions"
    COMPLETIONS = "Completions"
    EMBEDDINGS = "Embeddings"
    RERANK = "Rerank"
    MODELS = "ListModels"
    MODEL = "RetrieveModel"


# path -> (method, kind); /v3/models/{name} is matched by prefix.
ROUTES: dict[str, tuple[str, V3Kind]] = {
    "/v3/chat/completions": ("POST", V3Kind.CHAT),
    "/v3/completions": ("POST", V3Kind.COMPLETIONS),
    "/v3/embeddings": ("POST", V3Kind.EMBEDDINGS),
    "/v3/rerank": ("POST", V3Kind.RERANK),
    "/v3/models": ("GET", V3Kind.MODELS),
}
MODEL_PREFIX = "/v3/models/"
# Everything under /v3 serves or describes models: the `infer` scope, like the other inference protocols.
SCOPE_OF_KIND: dict[V3Kind, str] = {kind: "infer" for kind in V3Kind}


@dataclass(frozen=True, slots=True)
class V3Route:
    kind: V3Kind | None  # None: no such path (404 once access is decided)
    method_allowed: bool
    name: str = ""


def handles(path: str) -> bool:
    return path == "/v3" or path.startswith("/v3/")


def resolve(method: str, path: str) -> V3Route:
    if path in ROUTES:
        allowed, kind = ROUTES[path]
        return V3Route(kind, method == allowed)
    if path.startswith(MODEL_PREFIX) and len(path) > len(MODEL_PREFIX):
        return V3Route(V3Kind.MODEL, method == "GET", path[len(MODEL_PREFIX) :])
    return V3Route(None, True)
