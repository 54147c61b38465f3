"""Run a sensitivity study through the sweep machinery and write its tables.

Each stage (Morris screening, then Sobol) is a sweep experiment run by
:func:`rassim.sweep.execute.execute`: in parallel or on a Dask cluster, every finished run
stored in ``DIR/.runs`` so that a rerun resumes. The Sobol design depends on the
screening only through its ranking, which the stored runs reproduce, so a rerun rebuilds
the same design and reuses its runs too. The final files are written together, and only
when every run of every stage has a result:

``runs.parquet``
    one tidy row per run: ``run_id``, ``method``, ``sample_id``, ``block``, ``role``,
    ``arm``, ``replication``, ``seed``, a column per parameter (numbers in the scenario's
    units, or the listed values), the arm keys, ``status``, ``error``, ``wall_s``, metrics
``samples.parquet``
    one row per sample: the parameters and, per metric, the mean over replications in
    each arm (``<metric>_a``, ``<metric>_b``) and ``<metric>_diff`` = B - A; without arms,
    ``<metric>``. ``verdict`` marks the independent samples the verdict counts.
``parameters.parquet``, ``indices.parquet``
    the declared distributions; Morris and Sobol indices with intervals and ranks
``verdict.parquet``, ``verdict_map.parquet``
    with arms and directions: B's share of wins, ties and losses per metric, and the same
    in cells of the two most influential parameters
``experiment.toml``, ``base_scenario.toml``, ``meta.json``
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rassim.config import dump_scenario
from rassim.results.metrics import METRICS, tallies_of
from rassim.results.outdir import meta_fields
from rassim.sensitivity.design import (
    OTHERS,
    Design,
    Study,
    experiment,
    morris_design,
    sobol_design,
)
from rassim.sensitivity.indices import RANKED, indices, screen, screening
from rassim.sensitivity.parameters import describe
from rassim.sensitivity.verdict import difference, verdict, verdict_map
from rassim.sweep.execute import Evaluate, SweepOutcome, check_scheduler, execute, simulate_run
from rassim.sweep.experiment import Experiment
from rassim.sweep.store import Record, claim
from rassim.sweep.tables import runs_table, write_final


@dataclass
class Stage:
    """One method's design, its sweep outcome and, once complete, its tables."""

    design: Design
    experiment: Experiment
    outcome: SweepOutcome
    runs: pd.DataFrame | None = None
    samples: pd.DataFrame | None = None
    indices: pd.DataFrame | None = None

    @property
    def complete(self) -> bool:
        return self.outcome.complete(self.experiment)


@dataclass
class StudyOutcome:
    """What :func:`sensitivity` did; ``complete`` once every stage ran to the end."""

    stages: list[Stage] = field(default_factory=list)
    top: list[str] | None = None
    verdict: pd.DataFrame | None = None
    complete: bool = False
    wall_s: float = 0.0

    def total(self, name: str) -> int:
        return sum(getattr(stage.outcome, name) for stage in self.stages)

    @property
    def indices(self) -> pd.DataFrame:
        return pd.concat([s.indices for s in self.stages if s.indices is not None])


def sensitivity(
    study: Study,
    out: Path,
    workers: int = 1,
    scheduler: str | None = None,
    limit: int | None = None,
    progress: bool = True,
    evaluate: Evaluate = simulate_run,
    argv: list[str] | None = None,
) -> StudyOutcome:
    """Run ``study`` into ``out`` (resuming from ``out/.runs``); write the final files
    once every stage is complete. ``limit`` caps the new runs of this call; ``argv`` is
    the command line recorded in meta.json."""
    started = time.perf_counter()
    out = Path(out)
    if scheduler is not None:
        check_scheduler(scheduler)
    result = StudyOutcome()
    settings = study.settings
    with claim(out, study.name, "sensitivity"):
        designs = []
        if settings.morris is not None:
            designs.append(lambda: morris_design(study))
        if settings.sobol is not None:
            designs.append(lambda: sobol_design(study, _top(study, result)))
        for make in designs:
            stage = _run(study, make(), out, workers, scheduler, limit, progress, evaluate)
            result.stages.append(stage)
            if not stage.complete:
                result.wall_s = time.perf_counter() - started
                return result
            if limit is not None:
                limit -= stage.outcome.computed
            _tabulate(study, stage, result.stages[:-1])
        result.complete = True
        files = _final_files(study, result)
        result.wall_s = time.perf_counter() - started
        meta = _meta(study, result, scheduler, argv if argv is not None else sys.argv)
        files["meta.json"] = lambda p: p.write_text(json.dumps(meta, indent=2) + "\n")
        write_final(out, files)
    return result


def _top(study: Study, result: StudyOutcome) -> list[str] | None:
    """The parameters that get their own Sobol indices after a screening (None: all)."""
    sobol = study.settings.sobol
    if sobol is None or sobol.top is None or not result.stages:
        return None
    first = result.stages[0].indices
    result.top = None if first is None else screen(first, _screened(study), sobol.top) or None
    return result.top


def _screened(study: Study) -> list[str]:
    """The metrics a screening ranks by: the verdict's, else every metric."""
    return list(study.better) or list(study.metrics)


def _run(
    study: Study,
    design: Design,
    out: Path,
    workers: int,
    scheduler: str | None,
    limit: int | None,
    progress: bool,
    evaluate: Evaluate,
) -> Stage:
    sweep = experiment(study, design)
    outcome = execute(sweep, out, workers, scheduler, limit, progress, evaluate)
    return Stage(design, sweep, outcome)


def _tabulate(study: Study, stage: Stage, before: list[Stage]) -> None:
    """The stage's runs and samples tables (ids after the earlier stages') and indices."""
    design, sweep = stage.design, stage.experiment
    run_offset = sum(len(s.experiment.runs) for s in before)
    sample_offset = sum(len(s.design) for s in before)
    arms = max(1, len(study.arm_labels))
    values = {p.column: p.values_at(design.unit[:, j]) for j, p in enumerate(study.parameters)}

    runs = runs_table(sweep, stage.outcome.records)
    sample = runs["point_id"].to_numpy() // arms
    front = pd.DataFrame(
        {
            "run_id": runs["run_id"] + run_offset,
            "method": design.method,
            "sample_id": sample + sample_offset,
            "block": design.blocks[sample],
            "role": np.asarray(design.roles)[sample],
            "arm": [study.arm_labels[p % arms] for p in runs["point_id"]] if study.arms else None,
        }
    )
    for column, column_values in values.items():
        runs[column] = [column_values[i] for i in sample]
    rest = runs.drop(columns=["run_id", "point_id"])
    stage.runs = pd.concat([front, rest], axis=1)

    samples = pd.DataFrame(
        {
            "sample_id": np.arange(len(design)) + sample_offset,
            "method": design.method,
            "block": design.blocks,
            "role": design.roles,
            "verdict": design.verdict,
            **values,
        }
    )
    outputs = {}
    estimates = _point_estimates(sweep, stage.outcome.records, study.metrics)
    for metric in study.metrics:
        per_point = estimates[metric]
        if study.arms is None:
            samples[metric] = per_point
            outputs[metric] = per_point
        else:
            a, b = per_point[0::2], per_point[1::2]
            samples[f"{metric}_a"], samples[f"{metric}_b"] = a, b
            samples[difference(metric)] = b - a
            outputs[metric] = b - a
    stage.samples = samples
    settings = study.settings
    stage.indices = indices(
        design,
        outputs,
        settings.resamples,
        settings.confidence,
        study.analysis_seed(f"bootstrap/{design.method}"),
    )


def _point_estimates(
    sweep: Experiment, records: dict[int, Record], metrics: tuple[str, ...]
) -> dict[str, np.ndarray]:
    """Each metric at each point over its replications: a ratio metric pooled over every
    host of the runs (docs/metrics.md), any other the mean per run; NaN where a run failed."""
    by_point: dict[int, list[dict[str, Any]]] = {p.point_id: [] for p in sweep.points}
    failed = set()
    for run in sweep.runs:
        record = records[run.run_id]
        if record["status"] == "ok":
            by_point[run.point.point_id].append(record["summary"])
        else:
            failed.add(run.point.point_id)
    estimates = {m: np.full(len(sweep.points), np.nan) for m in metrics}
    for point, summaries in by_point.items():
        if point in failed:
            continue
        pooled = all("per_host" in s for s in summaries)
        tallies = tallies_of(summaries) if pooled else None
        for metric in metrics:
            if metric in METRICS and tallies is not None:
                estimates[metric][point] = METRICS[metric].value(tallies)
            else:
                values = [s.get(metric) for s in summaries]
                estimates[metric][point] = np.mean(
                    [np.nan if v is None else float(v) for v in values]
                )
    return estimates


def _final_files(study: Study, result: StudyOutcome) -> dict[str, Any]:
    runs = pd.concat([s.runs for s in result.stages], ignore_index=True)
    samples = pd.concat([s.samples for s in result.stages], ignore_index=True)
    table = result.indices.reset_index(drop=True)
    parameters = pd.DataFrame([describe(p) for p in study.parameters])
    first = result.stages[0]
    if first.design.method == "morris" and first.indices is not None:
        ranking = screening(first.indices, _screened(study)).rename(
            columns={"parameter": "key", "influence": "screening_influence"}
        )
        parameters = parameters.merge(ranking, on="key", how="left")
    files: dict[str, Any] = {
        "runs.parquet": lambda p: runs.to_parquet(p, index=False),
        "samples.parquet": lambda p: samples.to_parquet(p, index=False),
        "parameters.parquet": lambda p: parameters.to_parquet(p, index=False),
        "indices.parquet": lambda p: table.to_parquet(p, index=False),
    }
    better = study.better
    if better:
        last = result.stages[-1]
        assert last.samples is not None and last.indices is not None
        result.verdict = verdict(
            last.samples[last.samples["verdict"]], better, study.settings.confidence
        )
        by_key = {p.key: p for p in study.parameters}
        cells = verdict_map(last.samples, by_key, _axes(last.indices), better)
        files["verdict.parquet"] = lambda p: result.verdict.to_parquet(p, index=False)
        files["verdict_map.parquet"] = lambda p: cells.to_parquet(p, index=False)
    files["experiment.toml"] = lambda p: p.write_bytes(study.text)
    files["base_scenario.toml"] = lambda p: p.write_text(dump_scenario(study.base))
    return files


def _axes(table: pd.DataFrame) -> dict[str, list[str]]:
    """Per metric, the single parameters by rank (the ranked index of the stage)."""
    ranked = table[(table["index"] == table["method"].map(RANKED)) & table["rank"].notna()]
    ranked = ranked[ranked["parameter"] != OTHERS].sort_values("rank")
    return {str(m): group["parameter"].tolist() for m, group in ranked.groupby("metric")}


def _meta(
    study: Study, result: StudyOutcome, scheduler: str | None, argv: list[str]
) -> dict[str, Any]:
    stages = {}
    for stage in result.stages:
        outcome = stage.outcome
        stages[stage.design.method] = {
            "samples": len(stage.design),
            "runs": len(stage.experiment.runs),
            "runs_ok": sum(r["status"] == "ok" for r in outcome.records.values()),
            "runs_failed": sum(r["status"] == "failed" for r in outcome.records.values()),
            "runs_reused": outcome.reused,
            "workers": outcome.workers,
            "wall_s": round(outcome.wall_s, 3),
        }
    settings = study.settings
    arms = None
    if study.arms is not None:
        arms = {
            "keys": list(study.arms.names),
            "a": study.arm_labels[0],
            "b": study.arm_labels[1],
            "common_random_numbers": study.arms.common_random_numbers,
        }
    return {
        **meta_fields("sensitivity", argv),
        "experiment": study.name,
        "description": study.header.description,
        "seed": study.seed,
        "replications": study.replications,
        "parameters": [p.key for p in study.parameters],
        "morris": settings.morris.model_dump() if settings.morris else None,
        "sobol": settings.sobol.model_dump() if settings.sobol else None,
        "top": result.top,
        "arms": arms,
        "better": study.better,
        "confidence": settings.confidence,
        "resamples": settings.resamples,
        "stages": stages,
        "scheduler": scheduler,
        "wall_s": round(result.wall_s, 3),
    }
