"""A swimlane timeline of one error crossing memory -> CPU -> EL3 -> KVM -> VMM -> guest,
drawn from ``hops.parquet`` (one row per channel delivery) with the message on each arrow.

Hop durations span nanoseconds (a poisoned read) to tens of microseconds (firmware), so
the hops are spaced evenly and the time axis is labelled with the real elapsed times.
"""

from __future__ import annotations

import pandas as pd
from matplotlib.figure import Figure

from rassim.report.results import Results
from rassim.report.series import Unavailable, need_table
from rassim.report.style import POLICY_COLUMN, duration_label, new_figure, policy_colour, titled

LANES = {
    "memory": "DRAM\n(memory node)",
    "cpu": "CPU",
    "el3": "EL3 firmware",
    "kvm": "KVM +\nhost APEI",
    "vmm": "VMM",
    "guest": "guest kernel",
}


def lane(component: str) -> str:
    """``host0.vm1.vmm`` -> ``vmm``."""
    return str(component).rsplit(".", 1)[-1]


def pick_error(results: Results) -> tuple[int, int]:
    """``(run_id, error_id)`` of a representative error: the one whose path crosses the
    most layers and reaches the guest, preferring an APEI-claimed or exit-to-VMM one."""
    hops = need_table(results, "hops")
    hops = hops[hops["error_id"].notna()]
    if hops.empty:
        raise Unavailable("hops.parquet has no hop that belongs to an error")
    run = _run_column(hops)
    frame = hops.assign(
        _lanes=hops["source"].map(lane) + " " + hops["destination"].map(lane),
        _guest=hops["destination"].map(lane) == "guest",
    )
    score = frame.groupby([run, "error_id"]).agg(
        lanes=("_lanes", lambda s: len(set(" ".join(s).split()))),
        guest=("_guest", "any"),
    )
    score["notable"] = False
    errors = results.errors
    if errors is not None and {"claimed", "exit_to_vmm"} <= set(errors.columns):
        flag = errors["claimed"].astype(bool) | errors["exit_to_vmm"].astype(bool)
        notable = flag.set_axis(pd.MultiIndex.from_frame(errors[[_run_column(errors), "error_id"]]))
        score["notable"] = notable.reindex(score.index, fill_value=False).to_numpy()
    score = score.reset_index().sort_values(
        ["lanes", "guest", "notable", run, "error_id"], ascending=[False, False, False, True, True]
    )
    best = score.iloc[0]
    return int(best[run]), int(best["error_id"])


def _run_column(frame: pd.DataFrame) -> str:
    return "run_id" if "run_id" in frame.columns else "replication"


def timeline(results: Results, run_id: int | None = None, error_id: int | None = None) -> Figure:
    """The hops of one error as arrows between layer lanes (default: :func:`pick_error`)."""
    if run_id is None or error_id is None:
        run_id, error_id = pick_error(results)
    hops = need_table(results, "hops")
    run = _run_column(hops)
    path = hops[(hops[run] == run_id) & (hops["error_id"] == error_id)]
    path = path.sort_values(["sent_ns", "delivered_ns"], kind="stable").reset_index(drop=True)
    if path.empty:
        raise Unavailable(f"no hops for error {error_id} of run {run_id}")
    error = _error_row(results, run, run_id, error_id)
    lanes = list(LANES)
    for name in [*path["source"].map(lane), *path["destination"].map(lane)]:
        if name not in lanes:
            lanes.append(name)
    y = {name: -i for i, name in enumerate(lanes)}
    start = int(path["sent_ns"].iloc[0])
    steps = len(path)
    figure = new_figure(width=max(8.0, 1.55 * steps + 2.8), height=5.2)
    axes = figure.subplots()
    for name in lanes:
        axes.axhline(y[name], color="#E3E3E3", linewidth=6, zorder=0, solid_capstyle="butt")
    policy = None if error is None else error.get(POLICY_COLUMN)
    forward = policy_colour(policy)
    for i, hop in enumerate(path.to_dict("records")):  # path is indexed 0, 1, ...
        source, destination = lane(hop["source"]), lane(hop["destination"])
        up = y[destination] > y[source]
        colour = "#888888" if up else forward
        axes.annotate(
            "",
            xy=(i + 1, y[destination]),
            xytext=(i, y[source]),
            arrowprops={"arrowstyle": "-|>", "color": colour, "linewidth": 1.8,
                        "shrinkA": 4, "shrinkB": 4, "mutation_scale": 14},
        )  # fmt: skip
        axes.plot([i, i + 1], [y[source], y[destination]], "o", color=colour, markersize=4)
        flight = int(hop["delivered_ns"]) - int(hop["sent_ns"])
        axes.text(
            i + 0.5,
            (y[source] + y[destination]) / 2,
            f"{hop['kind']}\n+{duration_label(flight)}",
            ha="center",
            va="center",
            fontsize=8,
            gid=f"hop:{hop['kind']}",
            bbox={"boxstyle": "round,pad=0.25", "facecolor": "white", "edgecolor": colour},
        )
    times = [*path["sent_ns"], path["delivered_ns"].iloc[-1]]
    axes.set_xticks(range(steps + 1), [duration_label(int(t) - start) for t in times], fontsize=8)
    axes.set_xlabel("time since the poisoned read (hops evenly spaced; ticks: real time)")
    axes.set_yticks([y[n] for n in lanes], [LANES.get(n, n) for n in lanes])
    axes.set_xlim(-0.35, steps + 0.35)
    axes.set_ylim(-len(lanes) + 0.4, 0.6)
    for side in ("top", "right", "left"):
        axes.spines[side].set_visible(False)
    axes.tick_params(axis="y", length=0)
    titled(figure, axes, _title(error, run_id, error_id), _outcome(error, policy))
    return figure


def _error_row(results: Results, run: str, run_id: int, error_id: int) -> pd.Series | None:
    errors = results.errors
    if errors is None or run not in errors.columns:
        return None
    match = errors[(errors[run] == run_id) & (errors["error_id"] == error_id)]
    return None if match.empty else match.iloc[0]


def _title(error: pd.Series | None, run_id: int, error_id: int) -> str:
    head = f"One error crossing the layers (error {error_id}, run {run_id})"
    if error is None:
        return head
    vm = "" if pd.isna(error.get("vm")) else f" in VM {int(error['vm'])}"
    return f"{head}:\n{error['context']} read of a poisoned {error['owner']} page{vm}"


def _outcome(error: pd.Series | None, policy: object) -> str:
    if error is None:
        return ""
    parts = [f"policy {policy}"] if policy is not None else []
    parts.append(f"outcome {error['outcome']} (blast radius {error['blast_radius']})")
    if not pd.isna(error.get("latency_ns")):
        parts.append(f"handled in {duration_label(int(error['latency_ns']))}")
    if error.get("detail"):
        parts.append(str(error["detail"]))
    return "; ".join(parts)
