"""Statistics of an online experiment: per-arm estimates, lifts against control, and the
sample-ratio check. Fixed-horizon frequentist tests, computed on per-user arrays.

- A rate (CTR, conversion rate) is successes over trials, with a Wilson 95 % interval.
  Its lift against control is relative, ``p_v / p_c - 1``; its interval comes from the
  log of the ratio (normal approximation, delta method), and its p-value from the
  pooled two-proportion z-test.
- A per-user value is a mean with a Student t 95 % interval. Its relative lift's
  interval comes from the delta method on the ratio of means; its p-value from Welch's
  t-test (unequal variances).
- Sample-ratio mismatch: a chi-square goodness-of-fit test of the users per arm against
  the arms' planned shares, flagged below ``SRM_ALPHA``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

CONFIDENCE = 0.95
Z = float(stats.norm.ppf(0.5 + CONFIDENCE / 2))
# A sample-ratio mismatch this unlikely under the planned shares is flagged.
SRM_ALPHA = 0.001


@dataclass(frozen=True, slots=True)
class Estimate:
    value: float | None
    low: float | None
    high: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {"value": self.value, "ci_low": self.low, "ci_high": self.high}


@dataclass(frozen=True, slots=True)
class Lift:
    """A relative lift against control with its interval and two-sided p-value; all None
    when control's figure is 0 (no ratio) or either arm is empty."""

    relative: float | None
    low: float | None
    high: float | None
    p_value: float | None

    def as_dict(self) -> dict[str, float | None]:
        return {
            "relative": self.relative,
            "ci_low": self.low,
            "ci_high": self.high,
            "p_value": self.p_value,
        }


NO_LIFT = Lift(None, None, None, None)
NO_ESTIMATE = Estimate(None, None, None)


def proportion(successes: int, trials: int) -> Estimate:
    """``successes / trials`` with its Wilson score interval."""
    if trials <= 0:
        return NO_ESTIMATE
    p = successes / trials
    denominator = 1 + Z * Z / trials
    centre = (p + Z * Z / (2 * trials)) / denominator
    half = Z * math.sqrt(p * (1 - p) / trials + Z * Z / (4 * trials * trials)) / denominator
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half))


def mean(values: NDArray[np.float64]) -> Estimate:
    """The mean of ``values`` with its Student t interval."""
    n = len(values)
    if n == 0:
        return NO_ESTIMATE
    average = float(np.mean(values))
    if n == 1:
        return Estimate(average, None, None)
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)) * float(np.std(values, ddof=1))
    half /= math.sqrt(n)
    return Estimate(average, average - half, average + half)


def rate_lift(successes: int, trials: int, control_successes: int, control_trials: int) -> Lift:
    """Relative lift of one rate over control's, two-proportion z-test p-value."""
    if trials <= 0 or control_trials <= 0 or control_successes <= 0:
        return NO_LIFT
    p, q = successes / trials, control_successes / control_trials
    pooled = (successes + control_successes) / (trials + control_trials)
    se_diff = math.sqrt(pooled * (1 - pooled) * (1 / trials + 1 / control_trials))
    p_value = 1.0 if se_diff == 0 else float(2 * stats.norm.sf(abs(p - q) / se_diff))
    if successes == 0:
        return Lift(-1.0, None, None, p_value)
    se_log = math.sqrt((1 - p) / successes + (1 - q) / control_successes)
    ratio = p / q
    return Lift(
        ratio - 1,
        ratio * math.exp(-Z * se_log) - 1,
        ratio * math.exp(Z * se_log) - 1,
        p_value,
    )


def mean_lift(values: NDArray[np.float64], control: NDArray[np.float64]) -> Lift:
    """Relative lift of one mean over control's, Welch's t-test p-value."""
    if len(values) < 2 or len(control) < 2:
        return NO_LIFT
    m, c = float(np.mean(values)), float(np.mean(control))
    if c == 0:
        return NO_LIFT
    var_m = float(np.var(values, ddof=1)) / len(values)
    var_c = float(np.var(control, ddof=1)) / len(control)
    if var_m + var_c == 0:
        p_value = 1.0 if m == c else 0.0
    else:
        p_value = float(stats.ttest_ind(values, control, equal_var=False).pvalue)
    ratio = m / c
    se = abs(ratio) * math.sqrt(var_m / (m * m) + var_c / (c * c)) if m != 0 else math.inf
    if not math.isfinite(se):
        return Lift(ratio - 1, None, None, p_value)
    return Lift(ratio - 1, ratio - 1 - Z * se, ratio - 1 + Z * se, p_value)


@dataclass(frozen=True, slots=True)
class SampleRatio:
    p_value: float | None
    mismatch: bool


def sample_ratio(users: Sequence[int], shares: Sequence[float]) -> SampleRatio:
    """Chi-square test of the users per arm against the planned shares."""
    observed = np.asarray(users, dtype=np.float64)
    expected_shares = np.asarray(shares, dtype=np.float64)
    keep = expected_shares > 0
    total = observed.sum()
    if total == 0 or keep.sum() < 2:
        return SampleRatio(None, False)
    if np.any(observed[~keep] > 0):
        return SampleRatio(0.0, True)  # users in an arm planned to have none
    expected = expected_shares[keep] / expected_shares[keep].sum() * total
    p_value = float(stats.chisquare(observed[keep], expected).pvalue)
    return SampleRatio(p_value, p_value < SRM_ALPHA)


@dataclass(slots=True)
class Arm:
    """One arm's per-user figures (one element per user who saw the arm)."""

    name: str
    share: float
    impressions: NDArray[np.int64]
    clicked_impressions: NDArray[np.int64]
    clicks: NDArray[np.int64]
    conversions: NDArray[np.int64]
    value: NDArray[np.float64]

    @classmethod
    def empty(cls, name: str, share: float) -> Arm:
        none = np.zeros(0, np.int64)
        return cls(name, share, none, none, none, none, np.zeros(0))

    @property
    def users(self) -> int:
        return len(self.impressions)

    @property
    def converted_users(self) -> int:
        return int(np.count_nonzero(self.conversions))


def arm_summary(arm: Arm) -> dict[str, object]:
    return {
        "name": arm.name,
        "share": arm.share,
        "users": arm.users,
        "impressions": int(arm.impressions.sum()),
        "clicked_impressions": int(arm.clicked_impressions.sum()),
        "clicks": int(arm.clicks.sum()),
        "conversions": int(arm.conversions.sum()),
        "converted_users": arm.converted_users,
        "ctr": proportion(int(arm.clicked_impressions.sum()), int(arm.impressions.sum())).as_dict(),
        "conversion_rate": proportion(arm.converted_users, arm.users).as_dict(),
        "value_per_user": mean(arm.value).as_dict(),
    }


def arm_lifts(arm: Arm, control: Arm) -> dict[str, dict[str, float | None]]:
    return {
        "ctr": rate_lift(
            int(arm.clicked_impressions.sum()),
            int(arm.impressions.sum()),
            int(control.clicked_impressions.sum()),
            int(control.impressions.sum()),
        ).as_dict(),
        "conversion_rate": rate_lift(
            arm.converted_users, arm.users, control.converted_users, control.users
        ).as_dict(),
        "value_per_user": mean_lift(arm.value, control.value).as_dict(),
    }


def compare(arms: Sequence[Arm], planned_users_per_variant: int | None = None) -> dict:
    """Every arm's figures, each variant's lifts against control (``arms[0]``), the
    sample-ratio check and the warnings a reader should see."""
    control = arms[0]
    variants = []
    for arm in arms:
        summary = arm_summary(arm)
        summary["lift"] = None if arm is control else arm_lifts(arm, control)
        variants.append(summary)
    srm = sample_ratio([a.users for a in arms], [a.share for a in arms])
    warnings = []
    if planned_users_per_variant is not None:
        short = [a.name for a in arms if a.users < planned_users_per_variant]
        if short:
            warnings.append(
                f"fewer users than planned ({planned_users_per_variant} per variant) in "
                f"{', '.join(short)}: this is a fixed-horizon test, and its p-values and "
                "intervals hold only once the planned sample is reached"
            )
    else:
        warnings.append(
            "no planned_users_per_variant: this is a fixed-horizon test, so decide the "
            "sample size in advance and read the p-values once, when it is reached"
        )
    if srm.mismatch:
        warnings.append(
            "sample-ratio mismatch: users per variant differ from the planned shares "
            f"(chi-square p = {srm.p_value:.2g}); the assignment or the logging is biased "
            "and the results should not be trusted"
        )
    return {
        "variants": variants,
        "sample_ratio_mismatch": {"p_value": srm.p_value, "flagged": srm.mismatch},
        "planned_users_per_variant": planned_users_per_variant,
        "planned_sample_reached": planned_users_per_variant is not None
        and all(a.users >= planned_users_per_variant for a in arms),
        "warnings": warnings,
    }
