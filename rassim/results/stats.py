"""Means with confidence intervals over replications (Student t)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy.special import stdtrit  # Student t quantile; lighter than scipy.stats


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
