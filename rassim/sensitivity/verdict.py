"""The robust verdict: over the sampled assumptions, how often arm B beats arm A.

For each metric with a direction (higher or lower is better) the difference B - A of a
sample (both arms on common random numbers) is a win for B, a tie (typically: no error
reached either arm) or a loss. The shares come with exact Clopper-Pearson intervals,
which need independent samples: the verdict counts the Sobol design's ``A`` and ``B``
rows (or each Morris trajectory's first point), never the cross-sampled rows that share
all but one value with them. The map bins every sample of the stage by the two most
influential parameters (equal-probability bins) to show where the verdict flips.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from rassim.results.stats import binomial_interval, mean_ci
from rassim.sensitivity.parameters import Parameter

BINS = 4  # equal-probability bins of a numeric parameter in the map


def difference(metric: str) -> str:
    """The samples-table column of ``metric``'s difference B - A."""
    return f"{metric}_diff"


def _tally(d: np.ndarray, better: str) -> dict[str, int]:
    """Wins, ties and losses of B among the defined differences ``d``."""
    d = d[~np.isnan(d)]
    signed = d if better == "higher" else -d
    wins, losses = int((signed > 0).sum()), int((signed < 0).sum())
    return {"samples": len(d), "b_wins": wins, "ties": len(d) - wins - losses, "b_loses": losses}


def verdict(samples: pd.DataFrame, better: Mapping[str, str], confidence: float) -> pd.DataFrame:
    """One row per metric: how many independent samples B wins, ties or loses, the shares
    with exact intervals, and the mean difference with its Student-t interval."""
    rows = []
    for metric, direction in better.items():
        d = samples[difference(metric)].to_numpy(dtype=np.float64)
        tally = _tally(d, direction)
        n = tally["samples"]
        row: dict[str, Any] = {"metric": metric, "better": direction, **tally}
        row["undefined"] = len(d) - n
        for outcome in ("b_wins", "ties", "b_loses"):
            low, high = binomial_interval(tally[outcome], n, confidence)
            row[f"share_{outcome}"] = tally[outcome] / n if n else math.nan
            row[f"share_{outcome}_low"], row[f"share_{outcome}_high"] = low, high
        mean, _, low, high = mean_ci(d.tolist(), confidence)
        row.update(mean_difference=mean, mean_difference_low=low, mean_difference_high=high)
        rows.append(row)
    return pd.DataFrame(rows)


def verdict_map(
    samples: pd.DataFrame,
    parameters: dict[str, Parameter],
    axes: dict[str, list[str]],
    better: Mapping[str, str],
) -> pd.DataFrame:
    """Cells of the difference against each metric's two most influential parameters
    (``axes``: metric -> keys, most influential first): per cell, the samples, B's wins,
    ties and losses, and the mean difference."""
    frames = []
    for metric, direction in better.items():
        keys = axes.get(metric, [])[:2]
        if not keys:
            continue
        binned = [_bins(parameters[key], samples[parameters[key].column]) for key in keys]
        d = samples[difference(metric)].to_numpy(dtype=np.float64)
        codes = [b[0] for b in binned]
        cells = pd.DataFrame({f"c{i}": c for i, c in enumerate(codes)}).assign(d=d)
        for cell, group in cells.groupby([f"c{i}" for i in range(len(keys))], sort=True):
            cell = cell if isinstance(cell, tuple) else (cell,)
            row: dict[str, Any] = {"metric": metric}
            for axis, key, code, (_, labels) in zip("xy", keys, cell, binned, strict=False):
                low, high, label = labels[int(code)]  # type: ignore[call-overload]  # a bin index
                row.update(
                    {axis: key, f"{axis}_bin": code, f"{axis}_low": low, f"{axis}_high": high}
                )
                row[f"{axis}_label"] = label
            values = group["d"].to_numpy()
            tally = _tally(values, direction)
            row.update(tally)
            row["share_b_wins"] = (
                tally["b_wins"] / tally["samples"] if tally["samples"] else math.nan
            )
            row["mean_difference"] = float(np.nanmean(values)) if tally["samples"] else math.nan
            frames.append(row)
    return pd.DataFrame(frames)


def _bins(
    parameter: Parameter, values: pd.Series
) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Each value's bin and each bin's (low, high, label): the listed values of a discrete
    parameter (no numeric bounds), else equal-probability bins between the distribution's
    quantiles."""
    if parameter.kind == "discrete":
        texts = [str(v) for v in parameter.values]
        codes = np.array([texts.index(str(v)) for v in values])
        return codes, [(math.nan, math.nan, t) for t in texts]
    edges = np.unique(parameter.quantile(np.linspace(0, 1, BINS + 1)).astype(np.float64))
    inner = edges[1:-1]
    codes = np.searchsorted(inner, values.to_numpy(dtype=np.float64), side="right")
    labels = [
        (float(edges[i]), float(edges[i + 1]), f"{edges[i]:.3g} to {edges[i + 1]:.3g}")
        for i in range(len(edges) - 1)
    ]
    return codes, labels
