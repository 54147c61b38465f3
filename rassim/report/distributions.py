"""Figures drawn from per-event and per-VM tables: blast radius, handling latency, downtime.

Confidence intervals here are computed over runs (replications), the independent unit:
events and VMs within one run share a host and a history, so they are not independent.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter

from rassim.report.figures import policies
from rassim.report.results import Results
from rassim.report.series import Unavailable, need_table, ordered_points, point_labels
from rassim.report.style import (
    CI_ALPHA,
    POLICY_COLUMN,
    RADII,
    RADIUS_COLOURS,
    duration_label,
    new_figure,
    policy_colour,
    style_axes,
    titled,
)
from rassim.results.stats import mean_ci

OUTCOME_RADIUS = {
    "recovered": "none",
    "offlined": "none",
    "process_killed": "process",
    "vm_restarted": "vm",
    "vm_crashed": "vm",
    "host_panicked": "host",
}
RADIUS_LABELS = {
    "none": "none (recovered)",
    "process": "process killed",
    "vm": "VM crashed or restarted",
    "host": "host panicked",
}


def radius_counts(results: Results) -> pd.DataFrame:
    """Per run: how many consumed errors ended at each blast radius.

    Events offlined before anyone read them (scrubber, predictive offlining) are left out:
    the figure is about what a *consumed* error cost. Read from ``errors.parquet`` if
    present, else from the ``outcome_*`` metrics of ``runs.parquet``.
    """
    errors = results.errors
    if errors is not None and {"blast_radius", "run_id", "point_id"} <= set(errors.columns):
        consumed = errors[errors["outcome"] != "offlined"] if "outcome" in errors else errors
        counts = consumed.groupby(["point_id", "run_id", "blast_radius"]).size()
        counts = counts.unstack("blast_radius", fill_value=0)
        return counts.reindex(columns=list(RADII), fill_value=0).reset_index()
    columns = [f"outcome_{o}" for o in OUTCOME_RADIUS if o != "offlined"]
    runs = results.runs
    if not set(columns) <= set(runs.columns):
        missing = sorted(set(columns) - set(runs.columns))
        raise Unavailable(
            "needs errors.parquet or the outcome_* metrics (missing " + ", ".join(missing) + ")"
        )
    runs = runs[runs["status"] == "ok"]
    frame = runs[["point_id", "run_id"]].copy()
    for radius in RADII:
        outcomes = [f"outcome_{o}" for o, r in OUTCOME_RADIUS.items() if r == radius]
        frame[radius] = runs[[c for c in outcomes if c in columns]].sum(axis=1)
    return frame


def radius_shares(results: Results) -> pd.DataFrame:
    """Per point: mean share of each blast radius, and the 95% CI of the cumulative share
    up to and including it (where the boundary above that segment lies)."""
    counts = radius_counts(results)
    totals = counts[list(RADII)].sum(axis=1)
    counts = counts[totals > 0]
    shares = counts[list(RADII)].div(totals[totals > 0], axis=0)
    cumulative = shares.cumsum(axis=1)
    rows = []
    for point, index in counts.groupby("point_id").groups.items():
        for radius in RADII:
            mean = float(shares.loc[index, radius].mean())
            _, _, low, high = mean_ci(cumulative.loc[index, radius].tolist())
            rows.append(
                {
                    "point_id": int(point),
                    "radius": radius,
                    "share": mean,
                    "cumulative_ci_low": low,
                    "cumulative_ci_high": high,
                    "events": int(counts.loc[index, list(RADII)].to_numpy().sum()),
                    "runs": len(index),
                }
            )
    if not rows:
        raise Unavailable("no consumed errors in these runs")
    return pd.DataFrame(rows)


def blast_radius(results: Results) -> Figure:
    """Stacked shares of blast radius per point (policy x VMM strategy x ...)."""
    shares = radius_shares(results)
    present = set(shares["point_id"])
    points = [p for p in ordered_points(results) if p in present]
    labels = point_labels(results)
    figure = new_figure(width=max(6.5, 0.85 * len(points) + 3.2), height=4.8)
    axes = figure.subplots()
    table = shares.set_index(["point_id", "radius"])
    xs = np.arange(len(points))
    bottom = np.zeros(len(points))
    for radius in RADII:
        share = np.array([table.loc[(p, radius), "share"] for p in points]) * 100
        axes.bar(
            xs,
            share,
            0.65,
            bottom=bottom,
            color=RADIUS_COLOURS[radius],
            edgecolor="white",
            linewidth=0.6,
            label=RADIUS_LABELS[radius],
        )
        bottom = bottom + share
        if radius == RADII[-1]:
            break  # the last boundary is 100% in every run
        low = np.array([table.loc[(p, radius), "cumulative_ci_low"] for p in points]) * 100
        high = np.array([table.loc[(p, radius), "cumulative_ci_high"] for p in points]) * 100
        low, high = low.clip(0, 100), high.clip(0, 100)
        yerr = np.nan_to_num(np.vstack([bottom - low, high - bottom]).clip(min=0))
        axes.errorbar(
            xs,
            bottom,
            yerr=yerr,
            fmt="none",
            ecolor="#333",
            capsize=3,
            linewidth=0.9,
            gid=f"ci:blast_radius:{radius}",
        )
    for x, point in zip(xs, points, strict=True):
        events = int(table.loc[(point, RADII[0]), "events"])
        axes.text(x, 101, f"n={events:,}", ha="center", va="bottom", fontsize=7, color="#444")
    axes.set_xticks(xs, [labels[p] for p in points], fontsize=8)
    colours = results.aggregate.set_index("point_id").get(POLICY_COLUMN)
    for tick, point in zip(axes.get_xticklabels(), points, strict=True):
        tick.set_color(policy_colour(colours.get(point) if colours is not None else None))
    axes.set_ylim(0, 108)
    axes.set_ylabel("share of consumed-error events (%)")
    style_axes(axes)
    handles, names = axes.get_legend_handles_labels()
    figure.legend(
        handles[::-1], names[::-1], title="blast radius", loc="outside right center", frameon=False
    )
    figure.legend(
        handles=[Patch(color=policy_colour(p), label=p) for p in policies(results)],
        title="x label colour: KVM policy",
        loc="outside right lower",
        frameon=False,
    )
    note = (
        f"mean share over {int(shares['runs'].max())} run(s) per point; "
        "bars: 95% CI of the share below each boundary"
    )
    titled(figure, axes, "Blast radius of consumed errors per policy and strategy", note)
    return figure


MAX_STEPS = 2000  # points per ECDF curve


def latency_cdf(results: Results) -> Figure:
    """Empirical CDF of handling latency (consumption to resolution), per KVM policy."""
    errors = need_table(results, "errors")
    if "latency_ns" not in errors.columns:
        raise Unavailable("errors.parquet has no latency_ns column")
    consumed = errors[errors["kind"] != "scrub"] if "kind" in errors.columns else errors
    consumed = consumed[consumed["latency_ns"].notna() & (consumed["latency_ns"] > 0)]
    if consumed.empty:
        raise Unavailable("no consumed errors with a latency in errors.parquet")
    if POLICY_COLUMN not in consumed.columns:
        consumed = consumed.assign(**{POLICY_COLUMN: "?"})
    figure = new_figure(width=7.0, height=4.4)
    axes = figure.subplots()
    for policy in policies(results) or ["?"]:
        values = (
            np.sort(
                consumed.loc[consumed[POLICY_COLUMN].astype(str) == policy, "latency_ns"].to_numpy(
                    dtype=float
                )
            )
            / 1e3
        )
        n = len(values)
        if n == 0:
            continue
        # one step per distinct latency, thinned to MAX_STEPS: the same curve, a small SVG
        distinct, counts = np.unique(values, return_counts=True)
        ecdf = np.cumsum(counts) / n
        if len(distinct) > MAX_STEPS:
            keep = np.unique(np.linspace(0, len(distinct) - 1, MAX_STEPS).round().astype(int))
            distinct, ecdf = distinct[keep], ecdf[keep]
        # Dvoretzky-Kiefer-Wolfowitz: a 95% band for the whole CDF at once
        epsilon = math.sqrt(math.log(2 / 0.05) / (2 * n))
        xs = np.concatenate([[distinct[0]], distinct])
        ys = np.concatenate([[0.0], ecdf])
        colour = policy_colour(policy)
        axes.step(
            xs, ys, where="post", color=colour, label=f"{policy} (n={n:,})", gid=f"ecdf:{policy}"
        )
        axes.fill_between(
            xs,
            (ys - epsilon).clip(0, 1),
            (ys + epsilon).clip(0, 1),
            step="post",
            color=colour,
            alpha=CI_ALPHA,
            linewidth=0,
            gid=f"ci:latency:{policy}",
        )
    axes.set_xscale("log")
    axes.set_xlabel("handling latency, consumption to resolution (log scale)")
    axes.set_ylabel("share of consumed errors handled within x")
    axes.set_ylim(0, 1.02)
    axes.legend(title="KVM policy", frameon=False, loc="best")
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: duration_label(value * 1e3, "s")))
    style_axes(axes)
    note = "consumptions and re-touches, all points pooled; shaded: 95% DKW band"
    titled(figure, axes, "Handling latency CDF per policy", note)
    return figure


def downtime(results: Results) -> Figure:
    """Downtime distribution per point: per VM (``vms.parquet``) or per run (runs)."""
    if results.vms is not None and {"downtime_s", "point_id", "run_id"} <= set(results.vms):
        frame = results.vms[["point_id", "run_id", "downtime_s"]]
        what = "downtime per VM"
    elif "downtime_s" in results.runs.columns:
        frame = results.runs.loc[results.runs["status"] == "ok", ["point_id", "run_id"]]
        frame = frame.assign(downtime_s=results.runs["downtime_s"])
        what = "downtime per run, all VMs"
    else:
        raise Unavailable("needs vms.parquet or the downtime_s metric")
    frame = frame[frame["downtime_s"].notna()]
    if frame.empty:
        raise Unavailable("no downtime values")
    peak = float(frame["downtime_s"].max())
    unit, scale = ("h", 1 / 3600) if peak > 7200 else ("min", 1 / 60) if peak > 120 else ("s", 1)
    present = set(frame["point_id"])
    points = [p for p in ordered_points(results) if p in present]
    labels = point_labels(results)
    colours = results.aggregate.set_index("point_id").get(POLICY_COLUMN)
    figure = new_figure(width=max(6.5, 0.85 * len(points) + 3.0), height=4.8)
    axes = figure.subplots()
    xs = np.arange(len(points))
    for x, point in zip(xs, points, strict=True):
        mine = frame[frame["point_id"] == point]
        colour = policy_colour(colours.get(point) if colours is not None else None)
        box = axes.boxplot(
            [mine["downtime_s"].to_numpy(dtype=float) * scale],
            positions=[x],
            widths=0.55,
            patch_artist=True,
            showfliers=True,
            flierprops={"marker": ".", "markersize": 3, "markeredgecolor": colour},
            medianprops={"color": "#222"},
        )
        box["boxes"][0].set(facecolor=colour, alpha=0.35, edgecolor=colour)
        per_run = mine.groupby("run_id")["downtime_s"].mean() * scale
        mean, _, low, high = mean_ci(per_run.tolist())
        low = max(low, 0.0)  # downtime is never negative
        yerr = np.nan_to_num([[mean - low], [high - mean]])
        means = axes.errorbar(
            [x + 0.36],
            [mean],
            yerr=yerr,
            fmt="D",
            color="#222",
            markersize=4,
            capsize=3,
            gid=f"ci:downtime:{point}",
        )
    axes.set_xticks(xs, [labels[p] for p in points], fontsize=8)
    for tick, point in zip(axes.get_xticklabels(), points, strict=True):
        tick.set_color(policy_colour(colours.get(point) if colours is not None else None))
    axes.set_ylabel(f"{what} ({unit})")
    style_axes(axes)
    handles = [Patch(color=policy_colour(p), alpha=0.35) for p in policies(results)]
    names = [f"{p}: quartiles, whiskers 1.5 IQR" for p in policies(results)]
    axes.legend(
        [*handles, means],
        [*names, "mean over runs, 95% CI"],
        frameon=False,
        fontsize=8,
        loc="upper left",
    )
    note = f"{len(frame):,} values from {frame['run_id'].nunique()} run(s), {len(points)} point(s)"
    titled(figure, axes, f"Downtime distribution ({what})", note)
    return figure
