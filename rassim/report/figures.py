"""Figures of per-point means (``aggregate.parquet``) with their 95% confidence intervals.

Each function takes :class:`~rassim.report.results.Results` and returns a matplotlib
:class:`~matplotlib.figure.Figure`, or raises :class:`~rassim.report.series.Unavailable`
saying which input the directory lacks. Bands and error bars are the ``<metric>_ci_low``
and ``<metric>_ci_high`` columns as written, never recomputed.
"""

from __future__ import annotations

import math

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from rassim.report.results import Results
from rassim.report.series import (
    Unavailable,
    name_points,
    need_factor,
    need_metric,
    ordered_points,
    policy_rank,
    series,
)
from rassim.report.style import (
    CI_ALPHA,
    POLICY_COLUMN,
    factor_label,
    metric,
    new_figure,
    numeric,
    policy_colour,
    show_value,
    size_bytes,
    slots,
    style_axes,
    titled,
)
from rassim.results.metrics import HEADLINE

# What a factor figure shows, most telling first; the first three present are drawn.
KEY_METRICS = HEADLINE
DECADES_FOR_LOG = 1.5  # a rate whose means span more than this many decades: log axis


def _ci_note(results: Results) -> str:
    reps = results.replications
    return f"pooled over the hosts of {reps} run(s) per point; band: 95% CI"


def line_panel(axes, results: Results, x: str, name: str) -> None:
    """Mean of ``name`` against factor ``x``, one line per series, with its CI band."""
    spec = metric(name)
    table = results.aggregate
    categories = list(dict.fromkeys(table[x].tolist()))
    positions = numeric(x, categories)
    if positions is None:
        positions = list(range(len(categories)))
        axes.set_xticks(positions, [show_value(x, c) for c in categories])
    where = dict(zip(map(str, categories), positions, strict=True))
    log = False
    if not spec.full_range and math.isinf(spec.high):
        positive = spec.shown(table[f"{name}_mean"])
        positive = positive[positive > 0]
        log = len(positive) > 0 and np.log10(positive.max() / positive.min()) > DECADES_FOR_LOG
    for line in series(results, table, exclude=(x,)):
        rows = line.rows.assign(_x=[where[str(v)] for v in line.rows[x]]).sort_values("_x")
        xs = rows["_x"].to_numpy(dtype=float)
        mean = spec.shown(rows[f"{name}_mean"])
        low = spec.shown(rows[f"{name}_ci_low"])
        high = spec.shown(rows[f"{name}_ci_high"])
        if log:  # a zero has no place on a log axis: the line skips it
            mean = np.where(mean > 0, mean, np.nan)
        axes.plot(
            xs,
            mean,
            color=line.colour,
            linestyle=line.linestyle,
            marker=line.marker,
            markersize=5,
            label=line.label,
            gid=f"mean:{name}:{line.label}",
        )
        axes.fill_between(
            xs,
            low,
            high,
            color=line.colour,
            alpha=CI_ALPHA,
            linewidth=0,
            gid=f"ci:{name}:{line.label}",
        )
    axes.set_xlabel(factor_label(x))
    axes.set_ylabel(spec.axis)
    if spec.full_range:
        axes.set_ylim(spec.low - 0.03 * spec.high, spec.high * 1.03)
    elif log:
        axes.set_yscale("log")
        axes.set_ylabel(f"{spec.axis}, log scale")
    style_axes(axes)


def _line_figure(results: Results, x: str, names: list[str], title: str) -> Figure:
    figure = new_figure(width=max(6.5, 4.2 * len(names)), height=4.4)
    panels = figure.subplots(1, len(names), squeeze=False)[0]
    for axes, name in zip(panels, names, strict=True):
        line_panel(axes, results, x, name)
        if x == "memory_ue_rate":
            axes.set_xscale("log")
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(
        handles,
        labels,
        loc="outside lower center",
        ncols=min(len(labels), 4),
        frameon=False,
        title=factor_label(POLICY_COLUMN),
    )
    titled(figure, panels[0], title, _ci_note(results))
    return figure


def outcomes_vs_ue_rate(results: Results) -> Figure:
    """Per-UE recovery, VM interruptions per 1,000 VM-years and goodput against the UE
    rate, per KVM policy."""
    need_factor(results, "memory_ue_rate", "memory.ue_rate")
    need_metric(results, "recovery_rate")
    names = _present(results, "recovery_rate", "vm_interruptions_per_1000_vm_years", "goodput")
    return _line_figure(results, "memory_ue_rate", names, "Recovery and interruptions vs UE rate")


def _present(results: Results, *names: str) -> list[str]:
    return [n for n in names if f"{n}_mean" in results.aggregate.columns]


def recovery_vs_kernel_share(results: Results) -> Figure:
    """Per-UE recovery and VM interruptions per 1,000 VM-years against the guest kernel's
    share of guest RAM, per KVM policy."""
    need_factor(results, "guest_memory_map_guest_kernel", "guest.memory_map.guest_kernel")
    need_metric(results, "recovery_rate")
    names = _present(results, "recovery_rate", "vm_interruptions_per_1000_vm_years")
    title = "Recovery vs guest kernel share of guest RAM"
    return _line_figure(results, "guest_memory_map_guest_kernel", names, title)


def metric_vs_factor(results: Results, factor: str) -> Figure:
    """The key metrics against one factor (any experiment), per policy."""
    need_factor(results, factor, factor)
    names = _present(results, *KEY_METRICS)[:3]
    if not names:
        raise Unavailable(f"needs one of the metrics {', '.join(KEY_METRICS)}")
    return _line_figure(results, factor, names, f"Outcomes vs {factor_label(factor)}")


MEMORY = "memory_lost_kib_per_tib_year"


def memory_lost_by_page_size(results: Results) -> Figure:
    """Memory retired per TiB-year (field-scaled), by the guest's backing page size, per
    policy."""
    need_factor(results, "guest_backing_page", "guest.backing_page")
    need_metric(results, MEMORY)
    spec = metric(MEMORY)
    table = results.aggregate
    pages = sorted(table["guest_backing_page"].unique(), key=size_bytes)
    groups = list(series(results, table, exclude=("guest_backing_page",)))
    width = 0.8 / len(groups)
    figure = new_figure(width=7.0, height=4.4)
    axes = figure.subplots()
    floor = np.inf
    for index, group in enumerate(groups):
        rows = group.rows.set_index("guest_backing_page").reindex(pages)
        mean = spec.shown(rows[f"{MEMORY}_mean"])
        low = spec.shown(rows[f"{MEMORY}_ci_low"])
        high = spec.shown(rows[f"{MEMORY}_ci_high"])
        positive = mean[mean > 0]
        floor = min(floor, positive.min() / 10 if len(positive) else np.inf)
        xs = np.arange(len(pages)) - 0.4 + width * (index + 0.5)
        axes.bar(
            xs,
            mean,
            width * 0.9,
            color=group.colour,
            label=group.label,
            hatch=None if group.linestyle == "-" else "//",
            edgecolor="white",
        )
        axes.errorbar(
            xs,
            mean,
            yerr=_yerr(mean, low, high),
            fmt="none",
            ecolor="#222",
            capsize=3,
            linewidth=1,
            label=f"_ci:{MEMORY}:{group.label}",  # "_": not in the legend
        )
    axes.set_yscale("log")
    if np.isfinite(floor):
        axes.set_ylim(bottom=floor)
    axes.set_xticks(range(len(pages)), [str(p) for p in pages])
    axes.set_xlabel(factor_label("guest_backing_page"))
    axes.set_ylabel(f"{spec.axis}, log scale")
    axes.legend(title=factor_label(POLICY_COLUMN), frameon=False)
    style_axes(axes)
    note = f"pooled over {results.replications} run(s) per point; bars: 95% CI"
    titled(figure, axes, "Memory retired by backing page size", note)
    return figure


def _yerr(mean: np.ndarray, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Error bar lengths from CI bounds; an undefined CI (one replication) draws none.

    On a log axis a lower bound at or below zero is drawn down to a tenth of the mean.
    """
    below = np.where(low > 0, mean - low, mean * 0.9)
    above = high - mean
    return np.nan_to_num(np.vstack([below, above]), nan=0.0)


def point_comparison(results: Results) -> Figure:
    """Every point's key metrics side by side with their CIs (for categorical factors)."""
    names = _present(results, *KEY_METRICS)[:3]
    if not names:
        raise Unavailable(f"needs one of the metrics {', '.join(KEY_METRICS)}")
    if len(results.aggregate) < 2:
        raise Unavailable("needs at least two points")
    table = results.aggregate.set_index("point_id")
    points = ordered_points(results)
    height = max(3.5, 0.42 * len(points) + 1.6)
    figure = new_figure(width=max(7.0, 3.4 * len(names) + 1.6), height=height)
    panels = figure.subplots(1, len(names), sharey=True, squeeze=False)[0]
    ys = np.arange(len(points))[::-1]
    for axes, name in zip(panels, names, strict=True):
        spec = metric(name)
        rows = table.loc[points]
        mean = spec.shown(rows[f"{name}_mean"])
        low = spec.shown(rows[f"{name}_ci_low"])
        high = spec.shown(rows[f"{name}_ci_high"])
        colours = [policy_colour(p) for p in rows.get(POLICY_COLUMN, ["?"] * len(rows))]
        for y, m, lo, hi, colour in zip(ys, mean, low, high, colours, strict=True):
            axes.errorbar(
                [m],
                [y],
                xerr=np.nan_to_num([[m - lo], [hi - m]]),
                fmt="o",
                color=colour,
                capsize=3,
                markersize=5,
                gid=f"ci:{name}",
            )
        axes.set_xlabel(spec.axis)
        axes.xaxis.set_major_locator(MaxNLocator(5, steps=[1, 2, 2.5, 5, 10]))
        if spec.full_range:
            axes.set_xlim(spec.low - 0.03 * spec.high, spec.high * 1.03)
        style_axes(axes)
    name_points(panels[0], results, ys, points, fontsize=None)
    panels[0].set_ylim(*slots(len(points)))
    note = f"pooled over the hosts of {results.replications} run(s) per point; bars: 95% CI"
    titled(figure, panels[0], "Outcomes per point (policy, VMM strategy, ...)", note)
    return figure


def policies(results: Results) -> list[str]:
    values = results.aggregate.get(POLICY_COLUMN)
    return sorted({str(v) for v in values} if values is not None else set(), key=policy_rank)


def recovery_vs_event_survival(results: Results) -> Figure:
    """Every point's per-UE recovery rate beside its event-weighted survival, with their
    CIs, ordered by recovery: where the two rank points differently, the lines cross."""
    need_metric(results, "recovery_rate")
    need_metric(results, "event_survival_rate")
    table = results.aggregate.set_index("point_id")
    points = [p for p in table.index if np.isfinite(table.loc[p, "recovery_rate_mean"])]
    if len(points) < 2:
        raise Unavailable("needs at least two points with consumed UEs")
    points.sort(key=lambda p: table.loc[p, "recovery_rate_mean"])
    figure = new_figure(width=8.0, height=max(3.4, 0.4 * len(points) + 1.8))
    axes = figure.subplots()
    ys = np.arange(len(points))
    styles = (("recovery_rate", "o", True), ("event_survival_rate", "D", False))
    for name, marker, filled in styles:
        rows = table.loc[points]
        mean = rows[f"{name}_mean"].to_numpy(float)
        error = np.nan_to_num(
            [mean - rows[f"{name}_ci_low"].to_numpy(float), rows[f"{name}_ci_high"] - mean]
        )
        for y, point in zip(ys, points, strict=True):
            colour = policy_colour(table.loc[point].get(POLICY_COLUMN, "?"))
            axes.errorbar(
                [mean[y]],
                [y],
                xerr=error[:, y : y + 1],
                fmt=marker,
                color=colour,
                markerfacecolor=colour if filled else "white",
                capsize=2.5,
                markersize=6,
                gid=f"ci:{name}:{point}",
            )
    for y, point in zip(ys, points, strict=True):
        row = table.loc[point]
        axes.plot(
            [row["recovery_rate_mean"], row["event_survival_rate_mean"]],
            [y, y],
            color="#BBBBBB",
            linewidth=1,
            zorder=0,
        )
    name_points(axes, results, ys, points)
    axes.set_xlim(-0.02, 1.02)
    axes.set_xlabel("share (recovered UEs; VM-surviving events)")
    handles = [
        Line2D([], [], marker="o", color="#444", linestyle="", label="recovery rate (per UE)"),
        Line2D(
            [],
            [],
            marker="D",
            color="#444",
            markerfacecolor="white",
            linestyle="",
            label="event-weighted VM survival",
        ),
    ]
    axes.set_ylim(*slots(len(points)))
    figure.legend(
        handles=handles, frameon=False, fontsize=8, loc="outside lower center", ncols=2
    )  # under the axes: never over a point
    style_axes(axes)
    note = "points ordered by recovery rate; bars: 95% CI; labels coloured by KVM policy"
    titled(figure, axes, "Per-UE recovery vs event-weighted survival", note)
    return figure
