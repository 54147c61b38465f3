"""One or two arms (a scenario, or the same scenario at two values of a key) side by side:
each headline metric with its interval, the difference and which arm is better, the
totals behind them, and the definitions. ``rassim run`` and ``rassim compare`` print it,
the report and ``--format csv`` reuse :func:`comparison_frame`."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import pandas as pd

from rassim.results.estimates import difference, estimate
from rassim.results.metrics import HEADLINE, METRICS, Metric, tallies_of

MORE_CLUSTERS = "add hosts (--set fleet.hosts=N) or replications (-r N)"
FEW_CLUSTERS = 10  # below this many host-runs an interval rests on little (docs/metrics.md)


@dataclass(frozen=True)
class Arm:
    """One side of a comparison: its label and the summaries of its runs."""

    label: str
    summaries: list[dict[str, Any]]

    def tallies(self) -> pd.DataFrame:
        return tallies_of(self.summaries)

    def total(self, key: str) -> float:
        return float(sum(s.get(key) or 0 for s in self.summaries))


def decimals(value: float, low: float = math.nan, high: float = math.nan) -> int:
    """Places after the decimal point (negative: digits rounded away before it) that show
    an interval's width to two significant digits and its value to at least two (three
    from 100 up), and no more than that: 0.99913 [0.99887, 0.99935], 4,320 [4,100, 4,560].
    A whole number with no interval to show, exactly zero included, takes none: 0 [0, 0]."""
    if not math.isfinite(value):
        return 0
    places = []
    width = high - low
    if math.isfinite(width) and width > 0:
        places.append(1 - math.floor(math.log10(width)))
    elif float(value).is_integer():
        return 0
    if value != 0:
        places.append((2 if abs(value) >= 100 else 1) - math.floor(math.log10(abs(value))))
    return min(8, max(places))


def number(value: float, places: int | None = None, sign: bool = False) -> str:
    """A number for people: thousands separated, fixed decimals, never scientific;
    NaN (undefined) as ``n/a``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    places = decimals(value) if places is None else places
    if places < 0:  # 14,368,529 to three significant digits: 14,400,000
        value, places = round(value, places), 0
    text = f"{value:{'+' if sign else ''},.{places}f}"
    if not text.strip("+-0.,"):  # zero, or rounds to it, has no sign: 0.00, not -0.00
        text = text.lstrip("+-")
    return text


def count(value: float) -> str:
    """A count for people: a whole number, thousands separated (``3``, not ``3.0``);
    NaN as ``n/a``."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{round(value):,}"


def interval_text(value: float, low: float, high: float, sign: bool = False) -> str:
    """``value [low, high]`` with one number of decimals for all three."""
    places = decimals(value, low, high)
    shown = number(value, places, sign)
    if not (math.isfinite(low) or math.isfinite(high)):
        return f"{shown} [n/a]"
    return f"{shown} [{number(low, places, sign)}, {number(high, places, sign)}]"


def _better(metric: Metric, first: Arm, second: Arm, low: float, high: float) -> str:
    """Which arm the difference (second - first) favours, if its interval excludes 0."""
    if metric.better is None or not (math.isfinite(low) and math.isfinite(high)):
        return ""
    if low <= 0 <= high:
        return "neither (CI spans 0)"
    higher = second if low > 0 else first
    lower = first if higher is second else second
    return (higher if metric.better == "higher" else lower).label


def comparison_frame(
    arms: list[Arm], paired: bool, names: tuple[str, ...] = HEADLINE
) -> pd.DataFrame:
    """One row per metric: its label and unit, every arm's value and 95% interval and,
    with two arms, the difference (second - first), its interval and the better arm."""
    tallies = [arm.tallies() for arm in arms]
    rows = []
    for name in names:
        metric = METRICS[name]
        row: dict[str, Any] = {"metric": name, "label": metric.label, "unit": metric.unit}
        for arm, table in zip(arms, tallies, strict=True):
            value = estimate(metric, table)
            row |= {arm.label: value.value, f"{arm.label}_low": value.low}
            row[f"{arm.label}_high"] = value.high
        if len(arms) == 2:
            gap = difference(metric, tallies[0], tallies[1], paired)
            row |= {"difference": gap.value, "difference_low": gap.low}
            row["difference_high"] = gap.high
            row["better"] = _better(metric, arms[0], arms[1], gap.low, gap.high)
        rows.append(row)
    return pd.DataFrame(rows)


def totals_frame(arms: list[Arm]) -> pd.DataFrame:
    """What the metrics are ratios of, summed over every run of each arm."""
    rows = [
        ("UEs", "ues"),
        ("UEs consumed", "ues_consumed"),
        ("UEs recovered", "ues_recovered"),
        ("error events", "error_events"),
        ("VM interruptions", "vm_interruptions"),
        ("host panics", "host_panics"),
        ("process kills", "process_kills"),
        ("VM-years simulated", "vm_years"),
        ("host-years simulated", "host_years"),
    ]
    table = pd.DataFrame(
        {arm.label: [arm.total(key) for _, key in rows] for arm in arms},
        index=[label for label, _ in rows],
    )
    accelerations = {s.get("acceleration", 1.0) for arm in arms for s in arm.summaries}
    if accelerations != {1.0}:
        table.loc["VM-years, field-equivalent"] = [
            sum(s["vm_years"] * s.get("acceleration", 1.0) for s in arm.summaries) for arm in arms
        ]
    return table


def _column(texts: list[str], heading: str) -> list[str]:
    width = max(len(heading), *(len(t) for t in texts))
    return [heading.rjust(width), *(t.rjust(width) for t in texts)]


def format_comparison(arms: list[Arm], paired: bool = True, more: str = MORE_CLUSTERS) -> str:
    """The text ``rassim run`` (one arm) and ``rassim compare`` (two) print; ``more`` says
    how to get more host-runs."""
    frame = comparison_frame(arms, paired)
    names = [f"{row.label} ({row.unit})" for row in frame.itertuples()]
    columns = [[n.ljust(max(map(len, names))) for n in ["metric, 95% CI", *names]]]
    for arm in arms:
        texts = [
            interval_text(r[arm.label], r[f"{arm.label}_low"], r[f"{arm.label}_high"])
            for _, r in frame.iterrows()
        ]
        columns.append(_column(texts, arm.label))
    if len(arms) == 2:
        texts = [
            interval_text(r["difference"], r["difference_low"], r["difference_high"], sign=True)
            for _, r in frame.iterrows()
        ]
        columns.append(_column(texts, f"{arms[1].label} - {arms[0].label}"))
        columns.append(_column(list(frame["better"]), "better"))
    lines = ["  ".join(cells).rstrip() for cells in zip(*columns, strict=True)]
    totals = totals_frame(arms)
    lines += ["", "totals over all runs"]
    width = max(map(len, totals.index))
    cells = {arm.label: [number(v) for v in totals[arm.label]] for arm in arms}
    heading = [" " * width] + [_column(cells[a.label], a.label)[0] for a in arms]
    lines.append("  ".join(heading))
    for index, label in enumerate(totals.index):
        row = [label.ljust(width)]
        row += [_column(cells[a.label], a.label)[index + 1] for a in arms]
        lines.append("  ".join(row))
    lines += ["", *notes(arms, paired, more), "", "definitions (docs/metrics.md):"]
    lines += [f"  {name}: {METRICS[name].definition}" for name in frame["metric"]]
    return "\n".join(lines)


def notes(arms: list[Arm], paired: bool, more: str = MORE_CLUSTERS) -> list[str]:
    """How to read the intervals: what they pool, and when they rest on little (``more``:
    how to get more host-runs)."""
    clusters = min(len(arm.tallies()) for arm in arms)
    runs = min(len(arm.summaries) for arm in arms)
    out = [
        f"intervals: 95%, pooled over {clusters} host-run(s) per arm ({runs} run(s) x hosts)"
        + ("; differences paired (same seeds in both arms)" if paired and len(arms) == 2 else "")
    ]
    if clusters < FEW_CLUSTERS:
        out.append(
            f"note: fewer than {FEW_CLUSTERS} host-runs: intervals rest on the pooled counts "
            f"(one host-run) or on few clusters (wide); {more}"
        )
    return out
