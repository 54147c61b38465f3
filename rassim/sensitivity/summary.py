"""What ``rassim sensitivity`` prints: the plan (``--dry-run``), ranked indices per metric
and the verdict."""

from __future__ import annotations

import math
from typing import Any

import pandas as pd

from rassim.sensitivity.design import (
    OTHERS,
    Study,
    experiment,
    morris_design,
    sobol_design,
)
from rassim.sensitivity.indices import RANKED

_SHOWN = {"morris": ("mu_star",), "sobol": ("S1", "ST")}


def format_plan(study: Study) -> str:
    """The parameters and what each method will run; the first stage's samples are built
    and validated, so that a sample the scenario refuses shows before anything runs."""
    settings = study.settings
    d = len(study.parameters)
    lines = [f"{study.name}: {d} uncertain parameter(s)"]
    for p in study.parameters:
        if p.kind == "discrete":
            spread = ", ".join(str(v) for v in p.values)
        else:
            bounds = [p.low, p.mode, p.high] if p.distribution == "triangular" else [p.low, p.high]
            spread = " to ".join(str(p.written(b)) for b in bounds)
        lines.append(f"  {p.key}: {p.distribution} {spread}")
    per_sample = max(1, len(study.arm_labels)) * study.replications
    first = morris_design(study) if settings.morris is not None else sobol_design(study)
    checked = len(experiment(study, first).points)
    if settings.morris is not None:
        samples = settings.morris.trajectories * (d + 1)
        lines.append(f"morris: {samples} samples x {per_sample} = {samples * per_sample} runs")
    if settings.sobol is not None:
        groups = settings.sobol.top + 1 if settings.sobol.top is not None else d
        samples = settings.sobol.samples * (groups + 2)
        lines.append(f"sobol: {samples} samples x {per_sample} = {samples * per_sample} runs")
    if study.arms is not None:
        a, b = study.arm_labels
        lines.append(f"arms: A = {a}, B = {b}")
    lines.append(f"{checked} scenario(s) of the {first.method} stage checked")
    return "\n".join(lines)


def format_indices(table: pd.DataFrame, metric: str, output: str, rows: int = 8) -> str:
    """One metric's indices, a row per parameter, most influential first (by the last
    method's ranked index, then the screening's), each with its interval; the first
    ``rows`` parameters and a count of the rest."""
    mine = table[table["metric"] == metric]
    methods = [m for m in ("morris", "sobol") if m in set(mine["method"])]
    last = mine[(mine["method"] == methods[-1]) & (mine["index"] == RANKED[methods[-1]])]
    notes = sorted({n for n in mine["note"].dropna()})
    header = f"{output} {metric}"
    if notes:
        return f"{header}: no indices ({'; '.join(notes)})"
    order = last.sort_values("rank", na_position="last")["parameter"].tolist()
    first = mine[(mine["method"] == methods[0]) & (mine["index"] == RANKED[methods[0]])]
    order += [p for p in first.sort_values("rank")["parameter"] if p not in order]
    columns = [(m, i) for m in methods for i in _SHOWN[m]]
    cells = {p: [_cell(mine, p, m, i) for m, i in columns] for p in order[:rows]}
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
    if len(order) > rows:
        lines.append(f"  ... and {len(order) - rows} more (indices.parquet)")
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
