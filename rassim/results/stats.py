"""Confidence intervals that respect each metric's domain (``docs/metrics.md``).

A metric is a pooled ratio ``sum(numerator) / sum(denominator)`` over K independent
clusters (the hosts of every run: hosts never interact). Its interval comes from the
pooled counts, widened by how much the clusters disagree:

- the cluster-robust (linearised) variance of the ratio, ``K/(K-1) * sum((x_k - r n_k)^2)
  / (sum n)^2``, measures the variation between clusters;
- for counts (``share``: UEs or events out of a total; ``rate``: events per exposure) the
  binomial or Poisson variance of the pooled counts is a floor, and the excess of the
  cluster variance over it, scaled by ``(t_{K-1} / z)^2`` for having been estimated from
  K clusters, makes a design effect ``deff`` (Korn & Graubard 1998). The interval is the
  Jeffreys interval of the effective counts ``x / deff`` out of ``n / deff``: a Beta
  quantile for shares (inside [0, 1]), a Gamma quantile for rates (inside [0, inf));
- for continuous quantities (``fraction``: a share of time or work; ``amount``: seconds or
  bytes per exposure) there is no count to floor on: the Beta or Gamma distribution with
  the ratio as its mean and the cluster variance (times ``(t/z)^2``) as its variance gives
  the interval. It needs two clusters or more.

A difference between two arms that ran with the same seeds (common random numbers) takes
the variance of the per-cluster differences of the linearised ratios and a Student-t
quantile; two independent arms combine their own intervals by MOVER (Newcombe 1998; Zou
& Donner 2008), so the difference keeps each arm's asymmetry near 0 or 1.

Every function takes per-cluster arrays along the last axis and works on any leading
axes, so many synthetic data sets are handled in one call (the coverage tests do that).
The exact (Garwood, Clopper-Pearson) intervals of a single count serve the calibration
and the fit of a fleet's log, where one observed count is all there is.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.special import betaincinv, gammaincinv, ndtri, stdtrit

KINDS = ("share", "rate", "fraction", "amount")
BOUNDED = ("share", "fraction")  # inside [0, 1]; the others inside [0, inf)

Arrays = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Interval:
    """A point estimate and its two-sided interval (NaN bounds where none can be given)."""

    value: float
    low: float
    high: float


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation and the two-sided Student-t interval of the mean.

    NaNs are dropped (a metric undefined in some runs). Fewer than two values give an
    interval of NaN. Right for the mean of an unbounded quantity; ratio metrics use
    :func:`ratio_interval`.
    """
    array = np.asarray(values, dtype=np.float64)
    array = array[~np.isnan(array)]
    n = len(array)
    if n == 0:
        return (math.nan, math.nan, math.nan, math.nan)
    mean = float(array.mean())
    if n < 2:
        return (mean, math.nan, math.nan, math.nan)
    sd = float(array.std(ddof=1))
    half = float(stdtrit(n - 1, (1 + confidence) / 2)) * sd / math.sqrt(n)
    return (mean, sd, mean - half, mean + half)


def poisson_interval(count: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) two-sided interval of a Poisson mean from one observed ``count``:
    the gamma quantiles ``G(a/2; count)`` and ``G(1 - a/2; count + 1)``; 0 below for 0."""
    tail = (1 - confidence) / 2
    low = float(gammaincinv(count, tail)) if count > 0 else 0.0
    return (low, float(gammaincinv(count + 1, 1 - tail)))


def binomial_interval(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Exact (Clopper-Pearson) two-sided interval of a proportion: beta quantiles."""
    if trials <= 0:
        return (math.nan, math.nan)
    tail = (1 - confidence) / 2
    low = float(betaincinv(successes, trials - successes + 1, tail)) if successes > 0 else 0.0
    high = (
        float(betaincinv(successes + 1, trials - successes, 1 - tail))
        if successes < trials
        else 1.0
    )
    return (low, high)


def _residuals(numerator: np.ndarray, denominator: np.ndarray) -> Arrays:
    """The ratio and each cluster's linearised contribution to its error."""
    total = denominator.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = numerator.sum(axis=-1) / total
        residual = (numerator - ratio[..., None] * denominator) / total[..., None]
    return ratio, residual


def ratio_bounds(
    numerator: np.ndarray, denominator: np.ndarray, kind: str, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled ratio, low and high bound over the last axis (clusters); see the module
    docstring for the four kinds. NaN where the denominator is 0 (the ratio is undefined)
    or, for continuous kinds, where fewer than two clusters or no variation allow none."""
    if kind not in KINDS:
        raise ValueError(f"unknown metric kind {kind!r}; one of {', '.join(KINDS)}")
    x = np.asarray(numerator, dtype=np.float64)
    n = np.asarray(denominator, dtype=np.float64)
    k = x.shape[-1]
    total = n.sum(axis=-1)
    ratio, residual = _residuals(x, n)
    lower, upper = (1 - confidence) / 2, (1 + confidence) / 2
    widen = float(stdtrit(k - 1, upper) / ndtri(upper)) ** 2 if k >= 2 else math.nan
    measured = (
        k / (k - 1) * np.square(residual).sum(axis=-1) if k >= 2 else np.full_like(ratio, np.nan)
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        if kind in ("share", "rate"):
            floor = ratio * (1 - ratio) / total if kind == "share" else ratio / total
            excess = np.nan_to_num(np.maximum(measured / floor - 1, 0.0), nan=0.0, posinf=0.0)
            deff = 1.0 + excess * (widen if k >= 2 else 0.0)
            events, trials = ratio * total / deff, total / deff
            if kind == "share":
                low = np.where(
                    events > 0, betaincinv(events + 0.5, trials - events + 0.5, lower), 0
                )
                high = np.where(
                    events < trials, betaincinv(events + 0.5, trials - events + 0.5, upper), 1
                )
            else:
                low = np.where(events > 0, gammaincinv(events + 0.5, lower) / trials, 0.0)
                high = gammaincinv(events + 0.5, upper) / trials
        else:
            variance = np.where(measured > 0, measured * widen, np.nan)
            if kind == "fraction":
                size = np.maximum(ratio * (1 - ratio) / variance - 1, 1e-9)  # Beta(a, b)
                a, b = ratio * size, (1 - ratio) * size
                low, high = betaincinv(a, b, lower), betaincinv(a, b, upper)
            else:
                shape, scale = ratio**2 / variance, variance / ratio  # Gamma(shape, scale)
                low, high = gammaincinv(shape, lower) * scale, gammaincinv(shape, upper) * scale
        undefined = ~(total > 0)
        low = np.where(undefined, np.nan, low)
        high = np.where(undefined, np.nan, high)
    return ratio, low, high


def difference_bounds(
    first: Arrays, second: Arrays, kind: str, paired: bool, confidence: float = 0.95
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``ratio(second) - ratio(first)`` and its interval; each arm is (numerator,
    denominator) per cluster. ``paired``: cluster k of one arm ran with the same seeds as
    cluster k of the other (common random numbers), so the variance is that of the
    per-cluster differences, with a Student-t quantile on K - 1 degrees of freedom.
    Otherwise the arms' own intervals are combined by MOVER (Newcombe 1998)."""
    one, low1, high1 = ratio_bounds(*first, kind, confidence)
    two, low2, high2 = ratio_bounds(*second, kind, confidence)
    value = two - one
    k = np.shape(first[0])[-1]
    if paired and k >= 2:
        r1 = _residuals(*(np.asarray(v, dtype=np.float64) for v in first))[1]
        r2 = _residuals(*(np.asarray(v, dtype=np.float64) for v in second))[1]
        if r1.shape != r2.shape:
            raise ValueError(f"paired arms need as many clusters: {r1.shape} and {r2.shape}")
        spread = np.sqrt(k / (k - 1) * np.square(r2 - r1).sum(axis=-1))
        half = float(stdtrit(k - 1, (1 + confidence) / 2)) * spread
        low, high = value - half, value + half
    else:
        low = value - np.hypot(two - low2, high1 - one)
        high = value + np.hypot(high2 - two, one - low1)
    if kind in BOUNDED:
        low, high = np.maximum(low, -1.0), np.minimum(high, 1.0)
    return value, low, high


def ratio_interval(
    numerator: Sequence[float] | np.ndarray,
    denominator: Sequence[float] | np.ndarray,
    kind: str,
    confidence: float = 0.95,
) -> Interval:
    """:func:`ratio_bounds` of one set of clusters."""
    bounds = ratio_bounds(np.asarray(numerator), np.asarray(denominator), kind, confidence)
    return Interval(*(float(b) for b in bounds))


def difference_interval(
    first: Arrays, second: Arrays, kind: str, paired: bool, confidence: float = 0.95
) -> Interval:
    """:func:`difference_bounds` of one pair of arms."""
    bounds = difference_bounds(first, second, kind, paired, confidence)
    return Interval(*(float(b) for b in bounds))
