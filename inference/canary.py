"""Canary traffic split: which version answers a request that names no version.

The split is part of the serving state (`Servable.candidate_version/candidate_weight/candidate_mode`), read by
every server process into its snapshot (`ServablePlan.split` -> `ServableView.split`), so every process on every
node sends the same share to the candidate. `ServableView.resolve(None)` calls `choose`, the one place every
protocol (TFS and KServe, REST and gRPC, /v3) resolves a version-less request: no protocol has split code of
its own. The choice is one `random.random()` per request: no lock, no query, and over many requests the share
converges to the weight in each process independently.
"""

import random
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inference.runtime import LoadedVersion, ServableView

CANARY = "canary"
SHADOW = "shadow"
_AVAILABLE = 30  # VersionState.AVAILABLE (inference.runtime imports this module)


@dataclass(frozen=True, slots=True)
class Split:
    """A candidate version beside the default: `weight` % of version-less requests (canary) or copies (shadow)."""

    version: int
    weight: int  # 0-100
    mode: str = CANARY  # CANARY or SHADOW

    @property
    def share(self) -> float:
        return self.weight / 100.0


def split_of(version: int | None, weight: int, mode: str) -> Split | None:
    """The split a servable row describes, or None when there is no candidate or its weight is 0."""
    if version is None or weight <= 0:
        return None
    return Split(version, min(int(weight), 100), SHADOW if mode == SHADOW else CANARY)


def choose(view: "ServableView", stable: "LoadedVersion | None") -> "LoadedVersion | None":
    """`stable` (the default) or, for `weight` % of calls, the canary candidate when this process serves it."""
    split = view.split
    if split is None or split.mode != CANARY or stable is None:
        return stable
    if random.random() * 100.0 >= split.weight:
        return stable
    candidate = view.versions.get(split.version)
    if candidate is None or candidate.state != _AVAILABLE:
        return stable  # not loaded (yet) in this process: the default keeps answering
    return candidate


def shadow_target(view: "ServableView", stable: "LoadedVersion") -> "LoadedVersion | None":
    """The shadow candidate a copy of this request should go to (drawn at the shadow's weight), or None."""
    split = view.split
    if split is None or split.mode != SHADOW or split.version == stable.version:
        return None
    if random.random() * 100.0 >= split.weight:
        return None
    candidate = view.versions.get(split.version)
    if candidate is None or candidate.state != _AVAILABLE:
        return None
    return candidate
