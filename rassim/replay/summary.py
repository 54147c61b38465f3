"""What ``rassim replay`` prints: the log replayed, the arms, every headline metric of
each with its interval, and each arm's paired difference from the baseline."""

from __future__ import annotations

from rassim.replay.counterfactual import Replayed, comparison_table, difference_column
from rassim.replay.fleet import Fleet
from rassim.results.comparison import format_comparison, interval_text
from rassim.results.metrics import METRICS
from rassim.sim.units import format_duration


def header(fleet: Fleet, seed: int, replications: int, wall: float) -> list[str]:
    log = fleet.log
    ces = sum(e.count for e in log.corrected)
    how = "from the log" if fleet.duration_from_log else "--observed"
    lines = [
        f"replay of {fleet.ues} uncorrected error(s) ({ces} corrected) logged by "
        f"{len(log.hosts)} host(s) in {len(log.files)} file(s), from "
        f"{fleet.start:%Y-%m-%d %H:%M:%S} UTC over {format_duration(fleet.duration_ns, 4)} "
        f"({how}); {len(fleet.hosts)} simulated host(s)",
        f"{replications} replication(s), seed {seed}, {wall:.1f} s wall; each logged UE is "
        "one UE of every run (checked)",
    ]
    lines += [f"skipped: {line}" for line in log.skipped.lines()]
    lines += [f"note: {line}" for line in [*log.notes.lines(), *fleet.notes()]]
    return lines


def format_replay(
    fleet: Fleet, replayed: list[Replayed], seed: int, replications: int, wall: float
) -> str:
    """The header, then :func:`~rassim.results.comparison.format_comparison` of the arms
    and, with more than two, every arm's difference from the first."""
    keys = ", ".join(key for key, _ in replayed[0].setting.values)
    labels = " | ".join(r.setting.label for r in replayed)
    lines = [*header(fleet, seed, replications, wall), "", f"{keys}: {labels}"]
    lines += ["same seeds in every arm (differences are paired)", ""]
    arms = [r.arm for r in replayed]
    lines.append(format_comparison(arms, paired=True, more="add replications (-r N)"))
    if len(arms) > 2:
        lines += ["", *_differences(replayed)]
    return "\n".join(lines)


def _differences(replayed: list[Replayed]) -> list[str]:
    """One block per arm after the first: each metric's difference, interval, better arm."""
    table = comparison_table(replayed)
    base = replayed[0].setting.label
    out = [f"differences from {base} (paired, 95% CI):"]
    width = max(len(f"{METRICS[m].label} ({METRICS[m].unit})") for m in table["metric"])
    for r in replayed[1:]:
        label = r.setting.label
        column = difference_column(label, base)
        better = f"{label} better"
        out.append(f"  {column}")
        for _, row in table.iterrows():
            name = f"{row['label']} ({row['unit']})".ljust(width)
            text = interval_text(
                row[column], row[f"{column}_low"], row[f"{column}_high"], sign=True
            )
            out.append(f"    {name}  {text:>28}  {row[better]}")
    return out
