"""Run directories: what ``rassim run`` writes (``rassim.report.trace`` reads it back).

A run directory holds ``scenario.toml`` (resolved), ``errors.parquet``,
``hops.parquet``, ``ues.parquet``, ``vms.parquet``, ``faults.parquet``, ``summary.json``
and ``meta.json``. It is written into a stage that replaces the directory only when
complete (:func:`rassim.results.outdir.replaced_output`), so a failed or interrupted run
leaves any earlier results at that path intact.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pandas as pd

from rassim.config import dump_scenario
from rassim.results.estimates import aggregate
from rassim.results.outdir import meta_fields
from rassim.results.spreadsheet import csv_beside
from rassim.run import RunResult


def _stack(results: list[RunResult], table: str) -> pd.DataFrame:
    frames = [getattr(r, table).assign(replication=i) for i, r in enumerate(results)]
    frame = pd.concat(frames, ignore_index=True)
    return frame[["replication", *[c for c in frame.columns if c != "replication"]]]


def write_run(
    stage: Path,
    results: list[RunResult],
    seed: int,
    argv: list[str],
    command: str = "run",
    csv: bool = False,
) -> None:
    """Write every table and summary of ``results`` (one scenario, R replications), each
    table also as CSV with ``csv``; ``meta.json`` names ``command``, which owns the
    directory (:mod:`.outdir`)."""
    scenario = results[0].scenario
    (stage / "scenario.toml").write_text(dump_scenario(scenario))
    for table in ("errors", "hops", "ues", "vms", "faults"):
        path = stage / f"{table}.parquet"
        _stack(results, table).to_parquet(path, index=False)
        if csv:
            csv_beside(path)
    summaries = [r.summary for r in results]
    summary = {"replications": summaries, "aggregate": aggregate(summaries)}
    (stage / "summary.json").write_text(json.dumps(_finite(summary), indent=2) + "\n")
    meta = {
        **meta_fields(command, argv),
        "seed": seed,
        "replications": len(results),
        "wall_s": sum(r.wall_s for r in results),
    }
    (stage / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def _finite(value: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
