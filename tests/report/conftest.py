"""Small, real result directories for the report tests, made once per session.

``make_sweep`` writes the tables ``rassim sweep`` writes (runs, aggregate, kept event
tables, experiment and base scenario, meta) from a few ``rassim.simulate`` calls, so the
report is tested on the real schema without depending on the sweep machinery.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from rassim.config import apply_override, dump_scenario, load_scenario, validate
from rassim.results.estimates import aggregate
from rassim.results.replications import run_replications
from rassim.results.rundir import write_run
from rassim.run import simulate

METRICS = (
    "recovery_rate",
    "vm_interruptions_per_1000_vm_years",
    "first_consumption_survival",
    "downtime_min_per_vm_year",
    "goodput",
    "availability",
    "event_survival_rate",
    "consumptions_per_ue",
    "memory_lost_kib_per_tib_year",
    "vm_crashes",
    "process_kills",
    "error_events",
)
BASE = ("duration=1d", "fleet.vms_per_host=2", "memory.ue_rate=1e-3/GiB/h", "record_hops=false")


def column(key: str) -> str:
    return key.replace(".", "_")


def make_sweep(
    out: Path,
    name: str,
    preset: str,
    factors: list[tuple[str, list[Any]]],
    replications: int = 2,
    overrides: tuple[str, ...] = BASE,
    keep: tuple[str, ...] = ("errors", "vms"),
    metrics: tuple[str, ...] = METRICS,
) -> Path:
    """A sweep directory over the grid of ``factors`` (dotted key, values)."""
    out.mkdir(parents=True)
    base = load_scenario(preset=preset, overrides=list(overrides))
    keys = [key for key, _ in factors]
    runs, kept, summaries, tallies = [], {table: [] for table in keep}, {}, []
    points = list(itertools.product(*(values for _, values in factors)))
    for point_id, values in enumerate(points):
        data = base.model_dump(mode="json")
        for key, value in zip(keys, values, strict=True):
            apply_override(data, f"{key}={json.dumps(value)}")
        scenario = validate(data)
        for replication in range(replications):
            seed = np.random.SeedSequence(7, spawn_key=(point_id, replication))
            result = simulate(scenario, seed=seed)
            front = {"run_id": len(runs), "point_id": point_id, "replication": replication}
            factor_values = {column(k): v for k, v in zip(keys, values, strict=True)}
            runs.append(
                {
                    **front,
                    "seed": f"7:{point_id}:{replication}",
                    **factor_values,
                    "status": "ok",
                    "error": None,
                    "wall_s": result.wall_s,
                    **{m: result.summary[m] for m in metrics},
                }
            )
            summaries.setdefault(point_id, []).append(result.summary)
            host_tallies = pd.DataFrame(result.summary["per_host"])
            host_tallies.insert(0, "host", range(len(host_tallies)))
            tallies.append(host_tallies.assign(**front, **factor_values))
            for table in keep:
                frame = getattr(result, table)
                kept[table].append(
                    frame.assign(**front, **factor_values)[[*front, *factor_values, *frame.columns]]
                )
    runs_frame = pd.DataFrame(runs)
    runs_frame.to_parquet(out / "runs.parquet", index=False)
    factor_columns = [column(k) for k in keys]
    rows = []
    for point_id, group in runs_frame.groupby("point_id"):
        row = {"point_id": point_id, **group.iloc[0][factor_columns].to_dict()}
        row |= {"runs_ok": len(group), "runs_failed": 0}
        statistics = aggregate(summaries[point_id])
        for metric in metrics:
            for statistic, value in statistics[metric].items():
                row[f"{metric}_{statistic}"] = value
        rows.append(row)
    pd.DataFrame(rows).to_parquet(out / "aggregate.parquet", index=False)
    pd.concat(tallies, ignore_index=True).to_parquet(out / "tallies.parquet", index=False)
    for table, frames in kept.items():
        pd.concat(frames, ignore_index=True).to_parquet(out / f"{table}.parquet", index=False)
    experiment = [f'[experiment]\nname = "{name}"\npreset = "{preset}"\n']
    for key, values in factors:
        experiment.append(f"[[factors]]\nkey = {json.dumps(key)}\nvalues = {json.dumps(values)}\n")
    (out / "experiment.toml").write_text("\n".join(experiment))
    (out / "base_scenario.toml").write_text(dump_scenario(base))
    meta = {"experiment": name, "description": f"test sweep {name}", "seed": 7}
    (out / "meta.json").write_text(json.dumps(meta))
    return out


def make_run(out: Path, preset: str = "qemu-ras", overrides: tuple[str, ...] = ()) -> Path:
    """A ``rassim run`` directory (2 replications, hops recorded)."""
    scenario = load_scenario(preset=preset, overrides=[*BASE[:3], *overrides])
    out.mkdir(parents=True)
    write_run(out, run_replications(scenario, 3, 2), 3, ["rassim", "run"])
    return out


@pytest.fixture(scope="session")
def results_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``results/`` with four small canonical-style experiments and one ``rassim run``."""
    root = tmp_path_factory.mktemp("results")
    make_run(root / "trace-qemu-ras")
    policy = ("hypervisor.policy", ["serror_fallback", "exit_to_user"])
    make_sweep(
        root / "policy-comparison",
        "policy-comparison",
        "sea-to-user",
        [policy, ("vmm.sea_exit", ["inject", "unhandled"])],
    )
    make_sweep(
        root / "ue-rate",
        "ue-rate",
        "sea-to-user",
        [policy, ("memory.ue_rate", ["3e-4/GiB/h", "1e-3/GiB/h"])],
    )
    # like the canonical files: no event tables, and only some metrics
    make_sweep(
        root / "kernel-share",
        "kernel-share",
        "sea-to-user",
        [policy, ("guest.memory_map.guest_kernel", [0.05, 0.4])],
        keep=(),
        metrics=("recovery_rate", "vm_interruptions_per_1000_vm_years", "event_survival_rate"),
    )
    make_sweep(
        root / "page-size",
        "page-size",
        "qemu-ras",
        [("guest.backing_page", ["4KiB", "2MiB"]), policy],
        keep=(),
        metrics=("memory_lost_kib_per_tib_year", "goodput"),
    )
    return root


@pytest.fixture(scope="session")
def run_dir(results_tree: Path) -> Path:
    return results_tree / "trace-qemu-ras"


FORBIDDEN = ("simpy", "rassim.model", "rassim.run", "rassim.sim", "rassim.scenario")
FORBIDDEN += ("rassim.config",)


@pytest.fixture(scope="session")
def run_report(run_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The report of a ``rassim run`` directory, built in a fresh interpreter: the page,
    and the simulator modules that interpreter had loaded by the end (should be none)."""
    out = tmp_path_factory.mktemp("run-report") / "report"
    code = f"""
import sys
from rassim.report import build_report
build_report({str(run_dir)!r}, {str(out)!r})
print(",".join(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}))))
"""
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    return out / "report.html", done.stdout.strip()


@pytest.fixture(scope="session")
def tree_report(results_tree: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report of the whole tree (one section per directory), built once."""
    from rassim.report import build_report

    return build_report(results_tree, tmp_path_factory.mktemp("tree-report") / "report")


@pytest.fixture(scope="session")
def accelerated_sweep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A sweep run with memory.acceleration = 10 and no tables a figure needs (fast)."""
    root = tmp_path_factory.mktemp("accelerated")
    return make_sweep(
        root / "accelerated",
        "accelerated",
        "sea-to-user",
        [("hypervisor.policy", ["serror_fallback", "exit_to_user"])],
        replications=1,
        overrides=(*BASE, "memory.acceleration=10"),
        keep=(),
        metrics=("goodput",),
    )
