"""Figures drawn from per-event and per-VM tables: blast radius, handling latency, downtime.

Confidence intervals here are computed over runs (replications), the independent unit:
events and VMs within one run share a host and a history, so they are not independent.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from rassim.report.figures import policies
from rassim.report.results import Results
from rassim.report.series import (
    Unavailable,
    name_points,
    need_table,
    ordered_points,
)
from rassim.report.style import (
    CI_ALPHA,
    LINESTYLES,
    POLICY_COLUMN,
    RADII,
    RADIUS_COLOURS,
    new_figure,
    policy_colour,
    slots,
    style_axes,
    time_axis,
    time_unit,
    titled,
)
from rassim.results.stats import ratio_interval

RADIUS_LABELS = {
    "none": "none (recovered)",
    "process": "processes killed",
    "vm": "VM crashed or restarted",
    "host": "host panicked",
}


def ue_radii(results: Results) -> pd.DataFrame:
    """One row per UE consumed in a run: its point, run and host, and the worst blast
    radius of all its events (0 none .. 3 host), from ``errors.parquet``."""
    errors = need_table(results, "errors")
    needed = {"point_id", "run_id", "ue_id", "host", "kind", "blast_radius"}
    if not needed <= set(errors.columns):
        raise Unavailable(f"errors.parquet lacks {', '.join(sorted(needed - set(errors)))}")
    frame = pd.DataFrame(
        {
            "point_id": errors["point_id"].to_numpy(),
            "run_id": errors["run_id"].to_numpy(),
            "ue_id": errors["ue_id"].to_numpy(),
            "host": errors["host"].to_numpy(),
            "radius": pd.Categorical(errors["blast_radius"], categories=RADII).codes,
            "consumed": (errors["kind"] == "consumption").to_numpy(),
        }
    )
    per_ue = frame.groupby(["point_id", "run_id", "ue_id"], sort=False).agg(
        host=("host", "first"), radius=("radius", "max"), consumed=("consumed", "any")
    )
    return per_ue[per_ue["consumed"]].reset_index()


def radius_shares(results: Results) -> pd.DataFrame:
    """Per point: the share of consumed UEs whose worst blast radius is each radius, and
    the 95% CI of the cumulative share up to and including it (the boundary above that
    segment), pooled over every host of every run (docs/metrics.md)."""
    radii = ue_radii(results)
    rows = []
    for point, mine in radii.groupby("point_id"):
        clusters = mine.groupby(["run_id", "host"])["radius"]
        total = clusters.size().to_numpy()
        for code, radius in enumerate(RADII):
            within = clusters.apply(lambda r, c=code: int((r <= c).sum())).to_numpy()
            below = clusters.apply(lambda r, c=code: int((r < c).sum())).to_numpy()
            cumulative = ratio_interval(within, total, "share")
            rows.append(
                {
                    "point_id": int(point),
                    "radius": radius,
                    "share": (within.sum() - below.sum()) / total.sum(),
                    "cumulative_ci_low": cumulative.low,
                    "cumulative_ci_high": cumulative.high,
                    "ues": int(total.sum()),
                    "runs": mine["run_id"].nunique(),
                }
            )
    if not rows:
        raise Unavailable("no consumed UEs in these runs")
    return pd.DataFrame(rows)


def blast_radius(results: Results) -> Figure:
    """Stacked shares of consumed UEs by their worst blast radius, per point (policy x VMM
    strategy x ...)."""
    shares = radius_shares(results)
    present = set(shares["point_id"])
    points = [p for p in ordered_points(results) if p in present]
    figure = new_figure(width=9.0, height=max(3.4, 0.42 * len(points) + 2.0))
    axes = figure.subplots()
    table = shares.set_index(["point_id", "radius"])
    ys = np.arange(len(points))[::-1]  # the first point on top
    left = np.zeros(len(points))
    for radius in RADII:
        share = np.array([table.loc[(p, radius), "share"] for p in points]) * 100
        axes.barh(
            ys,
            share,
            0.65,
            left=left,
            color=RADIUS_COLOURS[radius],
            edgecolor="white",
            linewidth=0.6,
            label=RADIUS_LABELS[radius],
        )
        left = left + share
        if radius == RADII[-1]:
            break  # the last boundary is 100% in every run
        low = np.array([table.loc[(p, radius), "cumulative_ci_low"] for p in points]) * 100
        high = np.array([table.loc[(p, radius), "cumulative_ci_high"] for p in points]) * 100
        low, high = low.clip(0, 100), high.clip(0, 100)
        xerr = np.nan_to_num(np.vstack([left - low, high - left]).clip(min=0))
        axes.errorbar(
            left,
            ys,
            xerr=xerr,
            fmt="none",
            ecolor="#333",
            capsize=3,
            linewidth=0.9,
            gid=f"ci:blast_radius:{radius}",
        )
    for y, point in zip(ys.tolist(), points, strict=True):
        ues = int(table.loc[(point, RADII[0]), "ues"])
        axes.text(101, y, f"n={ues:,}", ha="left", va="center", fontsize=7, color="#444")
    name_points(axes, results, ys, points)
    axes.set_xlim(0, 110)
    axes.set_xticks(range(0, 101, 20))
    axes.set_ylim(*slots(len(points)))
    axes.set_xlabel("share of consumed UEs, by their worst outcome (%)")
    style_axes(axes)
    handles, names = axes.get_legend_handles_labels()
    figure.legend(
        handles[::-1], names[::-1], title="blast radius", loc="outside right center", frameon=False
    )
    figure.legend(
        handles=[Patch(color=policy_colour(p), label=p) for p in policies(results)],
        title="label colour: KVM policy",
        loc="outside right lower",
        frameon=False,
    )
    note = (
        f"each consumed UE once, at its worst event; {int(shares['runs'].max())} run(s) per "
        "point; bars: 95% CI of the share below each boundary"
    )
    titled(figure, axes, "Blast radius per consumed UE, per policy and strategy", note)
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
    latencies = {
        policy: np.sort(
            consumed.loc[consumed[POLICY_COLUMN].astype(str) == policy, "latency_ns"].to_numpy(
                dtype=float
            )
        )
        for policy in policies(results) or ["?"]
    }
    pooled = np.concatenate(list(latencies.values()))
    unit, size = time_unit(pooled.min(), pooled.max())
    figure = new_figure(width=7.0, height=4.6)
    axes = figure.subplots()
    for index, (policy, values) in enumerate(latencies.items()):
        n = len(values)
        if n == 0:
            continue
        # one step per distinct latency, thinned to MAX_STEPS: the same curve, a small SVG
        distinct, counts = np.unique(values / size, return_counts=True)
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
            xs,
            ys,
            where="post",
            color=colour,
            linestyle=LINESTYLES[index % len(LINESTYLES)],  # where curves coincide, both show
            label=f"{policy} (n={n:,})",
            gid=f"ecdf:{policy}",
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
    scale = time_axis(axes, unit, pooled.min(), pooled.max())
    axes.set_xlabel(f"handling latency, consumption to resolution ({scale})")
    axes.set_ylabel("share of consumed errors\nhandled within that time")
    axes.set_ylim(0, 1.02)
    handles, labels = axes.get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        title="KVM policy",
        loc="outside lower center",
        ncols=min(len(labels), 3),
        frameon=False,
    )
    style_axes(axes)
    note = "consumptions and re-touches, all points pooled; shaded: 95% DKW band"
    titled(figure, axes, "Handling latency CDF per policy", note)
    return figure


DOWNTIME = "downtime_min_per_vm_year"
STATISTICS = ("mean", "ci_low", "ci_high")


def downtime(results: Results) -> Figure:
    """Downtime per VM in minutes per VM-year (field-scaled), per point: the spread over
    VMs (``vms.parquet``), and the pooled estimate with its 95% CI."""
    vms, tallies = results.vms, results.tallies
    needed = {"downtime_s", "point_id", "run_id", "host"}
    if vms is None or not needed <= set(vms.columns) or tallies is None:
        raise Unavailable("needs vms.parquet and tallies.parquet (or a run's summary.json)")
    # a VM's field-equivalent exposure: its host's VM-years x acceleration over its VMs
    hosts = tallies.set_index(["run_id", "host"])["field_vm_years"]
    count = vms.groupby(["run_id", "host"])["downtime_s"].transform("size").to_numpy()
    keys = pd.MultiIndex.from_arrays([vms["run_id"], vms["host"]])
    exposure = hosts.reindex(keys).to_numpy() / count
    frame = vms[["point_id", "run_id"]].assign(
        downtime=vms["downtime_s"].to_numpy() / 60 / exposure
    )
    frame = frame[np.isfinite(frame["downtime"])]
    if frame.empty:
        raise Unavailable("no downtime values")
    present = set(frame["point_id"])
    points = [p for p in ordered_points(results) if p in present]
    table = results.aggregate.set_index("point_id")
    colours = table.get(POLICY_COLUMN)
    figure = new_figure(width=9.0, height=max(3.6, 0.5 * len(points) + 2.2))
    axes = figure.subplots()
    ys = np.arange(len(points))[::-1]  # the first point on top
    means = None
    for y, point in zip(ys, points, strict=True):
        mine = frame[frame["point_id"] == point]
        colour = policy_colour(colours.get(point) if colours is not None else None)
        box = axes.boxplot(
            [mine["downtime"].to_numpy(dtype=float)],
            positions=[y + 0.12],
            widths=0.45,
            orientation="horizontal",
            patch_artist=True,
            showfliers=True,
            flierprops={"marker": ".", "markersize": 3, "markeredgecolor": colour},
            medianprops={"color": "#222"},
        )
        box["boxes"][0].set(facecolor=colour, alpha=0.35, edgecolor=colour)
        if f"{DOWNTIME}_mean" not in table.columns:
            continue
        mean, low, high = (
            table.loc[point, f"{DOWNTIME}_{s}"] for s in ("mean", "ci_low", "ci_high")
        )
        means = axes.errorbar(
            [mean],
            [y - 0.28],
            xerr=np.nan_to_num([[mean - low], [high - mean]]),
            fmt="D",
            color="#222",
            markersize=4,
            capsize=3,
            gid=f"ci:downtime:{point}",
        )
    name_points(axes, results, ys, points)
    axes.set_ylim(*slots(len(points)))
    axes.set_xlabel("VM downtime (minutes per VM-year)")
    style_axes(axes)
    handles: list[Any] = [Patch(color=policy_colour(p), alpha=0.35) for p in policies(results)]
    names = [f"{p}: VMs' quartiles, whiskers 1.5 IQR" for p in policies(results)]
    if means is not None:
        handles.append(means)
        names.append("pooled over all VMs, 95% CI")
    figure.legend(
        handles, names, frameon=False, fontsize=8, loc="outside lower center", ncols=len(names)
    )
    note = (
        f"{len(frame):,} VMs from {frame['run_id'].nunique()} run(s), {len(points)} point(s); "
        "field-scaled (divided by memory.acceleration)"
    )
    titled(figure, axes, "VM downtime per VM-year", note)
    return figure
