"""Tables of means with 95% confidence intervals, as text ready for the report."""

from __future__ import annotations

import math

import pandas as pd

from rassim.report.figures import KEY_METRICS
from rassim.report.results import Results
from rassim.report.series import ordered_points
from rassim.report.style import factor_label, metric, show_value


def number(value: float) -> str:
    """Four significant digits, thousands separated; NaN (undefined) as a dash."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    value = float(value)
    if abs(value) >= 10_000:
        return f"{value:,.0f}"
    return f"{value:.4g}"


def ordered_metrics(results: Results) -> list[str]:
    """The aggregate's metrics, the key ones first."""
    present = results.metrics
    return [m for m in KEY_METRICS if m in present] + [m for m in present if m not in KEY_METRICS]


def _heading(name: str) -> str:
    spec = metric(name)
    return f"{spec.label} ({spec.unit})" if spec.unit else spec.label


def means_table(results: Results) -> pd.DataFrame:
    """One row per point: the factors, the runs, and ``mean [ci_low, ci_high]`` per metric
    in the units the figures use. A single point is shown with one row per metric."""
    table = results.aggregate.set_index("point_id")
    names = ordered_metrics(results)
    if len(table) == 1:
        row = table.iloc[0]
        return pd.DataFrame(
            [
                {
                    "metric": _heading(name),
                    "mean": number(row[f"{name}_mean"] * metric(name).scale),
                    "95% CI": _interval(row, name),
                    "sd": number(row.get(f"{name}_sd", math.nan) * metric(name).scale),
                }
                for name in names
            ]
        )
    factors = results.varying()
    rows = []
    for point in ordered_points(results):
        row = table.loc[point]
        out = {factor_label(c): show_value(c, row[c]) for c in factors}
        out["runs ok"] = number(row.get("runs_ok", math.nan))
        if row.get("runs_failed", 0):
            out["runs failed"] = number(row["runs_failed"])
        for name in names:
            mean = number(row[f"{name}_mean"] * metric(name).scale)
            out[_heading(name)] = f"{mean} {_interval(row, name)}"
        rows.append(out)
    return pd.DataFrame(rows)


def _interval(row: pd.Series, name: str) -> str:
    scale = metric(name).scale
    low, high = row.get(f"{name}_ci_low", math.nan), row.get(f"{name}_ci_high", math.nan)
    if pd.isna(low) or pd.isna(high):
        return "n/a"
    return f"[{number(low * scale)}, {number(high * scale)}]"
