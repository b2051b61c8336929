"""The decisions of the automatic analysis (deployments/analysis.py) and the canary config (deployments/config.py)."""

import pytest

from deployments.analysis import FAIL, PASS, WAIT, Figures, judge
from deployments.config import ANALYSIS_DEFAULTS, InvalidConfig, parse_config

THRESHOLDS = {"max_failure_rate_increase": 0.05, "max_p99_ratio": 1.5, "min_requests": 100}


def test_a_candidate_failing_30_percent_fails_the_step_with_the_figures() -> None:
    verdict = judge(
        candidate=Figures(requests=400, failures=120, p99_ms=2.0),
        stable=Figures(requests=1600, failures=0, p99_ms=2.0),
        thresholds=THRESHOLDS,
    )
    assert verdict.outcome == FAIL
    assert "30.0%" in verdict.reason and "120/400" in verdict.reason
    assert verdict.as_dict()["candidate"]["failure_rate"] == 0.3


def test_a_failure_rate_within_the_allowed_increase_passes() -> None:
    verdict = judge(
        candidate=Figures(requests=200, failures=9, p99_ms=2.0),
        stable=Figures(requests=800, failures=8, p99_ms=2.0),
        thresholds=THRESHOLDS,
    )
    assert verdict.outcome == PASS, verdict.reason


def test_a_slow_candidate_fails_on_p99() -> None:
    verdict = judge(
        candidate=Figures(requests=200, p99_ms=4.0),
        stable=Figures(requests=800, p99_ms=2.0),
        thresholds=THRESHOLDS,
    )
    assert verdict.outcome == FAIL and "2.00x > 1.5x" in verdict.reason


def test_too_few_candidate_requests_waits_instead_of_deciding() -> None:
    verdict = judge(
        candidate=Figures(requests=99, failures=99), stable=Figures(requests=800), thresholds=THRESHOLDS
    )
    assert verdict.outcome == WAIT


def test_a_canary_config_is_validated_and_unknown_keys_are_named() -> None:
    manual = parse_config({"strategy": "canary", "weight": 20})
    assert manual.progressive and manual.weight == 20 and manual.steps == []
    automatic = parse_config({"strategy": "canary", "steps": [10, 50, 100], "step_seconds": 60,
                              "analysis": {"max_p99_ratio": 2}})  # fmt: skip
    assert automatic.thresholds == {**ANALYSIS_DEFAULTS, "max_p99_ratio": 2}
    assert parse_config({"strategy": "shadow"}).weight == 10
    assert not parse_config({}).progressive
    for bad, named in (
        ({"strategy": "canary", "wieght": 20}, "wieght"),
        ({"strategy": "canary", "steps": [10, 50, 100], "analysis": {"max_errors": 1}}, "max_errors"),
        ({"strategy": "blue"}, "strategy"),
        ({"weight": 20}, "weight"),
        ({"strategy": "canary", "weight": 101}, "weight"),
        ({"strategy": "canary", "steps": [50, 10]}, "steps"),
        ({"strategy": "canary", "weight": 5, "steps": [10]}, "exclude"),
    ):
        with pytest.raises(InvalidConfig) as raised:
            parse_config(bad)
        assert named in raised.value.message, (bad, raised.value.message)
