"""What ``rassim sensitivity`` prints: ranked indices per metric and the verdict."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from rassim.sensitivity.design import OTHERS
from rassim.sensitivity.indices import RANKED

_SHOWN = {"morris": ("mu_star",), "sobol": ("S1", "ST")}


def format_indices(table: pd.DataFrame, metric: str, output: str) -> str:
    """One metric's indices, a row per parameter, most influential first (by the last
    method's ranked index), each with its interval."""
    mine = table[table["metric"] == metric]
    methods = [m for m in ("morris", "sobol") if m in set(mine["method"])]
    last = mine[(mine["method"] == methods[-1]) & (mine["index"] == RANKED[methods[-1]])]
    notes = sorted({n for n in mine["note"].dropna()})
    header = f"{output} {metric}"
    if notes:
        return f"{header}: no indices ({'; '.join(notes)})"
    order = last.sort_values("rank", na_position="last")["parameter"].tolist()
    columns = [(m, i) for m in methods for i in _SHOWN[m]]
    cells = {p: [_cell(mine, p, m, i) for m, i in columns] for p in order}
    for parameter in mine["parameter"].unique():  # screened out of the Sobol design
        if parameter not in cells:
            cells[parameter] = [_cell(mine, parameter, m, i) for m, i in columns]
    members = dict(zip(mine["parameter"], mine["parameters"], strict=False))
    cells = {_label(p, members[p]): row for p, row in cells.items()}
    names = [f"{'mu*' if i == 'mu_star' else i} ({m})" for m, i in columns]
    width = max(len("parameter"), *(len(p) for p in cells))
    widths = [max(len(n), *(len(c[k]) for c in cells.values())) for k, n in enumerate(names)]
    lines = [
        header,
        f"  {'parameter':<{width}}  "
        + "  ".join(f"{n:>{w}}" for n, w in zip(names, widths, strict=True)),
    ]
    for parameter, row in cells.items():
        lines.append(
            f"  {parameter:<{width}}  "
            + "  ".join(f"{c:>{w}}" for c, w in zip(row, widths, strict=True))
        )
    return "\n".join(lines)


def _label(parameter: str, members: str) -> str:
    """A parameter's key, or a group's name and size (``others (5)``)."""
    count = len(members.split(", "))
    return f"{parameter} ({count})" if parameter == OTHERS else parameter


def _cell(table: pd.DataFrame, parameter: str, method: str, index: str) -> str:
    row = table[
        (table["parameter"] == parameter) & (table["method"] == method) & (table["index"] == index)
    ]
    if row.empty:
        return "-"
    value, low, high = (float(row.iloc[0][c]) for c in ("value", "ci_low", "ci_high"))
    if math.isnan(value):
        return "n/a"
    text = f"{value:.3g}"
    return text + (f" [{low:.2g}, {high:.2g}]" if not math.isnan(low) else "")


def format_verdict(verdict: pd.DataFrame, a: str, b: str, confidence: float) -> str:
    """One line per metric: B's share of wins, ties and losses with their intervals."""
    level = f"{confidence:.0%}"
    lines = [f"verdict: {b} vs {a} over the sampled assumptions ({level} exact intervals)"]
    row: Any  # a row of the verdict table (pandas types its fields as any scalar)
    for row in verdict.itertuples():
        if row.samples == 0:
            lines.append(f"  {row.metric}: undefined in every sample")
            continue
        shares = ", ".join(
            f"{name} {_share(row, outcome)}"
            for name, outcome in (("better", "b_wins"), ("tie", "ties"), ("worse", "b_loses"))
        )
        undefined = f"; undefined in {row.undefined}" if row.undefined else ""
        lines.append(
            f"  {row.metric} ({row.better} is better), {row.samples} samples: {b} is "
            f"{shares}{undefined}"
        )
    return "\n".join(lines)


def _share(row, outcome: str) -> str:
    share = getattr(row, f"share_{outcome}")
    low, high = getattr(row, f"share_{outcome}_low"), getattr(row, f"share_{outcome}_high")
    return f"{share:.0%} [{low:.0%}, {high:.0%}]"
