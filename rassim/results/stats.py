"""Confidence intervals: means over replications (Student t), exact intervals of counts."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import betaincinv, gammaincinv, stdtrit  # lighter than scipy.stats


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> tuple[float, float, float, float]:
    """Mean, sample standard deviation and the two-sided Student-t interval of the mean.

    NaNs are dropped (a metric undefined in some runs, e.g. a survival rate with no
    guest-context events). Fewer than two values give an interval of NaN.
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
