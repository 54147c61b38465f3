"""The report's first word: which policy or strategy is better and by how much, with
intervals, in plain words; and, where the event-weighted survival ranks two points the
other way round from the per-UE recovery rate, why.

Differences come from the per-host tallies (``tallies.parquet``, or ``per_host`` in a run's
``summary.json``) through :mod:`rassim.results.estimates`: two sweep points ran with their
own seeds, so their difference is unpaired; the two arms of ``rassim compare`` ran with
the same seeds, so theirs is paired.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rassim.report.results import Results
from rassim.report.series import follows, policy_rank
from rassim.report.style import (
    POLICY_COLUMN,
    SHORT_FACTOR_LABELS,
    factor_label,
    numeric,
    show_value,
)
from rassim.results.comparison import decimals, number
from rassim.results.estimates import difference
from rassim.results.metrics import METRICS, Metric
from rassim.results.stats import Interval

# What the verdict states, most telling first.
VERDICT_METRICS = (
    "recovery_rate",
    "vm_interruptions_per_1000_vm_years",
    "downtime_min_per_vm_year",
    "goodput",
)
IN_FLIGHT = "in flight"  # errors.parquet: events ended by another error's outage (detail)
MAX_EXPLAINED = 3  # ranking disagreements explained per experiment


@dataclass
class Verdict:
    """What the report says first about one results directory."""

    title: str = ""  # what was compared, when not one results directory's points
    findings: list[str] = field(default_factory=list)  # plain sentences
    why: list[str] = field(default_factory=list)  # ranking disagreements, explained
    table: pd.DataFrame | None = None  # the differences behind the findings
    notes: list[str] = field(default_factory=list)


def _magnitude(gap: Interval) -> str:
    """``|d| [a, b]`` with the bounds of |d| in increasing order."""
    if gap.value < 0:
        value, low, high = -gap.value, -gap.high, -gap.low
    else:
        value, low, high = gap.value, gap.low, gap.high
    places = decimals(value, low, high)
    return f"{number(value, places)} [{number(low, places)}, {number(high, places)}]"


def predicate(metric: Metric, gap: Interval, before: float, after: float) -> str:
    """What a change from ``before`` to ``after`` (difference ``gap``) does to ``metric``, in
    plain words: ``avoids 31 [28, 35] VM interruptions per 1,000 VM-years (34.6 → 3.3)``."""
    shown = decimals(gap.value, gap.low, gap.high)  # each end at least as fine as the gap
    change = " → ".join(number(v, max(decimals(v), shown)) for v in (before, after))
    change = f"({change})"
    unit = "" if metric.kind in ("share", "fraction") else f" {metric.unit}"
    if not (math.isfinite(gap.low) and math.isfinite(gap.high)):
        return f"changes {metric.label} by {number(gap.value)}{unit}, no interval {change}"
    if gap.low <= 0 <= gap.high:
        places = decimals(gap.value, gap.low, gap.high)
        signed = [number(v, places, True) for v in (gap.value, gap.low, gap.high)]
        return (
            f"makes no clear difference to {metric.label}: {signed[0]} "
            f"[{signed[1]}, {signed[2]}]{unit} {change}"
        )
    up = gap.value > 0
    size = _magnitude(gap)
    if metric.kind == "rate" and metric.field:
        return f"{'adds' if up else 'avoids'} {size} {metric.label}{unit} {change}"
    if metric.kind == "amount":
        return f"{'adds' if up else 'cuts'} {size}{unit} of {metric.label} {change}"
    return f"{'raises' if up else 'lowers'} {metric.label} by {size}{unit} {change}"


def _estimate(results: Results, point: int, name: str) -> tuple[float, float, float]:
    row = results.aggregate.set_index("point_id").loc[point]
    mean, low, high = (
        float(row.get(f"{name}_{s}", math.nan)) for s in ("mean", "ci_low", "ci_high")
    )
    return mean, low, high


def _present(results: Results) -> list[str]:
    return [m for m in VERDICT_METRICS if f"{m}_mean" in results.aggregate.columns]


def _factors(results: Results) -> list[str]:
    """The varying factors, the KVM policy first; a factor set together with another
    (moving in lockstep) is left out."""
    kept: list[str] = []
    for column in results.varying():
        if not follows(results, column, kept):
            kept.append(column)
    return sorted(kept, key=lambda c: c != POLICY_COLUMN)


def _setting(results: Results, column: str, value: object) -> str:
    """A factor's value as the verdict writes it: ``p_record 0.5``, ``unmap``, ``inject``."""
    shown = show_value(column, value)
    if isinstance(value, str | bool | np.bool_) or column == POLICY_COLUMN:
        return shown  # a category ("inject", "4KiB") or a flag ("unmap") reads on its own
    return f"{SHORT_FACTOR_LABELS.get(column, factor_label(column))} {shown}"


def _labels(results: Results) -> dict[int, str]:
    """``point_id`` -> every varying factor's value, the policy first."""
    table = results.aggregate.set_index("point_id")
    columns = _factors(results)
    return {
        int(point): ", ".join(_setting(results, c, table.loc[point, c]) for c in columns)
        or results.name
        for point in table.index
    }


def verdict(results: Results) -> Verdict:
    """Policy differences per setting, the best point, and ranking disagreements."""
    out = Verdict()
    names = _present(results)
    if not names:
        out.notes.append(
            "no per-UE or per-exposure metric in these results (written before they existed?)"
        )
        return out
    labels = _labels(results)
    if results.tallies is None:
        out.notes.append(
            "these results hold no per-host tallies (tallies.parquet): differences between "
            "points cannot be given with intervals"
        )
    else:
        _policies(results, names, labels, out)
    _best(results, names, labels, out)
    _rankings(results, labels, out)
    return out


def _policies(results: Results, names: list[str], labels: dict[int, str], out: Verdict) -> None:
    """exit_to_user - serror_fallback at every setting of the other factors."""
    table = results.aggregate
    if POLICY_COLUMN not in results.varying():
        return
    others = [c for c in _factors(results) if c != POLICY_COLUMN]
    rows, better = [], {name: [0, 0, 0] for name in names}  # better, worse, unclear
    sentences, recovery_gaps = [], []  # a sentence per setting, and its recovery gap
    groups = table.groupby(others, sort=False, dropna=False) if others else [((), table)]
    for key, group in groups:
        if group[POLICY_COLUMN].nunique() != 2 or len(group) != 2:
            continue
        first, second = sorted(group.itertuples(), key=lambda r: policy_rank(r.hypervisor_policy))
        values = key if isinstance(key, tuple) else (key,)
        setting = ", ".join(_setting(results, c, v) for c, v in zip(others, values, strict=True))
        row: dict[str, object] = {"setting": setting or "all"}
        parts = []
        for name in names:
            metric = METRICS[name]
            gap = difference(
                metric,
                results.point_tallies(first.point_id),
                results.point_tallies(second.point_id),
                paired=False,
            )
            before = _estimate(results, first.point_id, name)[0]
            after = _estimate(results, second.point_id, name)[0]
            parts.append(predicate(metric, gap, before, after))
            places = decimals(gap.value, gap.low, gap.high)
            row[f"{metric.label} ({metric.unit})"] = (
                f"{number(gap.value, places, True)} "
                f"[{number(gap.low, places, True)}, {number(gap.high, places, True)}]"
            )
            if name == "recovery_rate":
                recovery_gaps.append(abs(gap.value))
            if math.isfinite(gap.low) and not gap.low <= 0 <= gap.high:
                improves = (gap.value > 0) == (metric.better == "higher")
                better[name][0 if improves else 1] += 1
            else:
                better[name][2] += 1
        rows.append(row)
        body = f"{second.hypervisor_policy} " + "; ".join(parts)
        sentences.append((setting, f"{body}, compared with {first.hypervisor_policy}."))
    if not rows:
        return
    first_policy, second_policy = sorted({str(p) for p in table[POLICY_COLUMN]}, key=policy_rank)[
        :2
    ]
    heading = ", ".join(SHORT_FACTOR_LABELS.get(c, c) for c in others) or "setting"
    out.table = pd.DataFrame(rows).rename(columns={"setting": heading})
    out.table.attrs["caption"] = (
        f"{second_policy} - {first_policy} at each setting, 95% intervals (independent runs)"
    )
    if len(sentences) <= 3:
        out.findings += [f"{where}: {what}" if where else what for where, what in sentences]
        return
    if "recovery_rate" in names:  # where the policies differ most, in plain words
        gaps = [g if math.isfinite(g) else -math.inf for g in recovery_gaps]
        where, what = sentences[max(range(len(gaps)), key=gaps.__getitem__)]
        out.findings.append(f"At {where} (where recovery differs most), {what}")
    counts = []
    for name in names:
        good, bad, unclear = better[name]
        counts.append(
            f"{METRICS[name].label}: better in {good}, worse in {bad}, no clear difference in "
            f"{unclear}"
        )
    out.findings.append(
        f"{second_policy} against {first_policy} over {len(rows)} settings ("
        + "; ".join(counts)
        + "); the Differences table in its section gives every one."
    )


def _best(results: Results, names: list[str], labels: dict[int, str], out: Verdict) -> None:
    """The best point by recovery rate and by VM interruptions, against the runner-up."""
    table = results.aggregate
    if len(table) < 2:
        point = int(table["point_id"].iloc[0])
        parts = []
        for name in names:
            value, low, high = _estimate(results, point, name)
            metric = METRICS[name]
            places = decimals(value, low, high)
            parts.append(
                f"{metric.label} {number(value, places)} [{number(low, places)}, "
                f"{number(high, places)}]"
                + ("" if metric.kind in ("share", "fraction") else f" {metric.unit}")
            )
        policy = table[POLICY_COLUMN].iloc[0] if POLICY_COLUMN in table else None
        subject = f"{results.name} ({policy})" if policy is not None else results.name
        out.findings.append(f"{subject}: " + "; ".join(parts) + ".")
        return
    factors = [c for c in _factors(results) if c != POLICY_COLUMN]
    if any(numeric(c, table[c].tolist()) is not None for c in factors):
        return  # a numeric axis (a rate, a share): the best point would only be one end of it
    for name in names[:2]:
        metric = METRICS[name]
        column = table.set_index("point_id")[f"{name}_mean"].dropna()
        if len(column) < 2:
            continue
        ranked = column.sort_values(ascending=metric.better == "lower")
        best, runner = int(ranked.index[0]), int(ranked.index[1])
        value, low, high = _estimate(results, best, name)
        places = decimals(value, low, high)
        unit = "" if metric.kind in ("share", "fraction") else f" {metric.unit}"
        text = (
            f"Best by {metric.label}: {labels[best]}, {number(value, places)} "
            f"[{number(low, places)}, {number(high, places)}]{unit}"
        )
        if results.tallies is not None:
            gap = difference(
                metric, results.point_tallies(runner), results.point_tallies(best), paired=False
            )
            runner_value = _estimate(results, runner, name)[0]
            text += f"; against the next, {labels[runner]}, it " + predicate(
                metric, gap, runner_value, value
            )
        out.findings.append(text + ".")


def _rankings(results: Results, labels: dict[int, str], out: Verdict) -> None:
    """Pairs of points that event-weighted survival and the recovery rate rank the other
    way round, both beyond their intervals, explained from the data."""
    needed = {"event_survival_rate", "recovery_rate"}
    if not all(f"{m}_mean" in results.aggregate.columns for m in needed):
        return
    if results.tallies is None or len(results.aggregate) < 2:
        return
    points = [int(p) for p in results.aggregate["point_id"]]
    tallies = {p: results.point_tallies(p) for p in points}
    settings = results.aggregate.set_index("point_id")[_factors(results)]
    found = []
    for i in points:
        for j in points:
            if i >= j or (settings.loc[i] != settings.loc[j]).sum() != 1:
                continue  # compare points that differ in one factor only
            events = difference(METRICS["event_survival_rate"], tallies[j], tallies[i], False)
            ues = difference(METRICS["recovery_rate"], tallies[j], tallies[i], False)
            # i - j on both; a disagreement when the two intervals exclude 0 on opposite sides
            if min(events.low, ues.low) > 0 or max(events.high, ues.high) < 0:
                continue
            if (events.low > 0 and ues.high < 0) or (events.high < 0 and ues.low > 0):
                high, low = (i, j) if events.value > 0 else (j, i)
                found.append((abs(events.value) + abs(ues.value), high, low))
    if not found:
        out.why.append(
            "Event-weighted survival and the per-UE recovery rate rank these points the same "
            "way (no two points differing in one factor are ranked the other way round beyond "
            "the intervals)."
        )
        return
    found.sort(reverse=True)
    out.why.append(
        "Event-weighted survival counts every event: a UE consumed again and again, or "
        "re-touched after its page was retired, adds one surviving event each time it only "
        "kills a process or costs nothing, while the recovery rate counts each consumed UE "
        "once, as unrecovered as soon as one of its events takes a VM or the host down. "
        "Points whose UEs have many events rank higher on the first than on the second. "
        "Below, each pair of points that differ in one factor and rank the other way round, "
        "with their events per consumed UE and the leading causes of the lower one's VM "
        "losses."
    )
    for _, high, low in found[:MAX_EXPLAINED]:
        out.why.append(_explain(results, labels, high, low))
    if len(found) > MAX_EXPLAINED:
        out.why.append(
            f"{len(found) - MAX_EXPLAINED} more pair(s) are ranked the other way round for the "
            "same reasons."
        )


def _per_ue(results: Results, point: int) -> tuple[float, float]:
    """Guest-context events and consumptions per consumed UE of one point."""
    tallies = results.point_tallies(point)
    if tallies is None:
        return math.nan, math.nan
    consumed = tallies["ues_consumed"].sum()
    if not consumed:
        return math.nan, math.nan
    events = tallies["guest_events"].sum() / consumed
    return events, 1 + tallies["repeat_consumptions"].sum() / consumed


def _explain(results: Results, labels: dict[int, str], high: int, low: int) -> str:
    """Why ``high`` beats ``low`` on event-weighted survival but loses on recovery."""
    survival = {p: _estimate(results, p, "event_survival_rate")[0] for p in (high, low)}
    recovery = {p: _estimate(results, p, "recovery_rate")[0] for p in (high, low)}
    events = {p: _per_ue(results, p) for p in (high, low)}
    text = (
        f"{labels[high]} ranks above {labels[low]} by event-weighted survival "
        f"({number(survival[high], 2)} vs {number(survival[low], 2)}) but below it by recovery "
        f"rate ({number(recovery[high], 2)} vs {number(recovery[low], 2)}): "
        f"{number(events[high][0], 1)} guest-context events per consumed UE "
        f"({number(events[high][1], 1)} consumptions, the rest re-touches) against "
        f"{number(events[low][0], 1)} ({number(events[low][1], 1)})"
    )
    causes = _causes(results, low)
    if causes:
        text += f"; VM losses under {labels[low]}: {causes}"
    return text + "."


def _causes(results: Results, point: int) -> str:
    """The leading causes of a point's VM losses (errors.parquet), as shares."""
    errors = results.errors
    if errors is None or not {"point_id", "blast_radius", "detail"} <= set(errors.columns):
        return ""
    mine = errors[(errors["point_id"] == point) & (errors["blast_radius"] == "vm")]
    mine = mine[~mine["detail"].str.startswith(IN_FLIGHT)]
    if mine.empty:
        return ""
    shares = mine["detail"].value_counts(normalize=True).head(2)
    return ", ".join(f"{share:.0%} {detail}" for detail, share in shares.items())


def arms_verdict(first: Results, second: Results, paired: bool) -> Verdict:
    """Two run directories compared (``rassim compare --out``): ``second`` - ``first``."""
    out = Verdict(title=f"{second.name} against {first.name}")
    if first.tallies is None or second.tallies is None:
        out.notes.append("the run directories hold no per-host tallies: no differences")
        return out
    if paired and len(first.tallies) != len(second.tallies):
        paired = False
    rows = []
    parts = []
    for name in VERDICT_METRICS:
        metric = METRICS[name]
        gap = difference(metric, first.tallies, second.tallies, paired)
        before, after = (_estimate(r, 0, name)[0] for r in (first, second))
        parts.append(predicate(metric, gap, before, after))
        places = decimals(gap.value, gap.low, gap.high)
        rows.append(
            {
                "metric": f"{metric.label} ({metric.unit})",
                # each arm at least as fine as the gap: 0.99988 and 0.99990, not 1.00, 1.00
                first.name: number(before, max(decimals(before), places)),
                second.name: number(after, max(decimals(after), places)),
                f"{second.name} - {first.name}": (
                    f"{number(gap.value, places, True)} [{number(gap.low, places, True)}, "
                    f"{number(gap.high, places, True)}]"
                ),
            }
        )
    out.findings.append(f"{second.name} " + "; ".join(parts) + f", compared with {first.name}.")
    out.table = pd.DataFrame(rows)
    how = "paired: the same seeds in both arms" if paired else "independent runs"
    out.table.attrs["caption"] = f"{second.name} - {first.name}, 95% intervals ({how})"
    return out
