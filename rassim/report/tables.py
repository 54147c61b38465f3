"""Tables of estimates with 95% confidence intervals, as text ready for the report."""

from __future__ import annotations

import math

import pandas as pd

from rassim.report.figures import KEY_METRICS
from rassim.report.results import Results
from rassim.report.series import ordered_points
from rassim.report.style import SET_UP, factor_label, metric, show_value
from rassim.results.comparison import count, interval_text, number


def ordered_metrics(results: Results) -> list[str]:
    """The aggregate's metrics, the key ones first; not the run's set-up (its hosts,
    duration, ...), which the parameters give."""
    present = [m for m in results.metrics if m not in SET_UP]
    return [m for m in KEY_METRICS if m in present] + [m for m in present if m not in KEY_METRICS]


def _heading(name: str) -> str:
    spec = metric(name)
    return f"{spec.label} ({spec.unit})" if spec.unit else spec.label


def means_table(results: Results) -> pd.DataFrame:
    """One row per point: the factors, the runs, and ``estimate [ci_low, ci_high]`` per
    metric in the units the figures use. A single point is shown with one row per metric."""
    table = results.aggregate.set_index("point_id")
    names = ordered_metrics(results)
    if len(table) == 1:
        row = table.iloc[0]
        return pd.DataFrame(
            [
                {
                    "metric": _heading(name),
                    "estimate [95% CI]": _interval(row, name),
                    "sd over runs": number(row.get(f"{name}_sd", math.nan) * metric(name).scale),
                }
                for name in names
            ]
        )
    factors = results.varying()
    rows = []
    for point in ordered_points(results):
        row = table.loc[point]
        out = {factor_label(c): show_value(c, row[c]) for c in factors}
        out["runs ok"] = count(row.get("runs_ok", math.nan))
        if row.get("runs_failed", 0):
            out["runs failed"] = count(row["runs_failed"])
        for name in names:
            out[_heading(name)] = _interval(row, name)
        rows.append(out)
    return pd.DataFrame(rows)


def _interval(row: pd.Series, name: str) -> str:
    """``estimate [low, high]`` in the metric's display unit, with one set of decimals."""
    scale = metric(name).scale
    mean, low, high = (
        float(row.get(f"{name}_{s}", math.nan)) * scale for s in ("mean", "ci_low", "ci_high")
    )
    return interval_text(mean, low, high)
