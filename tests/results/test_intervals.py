"""Intervals: inside their domain, and covering the truth 93-97% of the time by simulation.

Each coverage check draws 4,000 synthetic data sets of K clusters at once (vectorised; the
whole file runs in a few seconds) with a fixed seed. With 4,000 data sets the Monte Carlo
standard error of a coverage near 95% is 0.35 points, so the 93-97% band is about six
standard errors wide on each side: an interval that is too narrow or too wide fails.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from rassim.results.stats import (
    difference_bounds,
    difference_interval,
    mean_ci,
    ratio_bounds,
    ratio_interval,
)

SETS = 4000


def _coverage(bounds: tuple[np.ndarray, np.ndarray, np.ndarray], truth: float) -> float:
    _, low, high = bounds
    assert not np.isnan(low).any() and not np.isnan(high).any()
    return float(np.mean((low <= truth) & (truth <= high)))


def _shares(rng, p: float, clusters: int, trials: float, concentration: float | None = None):
    """Per cluster: Poisson(trials) UEs, each recovered with probability p (or with a
    probability drawn per cluster from Beta around p: clusters that differ)."""
    n = rng.poisson(trials, (SETS, clusters))
    if concentration is not None:
        p = rng.beta(p * concentration, (1 - p) * concentration, (SETS, clusters))
    return rng.binomial(n, p), n


def _compound(rng, ues: float, mean_size: float, clusters: int) -> np.ndarray:
    """Per cluster: Poisson(ues) UEs, each causing a geometric number (mean ``mean_size``)
    of interruptions, as a UE in a crash loop does."""
    count = rng.poisson(ues, (SETS, clusters))
    extra = rng.negative_binomial(np.maximum(count, 1), 1 / mean_size) * (count > 0)
    return count + extra


@pytest.mark.parametrize("p", [0.02, 0.5, 0.98], ids=["near0", "middle", "near1"])
@pytest.mark.parametrize(
    ("clusters", "trials", "concentration"),
    [(12, 40, None), (60, 20, 50.0)],
    ids=["12-alike", "60-differing"],
)
def test_shares_cover_their_truth(p, clusters, trials, concentration) -> None:
    rng = np.random.default_rng(11)
    x, n = _shares(rng, p, clusters, trials, concentration)
    bounds = ratio_bounds(x, n, "share")
    assert 0.93 <= _coverage(bounds, p) <= 0.97
    assert (bounds[1] >= 0).all() and (bounds[2] <= 1).all()


@pytest.mark.parametrize(
    ("clusters", "ues", "mean_size"),
    [(12, 2.0, 1.0), (12, 0.5, 1.0), (60, 2.0, 3.0)],
    ids=["poisson", "sparse", "crash-loops"],
)
def test_rates_cover_their_truth(clusters, ues, mean_size) -> None:
    rng = np.random.default_rng(12)
    exposure = rng.uniform(0.5, 1.5, (SETS, clusters))
    if mean_size == 1.0:
        counts = rng.poisson(ues * exposure)
    else:
        exposure = np.ones_like(exposure)
        counts = _compound(rng, ues, mean_size, clusters)
    bounds = ratio_bounds(counts, exposure, "rate")
    assert 0.93 <= _coverage(bounds, ues * mean_size) <= 0.97
    assert (bounds[1] >= 0).all()


def test_continuous_amounts_and_fractions_cover_their_truth() -> None:
    """Downtime-like amounts: Poisson(2) outages per cluster, exponential lengths."""
    rng = np.random.default_rng(13)
    outages = rng.poisson(2.0, (SETS, 60))
    seconds = rng.gamma(np.maximum(outages, 1e-300), 30.0) * (outages > 0)
    amount = ratio_bounds(seconds, np.ones_like(seconds), "amount")
    assert 0.93 <= _coverage(amount, 60.0) <= 0.97 and (amount[1] >= 0).all()
    fraction = ratio_bounds(seconds, np.full_like(seconds, 1e4), "fraction")
    assert 0.93 <= _coverage(fraction, 60.0 / 1e4) <= 0.97
    assert (fraction[1] >= 0).all() and (fraction[2] <= 1).all()


@pytest.mark.parametrize(("clusters", "p1", "p2"), [(12, 0.2, 0.35), (60, 0.02, 0.05)])
def test_paired_differences_cover_their_truth(clusters, p1, p2) -> None:
    """Common random numbers: both arms see the same UEs, and a UE recovered under the
    first arm is recovered under the second (strongly correlated arms)."""
    rng = np.random.default_rng(14)
    n = rng.poisson(40, (SETS, clusters))
    draws = rng.random((SETS, clusters, 100))
    present = np.arange(100) < n[..., None]
    first = ((draws < p1) & present).sum(-1), n
    second = ((draws < p2) & present).sum(-1), n
    paired = difference_bounds(first, second, "share", paired=True)
    assert 0.93 <= _coverage(paired, p2 - p1) <= 0.97
    unpaired = difference_bounds(first, second, "share", paired=False)
    assert (unpaired[2] - unpaired[1]).mean() > 1.5 * (paired[2] - paired[1]).mean()


def test_independent_differences_cover_their_truth() -> None:
    rng = np.random.default_rng(15)
    ones = np.ones((SETS, 12))
    shares = [_shares(rng, p, 12, 40) for p in (0.3, 0.4)]
    assert 0.93 <= _coverage(difference_bounds(*shares, "share", paired=False), 0.1) <= 0.97
    rates = [(rng.poisson(lam, (SETS, 12)), ones) for lam in (3.0, 2.0)]
    assert 0.93 <= _coverage(difference_bounds(*rates, "rate", paired=False), -1.0) <= 0.97


def test_counts_at_the_edges_of_their_domain() -> None:
    none = ratio_interval([0, 0, 0], [10, 20, 30], "share")
    assert none.value == 0 and none.low == 0 and 0 < none.high < 0.1
    every = ratio_interval([10, 20, 30], [10, 20, 30], "share")
    assert every.value == 1 and every.high == 1 and 0.9 < every.low < 1
    zero = ratio_interval([0], [2.0], "rate")  # one cluster, no event: a Poisson bound
    assert zero.value == 0 and zero.low == 0 and zero.high == pytest.approx(2.51 / 2, rel=0.01)
    lone = ratio_interval([7], [100], "share")  # one cluster: the pooled counts alone
    assert 0 < lone.low < 0.07 < lone.high < 0.2


def test_clusters_that_disagree_widen_the_interval() -> None:
    alike = ratio_interval([10, 10, 10, 10], [100] * 4, "share")
    apart = ratio_interval([0, 20, 0, 20], [100] * 4, "share")
    assert alike.value == apart.value == 0.1
    assert apart.high - apart.low > 2 * (alike.high - alike.low)


def test_continuous_metrics_need_two_clusters_and_some_variation() -> None:
    assert math.isnan(ratio_interval([5.0], [1.0], "amount").low)
    assert math.isnan(ratio_interval([0.0, 0.0], [1.0, 1.0], "amount").high)
    spread = ratio_interval([3.0, 5.0, 4.0], [1.0, 1.0, 1.0], "amount")
    assert 0 < spread.low < 4 < spread.high
    assert math.isnan(ratio_interval([], [], "share").value)  # nothing to pool
    with pytest.raises(ValueError, match="unknown metric kind"):
        ratio_interval([1], [1], "percent")


def test_identical_paired_arms_differ_by_exactly_nothing() -> None:
    arm = (np.array([3, 0, 5, 1]), np.array([10, 12, 9, 11]))
    same = difference_interval(arm, arm, "share", paired=True)
    assert same.value == same.low == same.high == 0
    apart = difference_interval(arm, arm, "share", paired=False)
    assert apart.low < 0 < apart.high


def test_the_student_t_interval_is_kept_for_plain_means() -> None:
    mean, sd, _, high = mean_ci([1.0, 2.0, 3.0])
    assert (mean, sd) == (2.0, 1.0)
    assert high - mean == pytest.approx(4.302653 / math.sqrt(3))
    assert math.isnan(mean_ci([1.0])[2])
