"""The canary split in `ServableView.resolve(None)`: the share, named versions, versions not loaded, shadow."""

import random

import pytest

from inference import canary
from inference.protocols import errors
from inference.runtime import AVAILABLE, LOADING, LoadedVersion, ServableView


def view(split: canary.Split | None, *, candidate_state: int = AVAILABLE) -> ServableView:
    versions = {1: LoadedVersion("m", 1, AVAILABLE), 2: LoadedVersion("m", 2, candidate_state)}
    return ServableView("m", versions, default_version=1, split=split)


def shares(servable: ServableView, count: int = 20_000) -> float:
    return sum(servable.resolve(None).version == 2 for _ in range(count)) / count


def test_a_20_percent_canary_gets_20_percent_of_version_less_requests() -> None:
    random.seed(7)
    assert shares(view(canary.Split(2, 20))) == pytest.approx(0.20, abs=0.01)
    assert shares(view(canary.Split(2, 100))) == 1.0
    assert shares(view(None)) == 0.0


def test_requests_naming_a_version_are_not_split() -> None:
    servable = view(canary.Split(2, 50))
    assert {servable.resolve(1).version for _ in range(500)} == {1}
    assert {servable.resolve(2).version for _ in range(500)} == {2}


def test_a_candidate_this_process_has_not_loaded_yet_leaves_the_default_answering() -> None:
    assert shares(view(canary.Split(2, 50), candidate_state=LOADING), 2000) == 0.0
    with pytest.raises(errors.InferenceError):  # named, it is still "not loaded yet"
        view(canary.Split(2, 50), candidate_state=LOADING).resolve(2)


def test_a_shadow_never_changes_which_version_answers_and_draws_copies_at_its_weight() -> None:
    random.seed(3)
    servable = view(canary.Split(2, 30, canary.SHADOW))
    assert shares(servable, 5000) == 0.0
    stable = servable.versions[1]
    copies = sum(canary.shadow_target(servable, stable) is not None for _ in range(20_000)) / 20_000
    assert copies == pytest.approx(0.30, abs=0.01)
    assert canary.shadow_target(view(canary.Split(2, 30)), stable) is None  # a canary is no shadow


def test_split_of_reads_the_servable_row() -> None:
    assert canary.split_of(None, 20, "canary") is None
    assert canary.split_of(2, 0, "canary") is None
    assert canary.split_of(2, 20, "shadow") == canary.Split(2, 20, "shadow")
