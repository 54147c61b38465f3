"""The report of a ``rassim sensitivity`` directory: which assumptions decide the answer,
and how robustly one arm beats the other over them.

Four figures (the screening as a map of parameters by metric, the Sobol indices as bars
with their intervals, the verdict's shares, the regions where it flips) and two tables
(the verdict; the parameters with their ranges, reasons and ranks), from the directory's
tables only.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from rassim.report.html import Section
from rassim.report.results import Study
from rassim.report.series import Unavailable
from rassim.report.style import metric, new_figure, style_axes
from rassim.report.verdict import Verdict
from rassim.results.comparison import interval_text

WIN, TIE, LOSS = "#0072B2", "#BBBBBB", "#D55E00"  # B better (blue), no difference, worse
SCREENED = 25  # parameters the screening map shows at most
HEADLINE = 4  # metrics the report's opening verdict names: the study's first ones


def short(key: str) -> str:
    """A parameter as a reader scans it: ``memory.access.guest_anon.access_rate`` ->
    ``guest_anon reads/h``."""
    parts = key.split(".")
    if key.startswith("memory.access.") and len(parts) == 4:
        return f"{parts[2]} {'reads/h' if parts[3] == 'access_rate' else 'kernel-read share'}"
    if key.startswith("guest.memory_map.") and len(parts) == 3:
        return f"{parts[2]} share of guest RAM"
    if key.startswith("memory.faults.") and len(parts) == 4:
        return f"{parts[2]} fault {parts[3]}"
    return key


def _grid(count: int, columns: int, width: float, height: float) -> tuple[Figure, list]:
    rows = math.ceil(count / columns)
    figure = new_figure(width, height * rows + 0.8)
    axes = figure.subplots(rows, columns, squeeze=False).ravel().tolist()
    for extra in axes[count:]:
        extra.set_visible(False)
    return figure, axes[:count]


def _panel_title(study: Study, name: str) -> str:
    spec = metric(name)
    direction = study.better.get(name)
    return f"{spec.label}" + (f"\n({direction} is better)" if direction else "")


def screening(study: Study) -> Figure:
    """Morris mu* of every metric's difference relative to that metric's largest, for the
    parameters the screening ranked highest; grey where the bootstrap interval reaches
    zero; those the Sobol stage kept are starred."""
    star = study.indices[
        (study.indices["method"] == "morris") & (study.indices["index"] == "mu_star")
    ]
    if star.empty:
        raise Unavailable("no Morris screening in this study")
    metrics = [m for m in study.shown_metrics if m in set(star["metric"])]
    order = study.parameters.sort_values("screening_rank")["key"].tolist()
    shown = order[:SCREENED]
    values = star.pivot_table(index="parameter", columns="metric", values="value", sort=False)
    low = star.pivot_table(index="parameter", columns="metric", values="ci_low", sort=False)
    values, low = values.loc[shown, metrics], low.loc[shown, metrics]
    grid = (values / values.max().where(values.max() > 0)).to_numpy(dtype=float)
    clear = (low > 0).to_numpy()
    kept = set(study.meta.get("top") or [])
    figure = new_figure(4.8 + 0.75 * len(metrics), max(3.2, 1.6 + 0.28 * len(shown)))
    axes = figure.subplots()
    image = axes.imshow(np.nan_to_num(grid), cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for (row, column), value in np.ndenumerate(grid):
        if value >= 0.05:
            sure = bool(clear[row, column])
            dark = value > 0.5
            colour = (
                ("white" if dark else "#222222") if sure else ("#DCE6F2" if dark else "#666666")
            )
            axes.text(
                column,
                row,
                f"{value:.2f}",
                ha="center",
                va="center",
                fontsize=7,
                color=colour,
                style="normal" if sure else "italic",
            )
    names = [metric(m).label for m in metrics]
    axes.set_xticks(range(len(metrics)), names, rotation=35, ha="right", fontsize=8)
    labels = [f"{'* ' if p in kept else ''}{short(p)}" for p in shown]
    axes.set_yticks(range(len(shown)), labels, fontsize=8)
    axes.set_xlabel(f"metric (its difference {study.b} - {study.a})", fontsize=8)
    axes.set_ylabel("assumption (*: given its own Sobol indices)", fontsize=8)
    colorbar = figure.colorbar(image, ax=axes, shrink=0.6, pad=0.02)
    colorbar.set_label("mu*, relative to the metric's largest", fontsize=8)
    note = f"{study.b} - {study.a}; faded italic: the interval reaches zero"
    if len(order) > len(shown):
        note += f"; {len(order) - len(shown)} lower-ranked parameter(s) not shown"
    axes.set_title(note, loc="left", fontsize=8, color="#666666")
    figure.suptitle("Which assumptions move the difference (Morris screening)", fontsize=13)
    return figure


def sobol_bars(study: Study) -> Figure:
    """First-order (S1) and total (ST) Sobol indices of each metric's difference, with
    their bootstrap intervals, most influential first."""
    sobol = study.indices[study.indices["method"] == "sobol"]
    if sobol.empty:
        raise Unavailable("no Sobol indices in this study")
    metrics = [m for m in study.shown_metrics if m in set(sobol["metric"])]
    figure, panels = _grid(len(metrics), 3, 13.5, 2.6)
    for axes, name in zip(panels, metrics, strict=True):
        mine = sobol[sobol["metric"] == name]
        note = mine["note"].dropna()
        style_axes(axes)
        axes.set_title(_panel_title(study, name), fontsize=9)
        if len(note):
            axes.text(
                0.5,
                0.5,
                f"no indices:\n{note.iloc[0]}",
                ha="center",
                va="center",
                transform=axes.transAxes,
                fontsize=8,
                color="#666666",
            )
            axes.set_yticks([])
            continue
        total = mine[mine["index"] == "ST"].sort_values("rank")
        order = total["parameter"].tolist()
        first = mine[mine["index"] == "S1"].set_index("parameter").loc[order]
        total = total.set_index("parameter").loc[order]
        y = np.arange(len(order))
        for offset, rows, colour, label in (
            (-0.18, first, "#9ECAE1", "S1 (alone)"),
            (0.18, total, "#08519C", "ST (with interactions)"),
        ):
            values = rows["value"].to_numpy(dtype=float)
            low = values - rows["ci_low"].to_numpy(dtype=float)
            high = rows["ci_high"].to_numpy(dtype=float) - values
            axes.barh(y + offset, values, height=0.36, color=colour, label=label)
            axes.errorbar(
                values,
                y + offset,
                xerr=[low, high],
                fmt="none",
                ecolor="#333333",
                elinewidth=0.8,
                capsize=2,
            )
        members = dict(zip(mine["parameter"], mine["parameters"], strict=False))
        axes.set_yticks(y, [_group(p, members[p]) for p in order], fontsize=7)
        axes.invert_yaxis()
        axes.axvline(0, color="#888888", linewidth=0.8)
        axes.set_xlim(-0.25, 1.25)
        axes.tick_params(axis="x", labelsize=7)
        axes.set_xlabel("Sobol index (share of variance)", fontsize=7)
    drawn = [a.get_legend_handles_labels() for a in panels]
    handles, labels = next((h for h in drawn if h[0]), ([], []))
    figure.legend(
        handles, labels, fontsize=8, loc="outside lower center", ncols=2, frameon=False
    )  # under the panels: never over a bar
    figure.suptitle(
        f"How much each assumption decides {study.b} - {study.a} (Sobol indices, "
        f"{_level(study)} bootstrap intervals)",
        fontsize=12,
    )
    return figure


def _group(parameter: str, members: str) -> str:
    if parameter == "others":
        return f"the other {len(members.split(', '))} together"
    return short(parameter)


def _level(study: Study) -> str:
    return f"{float(study.meta.get('confidence', 0.95)):.0%}"


def verdict_shares(study: Study) -> Figure:
    """For each metric, the share of independent samples in which B is better, the same
    or worse than A, with exact intervals on the better and worse shares."""
    verdict = study.verdict
    if verdict is None or verdict.empty:
        raise Unavailable("no verdict: the study compares no arms with a direction")
    rows = verdict.set_index("metric").loc[
        [m for m in study.shown_metrics if m in set(verdict["metric"])]
    ]
    figure = new_figure(9.5, 0.8 + 0.42 * len(rows))
    axes = figure.subplots()
    y = np.arange(len(rows))
    wins, ties = (
        rows["share_b_wins"].to_numpy(dtype=float),
        rows["share_ties"].to_numpy(dtype=float),
    )
    losses = rows["share_b_loses"].to_numpy(dtype=float)
    axes.barh(y, wins, color=WIN, label=f"{study.b} better")
    axes.barh(y, ties, left=wins, color=TIE, label="no difference")
    axes.barh(y, losses, left=wins + ties, color=LOSS, label=f"{study.b} worse")
    axes.errorbar(
        wins,
        y,
        xerr=[wins - rows["share_b_wins_low"], rows["share_b_wins_high"] - wins],
        fmt="none",
        ecolor="#222222",
        elinewidth=0.9,
        capsize=3,
    )
    ends = 1 - losses
    axes.errorbar(
        ends,
        y,
        xerr=[rows["share_b_loses_high"] - losses, losses - rows["share_b_loses_low"]],
        fmt="none",
        ecolor="#222222",
        elinewidth=0.9,
        capsize=3,
    )
    for i, share in enumerate(wins):
        axes.text(0.01, i, f"{share:.0%}", va="center", fontsize=8, color="white")
    axes.set_yticks(y, [_panel_title(study, m).replace("\n", " ") for m in rows.index], fontsize=8)
    axes.invert_yaxis()
    axes.set_xlim(0, 1)
    axes.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    axes.set_xlabel(f"share of the {int(rows['samples'].max())} independent samples", fontsize=9)
    axes.legend(fontsize=8, ncols=3, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    figure.suptitle(
        f"The verdict over the sampled assumptions: {study.b} vs {study.a}", fontsize=12
    )
    return figure


def verdict_regions(study: Study) -> Figure:
    """Each sample of the verdict's stage placed by the metric's two most influential
    parameters and coloured by whether B won, tied or lost: where the verdict flips."""
    cells = study.cells
    if cells is None or cells.empty:
        raise Unavailable("no verdict map: the study compares no arms with a direction")
    method = study.verdict_method
    samples = study.samples[study.samples["method"] == method]
    metrics = [m for m in study.shown_metrics if m in set(cells["metric"])]
    figure, panels = _grid(len(metrics), 3, 11.5, 3.0)
    by_key = study.parameters.set_index("key")
    for axes, name in zip(panels, metrics, strict=True):
        mine = cells[cells["metric"] == name]
        keys = [mine["x"].iloc[0]] + (
            [mine["y"].iloc[0]] if "y" in mine and mine["y"].notna().any() else []
        )
        style_axes(axes)
        d = samples[f"{name}_diff"].to_numpy(dtype=float)
        if study.better.get(name) == "lower":
            d = -d
        coords = [_coordinate(by_key.loc[k], samples[by_key.loc[k, "column"]]) for k in keys]
        x = coords[0][0]
        y = coords[1][0] if len(coords) > 1 else np.random.default_rng(0).uniform(-0.3, 0.3, len(d))
        for mask, colour, label in (
            (d > 0, WIN, "better"),
            (d == 0, TIE, "same"),
            (d < 0, LOSS, "worse"),
        ):
            axes.scatter(x[mask], y[mask], s=9, color=colour, alpha=0.8, linewidths=0, label=label)
        _axis(axes.xaxis, axes.set_xscale, coords[0][1], by_key.loc[keys[0]], short(keys[0]))
        if len(coords) > 1:
            _axis(axes.yaxis, axes.set_yscale, coords[1][1], by_key.loc[keys[1]], short(keys[1]))
        share = (d > 0).mean() if len(d) else math.nan
        label = metric(name).label
        axes.set_title(f"{label}\n{study.b} better in {share:.0%} of these", fontsize=9)
    handles, labels = panels[0].get_legend_handles_labels()
    figure.legend(
        handles,
        [f"{study.b} {label} than {study.a}".replace("same than", "same as") for label in labels],
        fontsize=8,
        markerscale=1.5,
        loc="outside lower center",
        ncols=3,
        frameon=False,
    )  # under the panels: never over a sample
    figure.suptitle(
        f"Where the verdict flips: every {method.capitalize()} sample by the two most "
        "influential assumptions",
        fontsize=12,
    )
    return figure


def _coordinate(parameter: pd.Series, values: pd.Series) -> tuple[np.ndarray, list[str] | None]:
    """Sample values on an axis: numbers in a readable unit, or positions of listed values
    (jittered) with their names."""
    if parameter["kind"] == "discrete":
        names = [str(v) for v in json.loads(parameter["values"])]
        codes = np.array([names.index(str(v)) for v in values], dtype=float)
        return codes + np.random.default_rng(1).uniform(-0.25, 0.25, len(codes)), names
    return values.to_numpy(dtype=float) * _scale(parameter)[0], None


def _scale(parameter: pd.Series) -> tuple[float, str]:
    """A factor to a readable unit, and that unit."""
    unit = str(parameter["unit"] or "")
    if unit == "ns":
        high = float(parameter["high"])
        for name, size in (("h", 3.6e12), ("min", 6e10), ("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
            if high >= 10 * size:
                return 1 / size, name
        return 1.0, "ns"
    if unit == "B":
        return 1 / 2**30, "GiB"
    return 1.0, unit


def _axis(axis, set_scale, names: list[str] | None, parameter: pd.Series, label: str) -> None:
    if names is not None:
        axis.set_ticks(range(len(names)), names)
    elif parameter["distribution"] == "loguniform":
        set_scale("log")
        axis.set_major_locator(LogLocator(subs=(1.0, 2.0, 5.0)))
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
        axis.set_minor_formatter(NullFormatter())
    unit = _scale(parameter)[1] if names is None else ""
    axis.set_label_text(f"{label}" + (f" ({unit})" if unit else ""), fontsize=8)
    axis.set_tick_params(labelsize=7)


def verdict_table(study: Study) -> pd.DataFrame:
    """One row per metric: B better, the same, worse (shares with exact intervals), and the
    mean difference with its interval."""
    if study.verdict is None:
        return pd.DataFrame()
    rows = []
    for row in study.verdict.itertuples():
        spec = metric(row.metric)
        rows.append(
            {
                "metric": f"{spec.label} ({row.better} is better)",
                "samples": int(row.samples),
                f"{study.b} better": _share(row, "b_wins"),
                "no difference": _share(row, "ties"),
                f"{study.b} worse": _share(row, "b_loses"),
                f"mean {study.b} - {study.a}": _difference(row, spec),
            }
        )
    return pd.DataFrame(rows)


def _share(row, outcome: str) -> str:
    share = getattr(row, f"share_{outcome}")
    low, high = getattr(row, f"share_{outcome}_low"), getattr(row, f"share_{outcome}_high")
    return f"{share:.0%} [{low:.0%}, {high:.0%}]"


def _difference(row, spec) -> str:
    values = [row.mean_difference, row.mean_difference_low, row.mean_difference_high]
    if any(v != v for v in values):
        return "n/a"
    mean, low, high = (v * spec.scale for v in values)
    unit = f" {spec.unit}" if spec.unit else ""
    return interval_text(mean, low, high, sign=True) + unit


def parameter_table(study: Study) -> pd.DataFrame:
    """Each parameter's distribution and why, and its rank in the screening (over every
    metric) and in the Sobol stage (the best over the metrics), screening order."""
    sobol = study.indices[(study.indices["method"] == "sobol") & (study.indices["index"] == "ST")]
    ranks = {
        "morris": study.parameters.set_index("key").get("screening_rank", pd.Series(dtype=float)),
        "sobol": sobol.groupby("parameter")["rank"].min(),
    }
    rows = []
    parameters = study.parameters
    if "screening_rank" in parameters.columns:
        parameters = parameters.sort_values("screening_rank", kind="stable")
    for p in parameters.itertuples():
        rows.append(
            {
                "parameter": p.key,
                "distribution": p.distribution,
                "range": _range(p),
                "screening rank": _rank(ranks["morris"], p.key),
                "Sobol rank": _rank(ranks["sobol"], p.key),
                "why these bounds": p.reason,
            }
        )
    return pd.DataFrame(rows)


def _range(p) -> str:
    if p.kind == "discrete":
        return ", ".join(str(v) for v in json.loads(p.values))
    scale, unit = _scale(pd.Series(p._asdict()))
    bounds = [p.low, p.mode, p.high] if p.distribution == "triangular" else [p.low, p.high]
    text = " to ".join(f"{b * scale:.3g}" for b in bounds)
    return f"{text} {unit}".strip()


def _rank(ranks: pd.Series, key: str) -> str:
    value = ranks.get(key)
    return "" if value is None or pd.isna(value) else str(int(value))


def section(study: Study, anchor: str) -> Section:
    """The study's section of the report, before its figures are drawn."""
    return Section(
        verdict=study_verdict(study),
        name=study.name,
        anchor=anchor,
        kind=study.kind,
        description=study.description,
        path=str(study.path),
        facts=facts(study),
        accelerations=study.accelerations,
        table=verdict_table(study),
        parameters=study.texts,
        table_title=f"The verdict ({_level(study)} exact intervals of the shares)",
        tables=[("The assumptions", parameter_table(study))],
    )


def study_verdict(study: Study) -> Verdict:
    """What the report says first about a study: on each headline metric, how often B
    beat A over the sampled assumptions, and the one assumption that alone explains a
    clear share of the difference's variance."""
    out = Verdict()
    if study.verdict is None:
        return out
    rows = study.verdict.set_index("metric")
    for name in [m for m in study.shown_metrics if m in rows.index][:HEADLINE]:
        row = rows.loc[name]
        sentence = (
            f"{study.b} beats {study.a} on {metric(name).label} in "
            f"{_share(row, 'b_wins')} of {int(row['samples'])} samples of the assumptions "
            f"and does worse in {_share(row, 'b_loses')}"
        )
        decisive = _decisive(study, name)
        out.findings.append(sentence + (f"; {decisive}" if decisive else "") + ".")
    return out


def _decisive(study: Study, name: str) -> str:
    """The assumption with the largest first-order Sobol index of the difference in
    ``name``, if its interval clears zero ("" otherwise)."""
    indices = study.indices
    first = indices[
        (indices["method"] == "sobol")
        & (indices["metric"] == name)
        & (indices["index"] == "S1")
        & (indices["parameters"].fillna("").str.count(",") == 0)  # one assumption, not a group
    ]
    if first.empty:
        return ""
    top = first.loc[first["value"].idxmax()]
    if not top["ci_low"] > 0:
        return ""
    return (
        f"{top['parameter']} alone explains {top['value']:.2f} "
        f"[{top['ci_low']:.2f}, {top['ci_high']:.2f}] of its variance (first-order Sobol index)"
    )


def facts(study: Study) -> dict[str, str]:
    meta = study.meta
    out = {"kind": "sensitivity study", "parameters": str(len(study.parameters))}
    for method, stage in (meta.get("stages") or {}).items():
        out[f"{method} runs"] = (
            f"{stage.get('runs_ok', 0)} ok, {stage.get('runs_failed', 0)} failed"
        )
    if meta.get("top"):
        out["Sobol on"] = ", ".join(meta["top"]) + " (the others as one group)"
    for key in ("seed", "version", "git_revision", "created_utc"):
        if meta.get(key) is not None:
            value = str(meta[key])
            out[key.replace("_", " ")] = value[:12] if key == "git_revision" else value
    return out
