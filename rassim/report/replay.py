"""The report of a replay directory (``rassim replay --out``): the fleet's log first, with
the verdict about this fleet's errors and a figure of every logged UE with what it cost
under each arm; then one section per arm, in the order compared, each after the first
with its paired difference from the baseline (:func:`rassim.report.verdict.arms_verdict`).

It reads the replay directory's files only (``meta.json``, ``log.parquet``, each arm's
run directory), as the rest of the report does.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from rassim.errors import ConfigError
from rassim.report.distributions import RADIUS_LABELS
from rassim.report.html import Section
from rassim.report.results import Results
from rassim.report.style import RADII, RADIUS_COLOURS, new_figure, style_axes
from rassim.report.verdict import Verdict, arms_verdict
from rassim.results.comparison import count, interval_text
from rassim.results.metrics import METRICS
from rassim.results.outdir import read_meta, written_by

COMMAND = "replay"
NS_PER_D = pd.Timedelta(days=1).value
LOG_TABLE = "log.parquet"  # rassim.replay.counterfactual writes it
COSTS = (
    ("vm_interruptions", "VM interruptions"),
    ("host_panics", "host panics"),
    ("process_kills", "process kills"),
)
MAX_LABELLED_HOSTS = 40


@dataclasses.dataclass(frozen=True)
class Figured:
    """A figure for a section, before it is saved."""

    name: str
    title: str
    caption: str
    figure: Figure


def replay_meta(results_dir: Path) -> dict[str, Any] | None:
    """``meta.json`` of a replay directory, or None for any other directory."""
    meta = read_meta(results_dir)
    return meta if written_by(meta, COMMAND) else None


def arms(meta: dict[str, Any], found: list[Results]) -> list[Results]:
    """The arms' run directories, in the order the replay compared them, each named after
    its values (``exit_to_user, inject_cper``)."""
    where = {results.path.name: results for results in found}
    missing = [arm["directory"] for arm in meta["arms"] if arm["directory"] not in where]
    if missing:
        raise ConfigError(f"replay directory lacks the run directory of arm(s) {missing}")
    return [dataclasses.replace(where[a["directory"]], name=a["label"]) for a in meta["arms"]]


def side_by_side(results_dir: Path, meta: dict[str, Any], arms: list[Results]) -> Results:
    """Every arm as one point of a sweep whose factors are the compared keys, so that the
    figures and tables of any sweep compare them (run ids renumbered across arms)."""
    keys = list(meta["arms"][0]["values"])
    columns = [key.replace(".", "_") for key in keys]
    runs = len(arms[0].runs)

    def stack(table: str) -> pd.DataFrame | None:
        frames = []
        for point, (arm, setting) in enumerate(zip(arms, meta["arms"], strict=True)):
            frame = getattr(arm, table)
            if frame is None:
                return None
            values = {
                column: arm.scenario.get(column, setting["values"][key])
                for column, key in zip(columns, keys, strict=True)
            }
            extra: dict[str, Any] = {"point_id": point, **values}
            if "run_id" in frame.columns:
                extra["run_id"] = frame["run_id"] + point * runs
            frames.append(frame.assign(**extra))
        return pd.concat(frames, ignore_index=True)

    aggregate = stack("aggregate")
    runs_table = stack("runs")
    assert aggregate is not None and runs_table is not None  # every run directory has them
    return Results(
        name="The arms side by side",
        path=results_dir,
        kind="sweep",
        runs=runs_table,
        aggregate=aggregate,
        factors=tuple(columns),
        scenario=arms[0].scenario,
        errors=stack("errors"),
        vms=stack("vms"),
        hops=stack("hops"),
        tallies=stack("tallies"),
        meta=meta,
        description=(
            f"The fleet's {meta['ues_logged']} logged UE(s) under each arm "
            f"({', '.join(keys)}), {meta['replications']} replication(s) each, on the same "
            "seeds; one point per arm."
        ),
        parameters={
            f"{arm.path.name}/scenario.toml": arm.parameters.get("scenario.toml", "")
            for arm in arms
        },
    )


def against_baseline(arms: list[Results]) -> Verdict:
    """Each arm's paired difference from the first, in plain words and in one table."""
    base = arms[0]
    verdict = Verdict(title=f"Each arm against {base.name}, on this fleet's logged errors")
    if len(arms) == 2:
        verdict.title = f"{arms[1].name} against {base.name}, on this fleet's logged errors"
    tables = []
    for arm in arms[1:]:
        pair = arms_verdict(base, arm, paired=True)
        verdict.findings += pair.findings
        verdict.notes += pair.notes
        if pair.table is not None and len(arms) == 2:
            tables.append(pair.table)
        elif pair.table is not None:  # one table for all: the arm in a column of its own
            columns = ["metric", base.name, "arm", "arm - baseline"]
            tables.append(pair.table.set_axis(columns, axis=1).assign(arm=arm.name))
    if tables:
        verdict.table = pd.concat(tables, ignore_index=True)
        verdict.table.attrs["caption"] = (
            f"each arm - {base.name}, 95% intervals (paired: the same seeds in every arm)"
        )
    return verdict


def arm_facts(meta: dict[str, Any], facts: dict[str, str]) -> dict[str, str]:
    """The arms section's facts: what a replay is, not a sweep."""
    facts = {k: v for k, v in facts.items() if k not in ("kind", "points")}
    return {"kind": "replay", "arms": str(len(meta["arms"])), **facts}


def log_section(
    results_dir: Path, meta: dict[str, Any], arms: list[Results]
) -> tuple[Section, list[Figured]]:
    """The fleet's log: what it holds, the verdict about its errors, host by host."""
    log = _log(results_dir)
    labels = [arm["label"] for arm in meta["arms"]]
    uncorrected = log[~log["corrected"]]
    start = datetime.fromisoformat(meta["start_utc"])
    end = log["time_utc"].max()
    files = ", ".join(Path(f).name for f in meta["logs"][:4])
    files += f" and {len(meta['logs']) - 4} more" if len(meta["logs"]) > 4 else ""
    hosts = meta["hosts"]
    logged_hosts = log["host"].nunique()
    ces = int(log.loc[log["corrected"], "count"].sum())
    verdict = Verdict(title=f"What this fleet's {len(uncorrected)} logged UEs cost under each arm")
    verdict.findings.append(
        f"{logged_hosts} of {len(hosts)} host(s) logged {len(uncorrected)} uncorrected and "
        f"{ces} corrected error(s) from {start:%Y-%m-%d} to {end:%Y-%m-%d} ({files}). Each "
        "uncorrected error was replayed as one UE on its host, at its time, in its page, "
        f"{meta['replications']} time(s) under each of {len(labels)} arm(s) on the same seeds."
    )
    verdict.findings.append(_costs(arms, labels, meta["replications"]))
    if len(arms) > 2:
        verdict.findings += _best(arms, labels)
    verdict.notes += [f"Skipped from the log: {line}" for line in meta.get("skipped", [])]
    verdict.notes += [f"Note on the log: {line}" for line in meta.get("notes", [])]
    verdict.notes.append(
        "Intervals count each host-run as independent, as everywhere in rassim; for one fixed "
        "log they are conservative (they include the differences between hosts, not only the "
        "simulation's randomness)."
    )
    span = float((end - log["time_utc"].min()).total_seconds()) / 86400
    section = Section(
        name="The fleet's log",
        anchor="log",
        kind="replay",
        description=(
            f"The rasdaemon databases or CSV logs read (read-only) by rassim replay: {files}. "
            "Simulated host i is the log's i-th host; time 0 is the log's first event."
        ),
        path=str(results_dir),
        facts={
            "hosts": f"{len(hosts)} ({logged_hosts} with errors)",
            "uncorrected": str(len(uncorrected)),
            "corrected": str(ces),
            "with a page type": str(int(uncorrected["page_type"].notna().sum())),
            "placed": ", ".join(
                f"{placement} {count}"
                for placement, count in uncorrected["placement"].value_counts().items()
            ),
            "span": f"{span:.1f} days",
            "simulated": f"{meta['duration_ns'] / NS_PER_D:.1f} days",
            "seed": str(meta.get("seed")),
        },
        accelerations=[1.0],
        table=_by_host(log, hosts),
        parameters={},
        verdict=verdict,
        table_title="The log, host by host",
    )
    figure = Figured(
        "logged_ues",
        "Every logged UE and what it cost",
        "Each uncorrected error of the log at its time (days since the log's first event) on "
        "its host, coloured by the worst its replayed UE cost under each arm in the first "
        "replication (all its events: a kill, a VM crash or restart, a host panic); hollow: "
        "no event at all (a free page rewritten when allocated, a UE still latent at the end, "
        "or one whose page its CEs had offlined first). Grey ticks are the corrected errors.",
        logged_ues(log, hosts, arms, labels),
    )
    return section, [figure]


def _log(results_dir: Path) -> pd.DataFrame:
    path = results_dir / LOG_TABLE
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path}: cannot read: {error}") from None


def _costs(arms: list[Results], labels: list[str], replications: int) -> str:
    """What one replay of the log cost under each arm: mean counts per run, 95% interval."""
    parts = []
    for results, label in zip(arms, labels, strict=True):
        row = results.aggregate.iloc[0]
        counts = [
            f"{interval_text(row[f'{key}_mean'], row[f'{key}_ci_low'], row[f'{key}_ci_high'])} "
            f"{name}"
            for key, name in COSTS
            if f"{key}_mean" in row
        ]
        parts.append(f"{label}: {', '.join(counts)}")
    runs = f"mean of {replications} replications" if replications > 1 else "one replication"
    return f"One replay of the log ({runs}, 95% intervals): " + "; ".join(parts) + "."


def _best(arms: list[Results], labels: list[str]) -> list[str]:
    """The best arm by recovery rate and by VM interruptions."""
    out = []
    for name in ("recovery_rate", "vm_interruptions_per_1000_vm_years"):
        metric = METRICS[name]
        means = [r.aggregate.iloc[0].get(f"{name}_mean", np.nan) for r in arms]
        if all(np.isnan(means)):
            continue
        best = int(np.nanargmax(means) if metric.better == "higher" else np.nanargmin(means))
        row = arms[best].aggregate.iloc[0]
        unit = "" if metric.kind in ("share", "fraction") else f" {metric.unit}"
        shown = interval_text(row[f"{name}_mean"], row[f"{name}_ci_low"], row[f"{name}_ci_high"])
        out.append(f"Best by {metric.label}: {labels[best]}, {shown}{unit}.")
    return out


def _by_host(log: pd.DataFrame, hosts: list[str]) -> pd.DataFrame:
    rows = []
    for index, host in enumerate(hosts):
        mine = log[log["host_index"] == index]
        ues = mine[~mine["corrected"]]
        rows.append(
            {
                "host": host,
                "simulated host": index,
                "UEs": len(ues),
                "CEs": count(mine.loc[mine["corrected"], "count"].sum()),
                "UEs with a page type": int(ues["page_type"].notna().sum()),
                "first error (UTC)": f"{mine['time_utc'].min():%Y-%m-%d %H:%M}"
                if len(mine)
                else "",
                "last error (UTC)": f"{mine['time_utc'].max():%Y-%m-%d %H:%M}" if len(mine) else "",
            }
        )
    return pd.DataFrame(rows)


def _worst(arm: Results) -> pd.DataFrame:
    """The replayed UEs of an arm's first replication, each with the worst blast radius of
    its events (-1: no event)."""
    ues = pd.read_parquet(arm.path / "ues.parquet")
    ues = ues[(ues["replication"] == 0) & ues["source"].str.startswith("log")]
    errors = arm.errors if arm.errors is not None else pd.DataFrame()
    if len(errors):
        errors = errors[errors["replication"] == 0]
        radius = pd.Categorical(errors["blast_radius"], categories=RADII).codes
        worst = pd.Series(radius).groupby(errors["ue_id"].to_numpy()).max()
    else:
        worst = pd.Series(dtype=np.int64)
    return pd.DataFrame(
        {
            "host": ues["host"].to_numpy(),
            "days": ues["created_ns"].to_numpy() / NS_PER_D,
            "radius": worst.reindex(ues["ue_id"].to_numpy(), fill_value=-1).to_numpy(),
        }
    )


def logged_ues(
    log: pd.DataFrame, hosts: list[str], arms: list[Results], labels: list[str]
) -> Figure:
    """One panel per arm: every logged UE at its time on its host, coloured by its worst
    blast radius in the first replication; the corrected errors as grey ticks."""
    rows = len(hosts)
    panel = 0.55 + 0.28 * min(rows, MAX_LABELLED_HOSTS)
    figure = new_figure(width=9.0, height=1.3 + panel * len(arms))
    axes_list = figure.subplots(len(arms), 1, sharex=True, squeeze=False)[:, 0]
    corrected = log[log["corrected"]]
    for axes, arm, label in zip(axes_list, arms, labels, strict=True):
        style_axes(axes)
        axes.scatter(
            corrected["at_ns"] / NS_PER_D,
            corrected["host_index"],
            marker="|",
            s=40,
            color="#B5B5B5",
            linewidths=0.8,
            zorder=1,
        )
        worst = _worst(arm)
        untouched = worst[worst["radius"] < 0]
        axes.scatter(
            untouched["days"],
            untouched["host"],
            s=46,
            facecolors="white",
            edgecolors="#777777",
            linewidths=1.0,
            zorder=2,
        )
        for code, radius in enumerate(RADII):
            mine = worst[worst["radius"] == code]
            axes.scatter(
                mine["days"],
                mine["host"],
                s=46,
                color=RADIUS_COLOURS[radius],
                edgecolors="#333333" if radius == "none" else "white",
                linewidths=0.6,
                zorder=3,
            )
        axes.set_title(label, loc="left", fontsize=9)
        axes.set_ylim(rows - 0.5, -0.5)
        if rows <= MAX_LABELLED_HOSTS:
            axes.set_yticks(range(rows), hosts, fontsize=7)
            axes.set_ylabel("logged host", fontsize=8)
        else:
            axes.set_ylabel("simulated host")
    axes_list[-1].set_xlabel("days since the log's first event")
    handles = [
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            color=RADIUS_COLOURS[r],
            markeredgecolor="#333",
            label=RADIUS_LABELS[r],
        )
        for r in RADII
    ]
    handles.append(
        Line2D(
            [],
            [],
            marker="o",
            linestyle="",
            markerfacecolor="white",
            color="#777",
            label="never touched",
        )
    )
    handles.append(
        Line2D([], [], marker="|", linestyle="", color="#B5B5B5", label="corrected error")
    )
    figure.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8, frameon=False)
    figure.suptitle("Every logged UE and the worst it cost, by arm", fontsize=12)
    return figure
