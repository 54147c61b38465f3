"""Metrics with intervals over runs: one scenario's replications pooled, or two compared.

Ratio metrics (:data:`rassim.results.metrics.METRICS`) pool the per-host tallies of every
run and take the interval of their kind (:mod:`rassim.results.stats`). The summary's other
numbers are totals per run: event counts get a count interval over runs, anything else
the interval of a non-negative amount over runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from rassim.results.metrics import COUNTS, METRICS, Metric, tallies_of
from rassim.results.stats import Interval, difference_interval, ratio_interval

STATISTICS = ("mean", "sd", "ci_low", "ci_high")


def _scaled(metric: Metric, interval: Interval, difference: bool = False) -> Interval:
    """From the ratio of tallies to the metric: offset and sign (goodput = 1 - the share
    lost), then the unit's scale. A difference has no offset, and its sign is handled by
    the order of the arms."""
    value, low, high = interval.value, interval.low, interval.high
    if not difference:
        if metric.negate:
            value, low, high = -value, -high, -low
        value, low, high = (metric.offset + v for v in (value, low, high))
    return Interval(value * metric.scale, low * metric.scale, high * metric.scale)


def estimate(metric: Metric, tallies: pd.DataFrame) -> Interval:
    """``metric`` pooled over every host of ``tallies`` (one row per host), with its interval."""
    interval = ratio_interval(
        tallies[metric.numerator].to_numpy(), tallies[metric.denominator].to_numpy(), metric.kind
    )
    return _scaled(metric, interval)


def difference(metric: Metric, first: pd.DataFrame, second: pd.DataFrame, paired: bool) -> Interval:
    """``metric`` of ``second`` minus that of ``first``, with its interval. ``paired``: the
    arms ran with the same seeds, and row k of one is row k of the other."""
    arms = [
        (t[metric.numerator].to_numpy(), t[metric.denominator].to_numpy()) for t in (first, second)
    ]
    if metric.negate:  # (c - b) - (c - a) = a - b
        arms.reverse()
    return _scaled(metric, difference_interval(arms[0], arms[1], metric.kind, paired), True)


def aggregate(summaries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Every numeric metric of ``summaries`` (one scenario's runs): ``mean`` (the pooled
    estimate for ratio metrics, the mean per run for totals), ``sd`` over runs and the
    95% interval ``ci_low``, ``ci_high``."""
    tallies = tallies_of(summaries) if all("per_host" in s for s in summaries) else None
    table: dict[str, dict[str, float]] = {}
    numeric = {
        key: None
        for summary in summaries
        for key, value in summary.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    }  # in summary order; a metric undefined in one run (None) is still a metric
    for key in numeric:
        values = np.array([math.nan if s.get(key) is None else s[key] for s in summaries], float)
        sd = float(np.nanstd(values, ddof=1)) if np.isfinite(values).sum() > 1 else math.nan
        if key in METRICS and tallies is not None:
            interval = estimate(METRICS[key], tallies)
        else:
            values = values[np.isfinite(values)]
            kind = "rate" if key in COUNTS else "amount"
            interval = ratio_interval(values, np.ones_like(values), kind)
        table[key] = dict(
            zip(STATISTICS, (interval.value, sd, interval.low, interval.high), strict=True)
        )
    return table
