"""The same logged errors under each arm: every arm's replications run with the same
seeds (common random numbers), every logged UE checked to appear once in each run, and
a replay directory written.

A replay directory holds ``meta.json`` (the command, the log, its hosts, the arms),
``log.parquet`` (every logged error replayed or carried: one row each), one run directory
per arm (:mod:`rassim.results.rundir`, named after the arm's values) and
``comparison.csv`` (every metric of every arm, and each arm's difference from the
baseline with its paired interval). ``rassim.report`` reads it back.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rassim.model.ledger import LedgerError
from rassim.model.memory import PAGE
from rassim.replay.arms import Setting
from rassim.replay.fleet import Fleet
from rassim.replay.pagetypes import placement
from rassim.results.comparison import Arm, comparison_frame
from rassim.results.outdir import meta_fields
from rassim.results.replications import run_replications
from rassim.results.rundir import write_run
from rassim.run import RunResult
from rassim.scenario import Scenario

COMMAND = "replay"
LOG_TABLE = "log.parquet"
COMPARISON = "comparison.csv"


@dataclass(frozen=True)
class Replayed:
    """One arm's runs, as their summaries."""

    setting: Setting
    scenario: Scenario
    summaries: list[dict[str, Any]]

    @property
    def arm(self) -> Arm:
        return Arm(self.setting.label, self.summaries)


def arm_scenarios(
    fleet: Fleet, base: Scenario, arms: list[Setting]
) -> list[tuple[Setting, Scenario]]:
    """Each arm's scenario: ``base`` replaying ``fleet``'s log at the arm's values."""
    return [(arm, fleet.scenario(base, arm.overrides)) for arm in arms]


def replay(
    fleet: Fleet,
    scenarios: list[tuple[Setting, Scenario]],
    seed: int,
    replications: int,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
    stage: Path | None = None,
    argv: list[str] | None = None,
    scheduler: str | None = None,
) -> list[Replayed]:
    """Run every arm's replications with the same replication seeds (on ``workers``
    local processes or the Dask cluster at ``scheduler``); check that each logged UE is
    one UE of every run; with ``stage``, write the replay directory."""
    done = 0

    def step(count: int) -> None:
        if progress is not None:
            progress(done + count)

    out = []
    for arm, scenario in scenarios:
        results = run_replications(scenario, seed, replications, step, workers, scheduler)
        for result in results:
            check_accounted(scenario, result)
        done += replications
        if stage is not None:
            directory = stage / arm.directory
            directory.mkdir()
            write_run(directory, results, seed, argv or [], COMMAND)
        out.append(Replayed(arm, scenario, [r.summary for r in results]))
    if stage is not None:
        _write(stage, fleet, out, seed, replications, argv or [])
    return out


def check_accounted(scenario: Scenario, result: RunResult) -> None:
    """Every logged UE is one UE of the run, on its host, at its time, in its page."""
    logged = scenario.memory.replayed
    ues = result.ues[result.ues["source"].str.startswith("log")]
    found = Counter(zip(ues["host"], ues["created_ns"], strict=True))
    if Counter((ue.host, ue.at) for ue in logged) != found:
        raise LedgerError(
            f"{len(logged)} logged UEs but {len(ues)} replayed, or not at their hosts and times"
        )
    pages = Counter(zip(ues["host"], ues["created_ns"], ues["hpa"], strict=True))
    addressed = Counter(
        (ue.host, ue.at, ue.address // PAGE * PAGE) for ue in logged if ue.address is not None
    )
    if addressed - pages:
        raise LedgerError("a logged UE was not replayed in its page")


def comparison_table(replayed: list[Replayed]) -> pd.DataFrame:
    """Every headline metric of every arm with its interval, and each later arm's paired
    difference from the first (``ARM - BASE``, ``_low``, ``_high``, ``ARM better``)."""
    arms = [r.arm for r in replayed]
    table = comparison_frame(arms, paired=True)
    for arm in arms[1:]:
        pair = comparison_frame([arms[0], arm], paired=True)
        name = difference_column(arm.label, arms[0].label)
        table[name] = pair["difference"]
        table[f"{name}_low"] = pair["difference_low"]
        table[f"{name}_high"] = pair["difference_high"]
        table[f"{arm.label} better"] = pair["better"]
    return table


def difference_column(label: str, base: str) -> str:
    return f"{label} - {base}"


def log_table(fleet: Fleet) -> pd.DataFrame:
    """One row per logged error read, corrected or not, with its simulated host and time."""
    index = {name: i for i, name in enumerate(fleet.hosts)}
    errors = fleet.log.errors
    return pd.DataFrame(
        {
            "host": pd.array([e.host for e in errors], dtype="str"),
            "host_index": np.array([index[e.host] for e in errors], dtype=np.int64),
            "time_utc": pd.to_datetime([e.time_ns for e in errors], unit="ns", utc=True),
            "at_ns": np.array([e.time_ns - fleet.start_ns for e in errors], dtype=np.int64),
            "corrected": np.array([e.corrected for e in errors], dtype=bool),
            "count": np.array([e.count for e in errors], dtype=np.int64),
            "address": pd.array([e.address for e in errors], dtype="UInt64"),
            "page_type": pd.array([e.page_type for e in errors], dtype="str"),
            "action_result": pd.array([e.action_result for e in errors], dtype="str"),
            "placement": pd.array(
                [None if e.corrected else placement(e.page_type).value for e in errors],
                dtype="str",
            ),
            "origin": pd.array([e.origin for e in errors], dtype="str"),
        }
    )


def _write(
    stage: Path,
    fleet: Fleet,
    replayed: list[Replayed],
    seed: int,
    replications: int,
    argv: list[str],
) -> None:
    log = fleet.log
    log_table(fleet).to_parquet(stage / LOG_TABLE, index=False)
    comparison_table(replayed).to_csv(stage / COMPARISON, index=False)
    meta = {
        **meta_fields(COMMAND, argv),
        "seed": seed,
        "replications": replications,
        "arms": [
            {
                "label": r.setting.label,
                "directory": r.setting.directory,
                "values": dict(r.setting.values),
            }
            for r in replayed
        ],
        "logs": [str(path) for path in log.files],
        "hosts": list(fleet.hosts),
        "start_utc": fleet.start.isoformat(),
        "duration_ns": fleet.duration_ns,
        "duration_from_log": fleet.duration_from_log,
        "ues_logged": len(log.uncorrected),
        "ces_logged": sum(e.count for e in log.corrected),
        "skipped": log.skipped.lines(),
        "notes": [*log.notes.lines(), *fleet.notes()],
    }
    (stage / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
