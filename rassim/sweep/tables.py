"""The result tables of a sweep: one tidy row per run, one row per point, kept event tables.

``runs.parquet``: ``run_id``, ``point_id``, ``replication``, ``seed``, one snake_case column
per factor key, ``status``, ``error``, ``wall_s``, then one column per metric.
``aggregate.parquet``: ``point_id``, the factor columns, ``runs_ok``, ``runs_failed`` and,
per metric, ``<metric>_mean`` (for ratio metrics the estimate pooled over every host of the
runs that finished), ``_sd`` (over runs), ``_ci_low``, ``_ci_high`` (the 95% interval of
docs/metrics.md, inside the metric's domain). ``tallies.parquet``: one row per host of
every finished run, the counts every ratio metric pools, so that points can be compared
with intervals (the report's verdict). Kept per-event tables (``errors.parquet``, ...)
get ``run_id``, ``point_id``, ``replication`` and the factor columns in front.
"""

from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import pandas as pd

from rassim.config import dump_scenario
from rassim.interrupts import deferred_interrupts
from rassim.results.estimates import aggregate
from rassim.results.outdir import meta_fields
from rassim.results.spreadsheet import csv_beside
from rassim.sweep.experiment import Experiment, Run
from rassim.sweep.experiment_file import TABLES

RUN_COLUMNS = ("run_id", "point_id", "replication", "seed")
STATUS_COLUMNS = ("status", "error", "wall_s")
AGGREGATE_COLUMNS = ("point_id", "runs_ok", "runs_failed")
STATISTICS = ("mean", "sd", "ci_low", "ci_high")


def factor_frame(experiment: Experiment) -> pd.DataFrame:
    """One row per point: ``point_id`` and a column per factor key, typed for Parquet."""
    columns: dict[str, Any] = {"point_id": [p.point_id for p in experiment.points]}
    for key, column in experiment.columns.items():
        values = [dict(point.assignment)[key] for point in experiment.points]
        columns[column] = _column(values)
    return pd.DataFrame(columns)


def _column(values: list[Any]) -> pd.Series:
    """Factor values as one Parquet type: numbers, booleans or text (tables as JSON)."""
    present = [v for v in values if v is not None]
    kinds = {type(v) for v in present}
    if kinds <= {bool}:
        return pd.Series(values, dtype="boolean")
    if kinds <= {int}:
        return pd.Series(values, dtype="Int64")
    if kinds <= {int, float}:
        return pd.Series([float("nan") if v is None else float(v) for v in values])
    if kinds <= {str}:
        return pd.Series(values, dtype="object")
    text = [
        None if v is None else v if isinstance(v, str) else json.dumps(v, sort_keys=True)
        for v in values
    ]
    return pd.Series(text, dtype="object")


def runs_table(experiment: Experiment, records: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per run in ``run_id`` order."""
    rows = []
    for run in experiment.runs:
        record = records[run.run_id]
        summary = record["summary"]
        row: dict[str, Any] = {
            "run_id": run.run_id,
            "point_id": run.point.point_id,
            "replication": run.replication,
            "seed": run.seed,
            "status": record["status"],
            "error": record["error"],
            "wall_s": record["wall_s"],
        }
        for metric in experiment.metrics:
            value = summary.get(metric)
            row[metric] = float("nan") if value is None else value
        rows.append(row)
    frame = pd.DataFrame(rows, columns=[*RUN_COLUMNS, *STATUS_COLUMNS, *experiment.metrics])
    frame["error"] = frame["error"].astype("object")
    factors = factor_frame(experiment)
    frame = frame.merge(factors, on="point_id", how="left", validate="many_to_one")
    order = [*RUN_COLUMNS, *experiment.columns.values(), *STATUS_COLUMNS, *experiment.metrics]
    return frame[order]


def aggregate_table(experiment: Experiment, records: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per point: run counts, and every metric's estimate, sd and 95% interval."""
    rows = []
    for point in experiment.points:
        mine = [records[run.run_id] for run in experiment.runs if run.point is point]
        ok = [record["summary"] for record in mine if record["status"] == "ok"]
        row: dict[str, Any] = {
            "point_id": point.point_id,
            "runs_ok": len(ok),
            "runs_failed": len(mine) - len(ok),
        }
        statistics = aggregate(ok) if ok else {}
        for metric in experiment.metrics:
            for name in STATISTICS:
                row[f"{metric}_{name}"] = statistics.get(metric, {}).get(name, math.nan)
        rows.append(row)
    frame = pd.DataFrame(rows)
    frame = factor_frame(experiment).merge(frame, on="point_id", validate="one_to_one")
    order = ["point_id", *experiment.columns.values(), "runs_ok", "runs_failed"]
    return frame[order + [c for c in frame.columns if c not in order]]


def tallies_table(experiment: Experiment, records: dict[int, dict[str, Any]]) -> pd.DataFrame:
    """One row per host of every finished run: its identity, the factors and its tallies."""
    frames = []
    for run in experiment.runs:
        record = records[run.run_id]
        if record["status"] != "ok" or "per_host" not in record["summary"]:
            continue
        frame = pd.DataFrame(record["summary"]["per_host"])
        frame.insert(0, "host", range(len(frame)))
        frame.insert(0, "replication", run.replication)
        frame.insert(0, "point_id", run.point.point_id)
        frame.insert(0, "run_id", run.run_id)
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=["run_id", "point_id", "replication", "host"])
    frame = pd.concat(frames, ignore_index=True)
    frame = frame.merge(factor_frame(experiment), on="point_id", how="left", validate="many_to_one")
    front = ["run_id", "point_id", "replication", *experiment.columns.values(), "host"]
    return frame[front + [c for c in frame.columns if c not in front]]


def kept_table(
    experiment: Experiment,
    name: str,
    read: Callable[[Run], pd.DataFrame],
    records: dict[int, dict[str, Any]],
) -> pd.DataFrame:
    """A per-event table of every finished run, with the run's identity in front."""
    factors = factor_frame(experiment).set_index("point_id")
    frames = []
    for run in experiment.runs:
        if records[run.run_id]["status"] != "ok":
            continue
        frame = read(run)
        front: dict[str, Any] = {"run_id": run.run_id, "point_id": run.point.point_id}
        front["replication"] = run.replication
        for column in factors.columns:
            front[column] = factors.at[run.point.point_id, column]
        prefix = pd.DataFrame({k: [v] * len(frame) for k, v in front.items()})
        for column in factors.columns:
            prefix[column] = prefix[column].astype(factors[column].dtype)
        frames.append(pd.concat([prefix, frame.reset_index(drop=True)], axis=1))
    nonempty = [f for f in frames if len(f)] or frames[:1]
    if not nonempty:
        return pd.DataFrame(columns=["run_id", "point_id", "replication", *factors.columns])
    return pd.concat(nonempty, ignore_index=True)


def write_final(out: Path, files: dict[str, Callable[[Path], object]]) -> None:
    """Write every final file to a hidden stage in ``out``, then rename them all into place
    (Ctrl-C held meanwhile); kept tables and CSV copies no longer asked for are removed."""
    stage = out / f".final-{os.getpid()}"
    shutil.rmtree(stage, ignore_errors=True)
    stage.mkdir(parents=True)
    try:
        for name, write in files.items():
            write(stage / name)
        with deferred_interrupts():
            for name in files:
                os.replace(stage / name, out / name)
            for table in (*TABLES, *SWEEP_TABLES):
                for name in (f"{table}.parquet", f"{table}.csv"):
                    if name not in files and (out / name).exists():
                        (out / name).unlink()
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _write_kept(
    experiment: Experiment,
    table: str,
    read: Callable[[Run, str], pd.DataFrame],
    records: dict[int, dict[str, Any]],
    path: Path,
) -> None:
    kept_table(experiment, table, lambda run: read(run, table), records).to_parquet(
        path, index=False
    )


SWEEP_TABLES = ("runs", "aggregate", "tallies")


def final_files(
    experiment: Experiment,
    records: dict[int, dict[str, Any]],
    read: Callable[[Run, str], pd.DataFrame],
    meta: dict[str, Any],
    csv: bool = False,
) -> dict[str, Callable[[Path], object]]:
    """Name -> writer of every final file, with a CSV copy of each table if ``csv``;
    ``meta.json`` is renamed into place last."""
    runs = runs_table(experiment, records)
    files: dict[str, Callable[[Path], object]] = {
        "runs.parquet": lambda p: runs.to_parquet(p, index=False),
        "aggregate.parquet": lambda p: aggregate_table(experiment, records).to_parquet(
            p, index=False
        ),
        "tallies.parquet": lambda p: tallies_table(experiment, records).to_parquet(p, index=False),
    }
    for table in experiment.keep:
        files[f"{table}.parquet"] = partial(_write_kept, experiment, table, read, records)
    if csv:  # each from its Parquet file, written just before it in the stage
        for name in [name for name in files if name.endswith(".parquet")]:
            files[name.replace(".parquet", ".csv")] = lambda p: csv_beside(
                p.with_suffix(".parquet"), p
            )
    files["experiment.toml"] = lambda p: p.write_bytes(experiment.text)
    files["base_scenario.toml"] = lambda p: p.write_text(dump_scenario(experiment.base))
    files["meta.json"] = lambda p: p.write_text(json.dumps(meta, indent=2) + "\n")
    return files


def meta(experiment: Experiment, outcome, scheduler: str | None, argv: list[str]) -> dict[str, Any]:
    statuses = [r["status"] for r in outcome.records.values()]
    return {
        **meta_fields("sweep", argv),
        "experiment": experiment.name,
        "description": experiment.header.description,
        "seed": experiment.seed,
        "replications": experiment.replications,
        "points": len(experiment.points),
        "runs": len(experiment.runs),
        "runs_ok": statuses.count("ok"),
        "runs_failed": statuses.count("failed"),
        "runs_reused": outcome.reused,
        "workers": outcome.workers,
        "scheduler": scheduler,
        "wall_s": round(outcome.wall_s, 3),
    }
