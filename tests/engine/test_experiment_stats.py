"""Experiment statistics against known values and scipy's own tests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from recommendation_engine.engine import experiment_stats as es
from recommendation_engine.engine.assignment import assign, bucket


def test_wilson_interval_matches_the_textbook_example() -> None:
    estimate = es.proportion(50, 100)
    assert estimate.value == 0.5
    assert estimate.low == pytest.approx(0.4038, abs=1e-4)
    assert estimate.high == pytest.approx(0.5962, abs=1e-4)
    assert es.proportion(0, 10).low == 0.0 and es.proportion(0, 0).value is None


def test_rate_lift_is_the_pooled_two_proportion_z_test() -> None:
    lift = es.rate_lift(120, 1000, 100, 1000)
    pooled = 220 / 2000
    z = 0.02 / math.sqrt(pooled * (1 - pooled) * 2 / 1000)
    assert lift.p_value == pytest.approx(2 * stats.norm.sf(z))
    assert lift.p_value == pytest.approx(0.1529, abs=1e-4)
    assert lift.relative == pytest.approx(0.2)
    assert lift.low is not None and lift.high is not None
    assert lift.low < 0.2 < lift.high
    # the interval is symmetric on the log scale
    assert math.log(1 + lift.high) - math.log(1.2) == pytest.approx(
        math.log(1.2) - math.log(1 + lift.low)
    )


def test_rate_lift_without_control_successes_is_undefined() -> None:
    assert es.rate_lift(5, 100, 0, 100) == es.NO_LIFT


def test_mean_lift_p_value_is_welchs_t_test() -> None:
    rng = np.random.default_rng(7)
    a, b = rng.normal(1.1, 1.0, 400), rng.normal(1.0, 2.0, 300)
    lift = es.mean_lift(a, b)
    assert lift.p_value == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue)
    assert lift.relative == pytest.approx(a.mean() / b.mean() - 1)


def test_mean_interval_is_students_t() -> None:
    values = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    low, high = stats.t.interval(0.95, 4, loc=3.0, scale=stats.sem(values))
    estimate = es.mean(values)
    assert (estimate.low, estimate.high) == (pytest.approx(low), pytest.approx(high))


def test_sample_ratio_mismatch_is_chi_square_on_users() -> None:
    fine = es.sample_ratio([5030, 4970], [0.5, 0.5])
    assert fine.p_value == pytest.approx(stats.chisquare([5030, 4970]).pvalue)
    assert not fine.mismatch
    assert es.sample_ratio([5300, 4700], [0.5, 0.5]).mismatch
    skewed = es.sample_ratio([800, 100, 100], [0.8, 0.1, 0.1])
    assert skewed.p_value == pytest.approx(1.0) and not skewed.mismatch


def test_compare_warns_before_the_planned_sample() -> None:
    rng = np.random.default_rng(1)

    def arm(name: str, share: float, users: int, p: float) -> es.Arm:
        impressions = np.full(users, 4)
        clicked = rng.binomial(4, p, users)
        return es.Arm(name, share, impressions, clicked, clicked, clicked // 2, clicked * 2.0)

    report = es.compare([arm("control", 0.5, 300, 0.1), arm("b", 0.5, 290, 0.2)], 1000)
    assert not report["planned_sample_reached"]
    assert "fixed-horizon" in report["warnings"][0]
    control, variant = report["variants"]
    assert control["lift"] is None
    assert variant["lift"]["ctr"]["p_value"] < 0.001
    assert variant["ctr"]["value"] == variant["clicked_impressions"] / variant["impressions"]
    done = es.compare([arm("control", 0.5, 300, 0.1), arm("b", 0.5, 300, 0.1)], 300)
    assert done["planned_sample_reached"] and done["warnings"] == []


def test_assignment_is_deterministic_and_follows_the_shares() -> None:
    users = [f"user-{n}" for n in range(40_000)]
    first = [assign("salt-1", u, [0.25, 0.25]) for u in users]
    assert first == [assign("salt-1", u, [0.25, 0.25]) for u in users]
    counts = {arm: first.count(arm) for arm in (0, 1, None)}
    assert counts[0] == pytest.approx(10_000, rel=0.05)
    assert counts[None] == pytest.approx(20_000, rel=0.05)
    other = [assign("salt-2", u, [0.25, 0.25]) for u in users]
    agree = sum(a == b for a, b in zip(first, other, strict=True)) / len(users)
    assert agree == pytest.approx(0.25**2 * 2 + 0.5**2, abs=0.02)  # independent salts
    assert 0 <= bucket("s", "u") < 1
