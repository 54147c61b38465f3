"""Read result directories into tables: a sweep, a ``rassim run``, a sensitivity study,
or a folder of them.

This module and everything in :mod:`rassim.report` read result files only; they never
import SimPy, the model or :mod:`rassim.run`, so a notebook can plot results without the
simulator.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from rassim.errors import ConfigError

SWEEP_FILES = ("aggregate.parquet", "runs.parquet")
STUDY_FILES = ("indices.parquet", "samples.parquet", "parameters.parquet")
RUN_FILES = ("errors.parquet", "summary.json")
EVENT_TABLES = ("errors", "vms", "hops")
STATISTICS = ("mean", "sd", "ci_low", "ci_high")
# Scenario keys every figure may group by; a sweep that does not vary one still has it
# in its base scenario, and the tables get it as a constant column.
IDENTITY_COLUMNS = (
    "hypervisor_policy",
    "vmm_sea_exit",
    "vmm_unmap",
    "guest_backing_page",
    "memory_ue_rate",
)
# The canonical experiments (experiments/*.toml), in the order a reader wants them.
CANONICAL_ORDER = (
    "policy-comparison",
    "ue-rate",
    "kernel-share",
    "apei-claim",
    "restart-after",
    "page-size",
)


@dataclass(frozen=True)
class Results:
    """The tables of one results directory, read once.

    ``runs`` has one row per run and ``aggregate`` one row per point, as written by
    ``rassim sweep``; a ``rassim run`` directory is read as a sweep of one point whose
    runs are its replications. ``factors`` are the columns the experiment varied.
    """

    name: str
    path: Path
    kind: str  # "sweep" or "run"
    runs: pd.DataFrame
    aggregate: pd.DataFrame
    factors: tuple[str, ...]
    scenario: dict[str, Any]  # the base (sweep) or resolved (run) scenario, flattened
    errors: pd.DataFrame | None = None
    vms: pd.DataFrame | None = None
    hops: pd.DataFrame | None = None
    tallies: pd.DataFrame | None = None  # one row per host of every run (docs/metrics.md)
    meta: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    parameters: dict[str, str] = field(default_factory=dict)  # file name -> its text

    @property
    def metrics(self) -> tuple[str, ...]:
        """Metrics with a mean in the aggregate table."""
        return tuple(c[: -len("_mean")] for c in self.aggregate.columns if c.endswith("_mean"))

    @property
    def replications(self) -> int:
        return int(self.runs.groupby("point_id").size().max()) if len(self.runs) else 0

    @property
    def accelerations(self) -> list[float]:
        """Every ``memory.acceleration`` the runs used (a factor, a metric or the base)."""
        for frame, column in ((self.runs, "memory_acceleration"), (self.runs, "acceleration")):
            if column in frame.columns:
                values = pd.to_numeric(frame[column], errors="coerce").dropna().unique()
                if len(values):
                    return sorted(float(v) for v in values)
        value = self.scenario.get("memory_acceleration", 1.0)
        return [float(value)]

    def varying(self, exclude: tuple[str, ...] = ()) -> list[str]:
        """Factor columns with more than one value, except ``exclude``."""
        return [
            c
            for c in self.factors
            if c not in exclude and c in self.aggregate.columns and self.aggregate[c].nunique() > 1
        ]

    def point_tallies(self, point: int) -> pd.DataFrame | None:
        """The per-host tallies of one point's runs (one row per host of each run)."""
        if self.tallies is None:
            return None
        return self.tallies[self.tallies["point_id"] == point].reset_index(drop=True)


@dataclass(frozen=True)
class Study:
    """The tables of a ``rassim sensitivity`` directory (see
    :mod:`rassim.sensitivity.execute`): indices, samples, parameters and the verdict."""

    name: str
    path: Path
    meta: dict[str, Any]
    indices: pd.DataFrame
    samples: pd.DataFrame
    parameters: pd.DataFrame
    verdict: pd.DataFrame | None
    cells: pd.DataFrame | None
    scenario: dict[str, Any]
    texts: dict[str, str] = field(default_factory=dict)  # file name -> its text
    kind: str = "sensitivity"

    @property
    def description(self) -> str:
        return str(self.meta.get("description") or "a rassim sensitivity study")

    @property
    def accelerations(self) -> list[float]:
        return [float(self.scenario.get("memory_acceleration", 1.0))]

    @property
    def better(self) -> dict[str, str]:
        return dict(self.meta.get("better") or {})

    @property
    def a(self) -> str:
        return str((self.meta.get("arms") or {}).get("a", "A"))

    @property
    def b(self) -> str:
        return str((self.meta.get("arms") or {}).get("b", "B"))

    @property
    def shown_metrics(self) -> list[str]:
        """The verdict's metrics, else every metric with indices, in the study's order."""
        present = list(dict.fromkeys(self.indices["metric"]))
        return [m for m in self.better if m in present] or present

    @property
    def verdict_method(self) -> str:
        """The stage whose samples the verdict counts: the last one."""
        return str(self.samples["method"].iloc[-1])


def discover(path: str | Path, skip: Path | None = None) -> list[Results | Study]:
    """The results under ``path``: itself if it is a sweep or run directory, else each
    such directory directly inside it (``results/<experiment>/``)."""
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such directory")
    if not path.is_dir():
        raise ConfigError(f"{path}: is a file, not a results directory")
    if _kind(path) is not None:
        return [load(path)]
    children = [
        child
        for child in sorted(path.iterdir())
        if child.is_dir()
        and not child.name.startswith(".")
        and (skip is None or child.resolve() != skip.resolve())
        and _kind(child) is not None
    ]
    if not children:
        raise ConfigError(
            f"{path}: not a rassim results directory (no aggregate.parquet, runs.parquet "
            "or errors.parquet + summary.json in it or its subdirectories)"
        )
    rank = {name: i for i, name in enumerate(CANONICAL_ORDER)}
    children.sort(key=lambda c: (rank.get(c.name, len(rank)), c.name))
    return [load(child) for child in children]


def _kind(path: Path) -> str | None:
    if all((path / name).is_file() for name in STUDY_FILES):
        return "sensitivity"
    if any((path / name).is_file() for name in SWEEP_FILES):
        return "sweep"
    if all((path / name).is_file() for name in RUN_FILES):
        return "run"
    return None


def load(path: str | Path) -> Results | Study:
    """Read one sweep directory (``rassim sweep``), run directory (``rassim run``) or
    sensitivity study (``rassim sensitivity``)."""
    path = Path(path)
    kind = _kind(path)
    if kind == "sensitivity":
        return _load_study(path)
    if kind == "sweep":
        return _load_sweep(path)
    if kind == "run":
        return _load_run(path)
    raise ConfigError(
        f"{path}: not a rassim results directory (no aggregate.parquet, runs.parquet "
        "or errors.parquet + summary.json)"
    )


def _load_sweep(path: Path) -> Results:
    meta = _json(path / "meta.json")
    runs = _table(path, "runs")
    aggregate = _table(path, "aggregate")
    if runs is None and aggregate is None:
        raise ConfigError(f"{path}: not a rassim results directory (no runs.parquet)")
    if aggregate is None:
        raise ConfigError(f"{path}: runs.parquet without aggregate.parquet (an unfinished sweep?)")
    if runs is None:
        runs = pd.DataFrame(columns=["run_id", "point_id", "replication", "status"])
    factors = _factor_columns(aggregate)
    scenario = _flat_toml(path / "base_scenario.toml")
    parameters = {
        name: (path / name).read_text(errors="replace")
        for name in ("experiment.toml", "base_scenario.toml")
        if (path / name).is_file()
    }
    tables = {name: _table(path, name) for name in EVENT_TABLES}
    constants = {c: scenario[c] for c in IDENTITY_COLUMNS if c in scenario and c not in factors}
    tallies = _table(path, "tallies")
    return Results(
        name=str(meta.get("experiment") or path.name),
        path=path,
        kind="sweep",
        runs=_with(runs, constants),
        aggregate=_with(aggregate, constants),
        factors=factors,
        scenario=scenario,
        errors=_with(tables["errors"], constants),
        vms=_with(tables["vms"], constants),
        hops=tables["hops"],
        tallies=tallies if tallies is not None and len(tallies) else None,
        meta=meta,
        description=str(meta.get("description") or ""),
        parameters=parameters,
    )


def _load_run(path: Path) -> Results:
    summary = _json(path / "summary.json")
    if "replications" not in summary:
        raise ConfigError(f"{path}/summary.json: not a rassim run summary (no replications)")
    meta = _json(path / "meta.json")
    scenario = _flat_toml(path / "scenario.toml")
    constants = {c: scenario[c] for c in IDENTITY_COLUMNS if c in scenario}
    runs = pd.DataFrame(
        [
            {"run_id": i, "point_id": 0, "replication": i, "status": "ok", **_numbers(s)}
            for i, s in enumerate(summary["replications"])
        ]
    )
    row: dict[str, Any] = {"point_id": 0, "runs_ok": len(runs), "runs_failed": 0}
    for name, stats in summary.get("aggregate", {}).items():
        for statistic in STATISTICS:
            value = stats.get(statistic)
            row[f"{name}_{statistic}"] = math.nan if value is None else float(value)
    tables = {}
    for name in EVENT_TABLES:
        table = _table(path, name)
        if table is not None and "replication" in table.columns:
            table = table.assign(run_id=table["replication"], point_id=0)
        tables[name] = _with(table, constants)
    parameters = (
        {"scenario.toml": (path / "scenario.toml").read_text(errors="replace")}
        if (path / "scenario.toml").is_file()
        else {}
    )
    policy = constants.get("hypervisor_policy", "")
    hosts = [
        pd.DataFrame(s["per_host"]).assign(run_id=i, point_id=0, replication=i)
        for i, s in enumerate(summary["replications"])
        if isinstance(s.get("per_host"), dict)
    ]
    tallies = None
    if hosts and len(hosts) == len(summary["replications"]):
        tallies = pd.concat(hosts, keys=range(len(hosts)), names=["run", "host"])
        tallies = tallies.reset_index(level="host").reset_index(drop=True)
    return Results(
        name=path.name,
        path=path,
        kind="run",
        runs=_with(runs, constants),
        aggregate=_with(pd.DataFrame([row]), constants),
        factors=(),
        scenario=scenario,
        errors=tables["errors"],
        vms=tables["vms"],
        hops=tables["hops"],
        tallies=_with(tallies, constants),
        meta=meta,
        description=f"a single rassim run: {len(runs)} replication(s), policy {policy}",
        parameters=parameters,
    )


def _load_study(path: Path) -> Study:
    meta = _json(path / "meta.json")
    tables = {}
    for name in ("indices", "samples", "parameters"):
        table = _table(path, name)
        if table is None:
            raise ConfigError(f"{path}: no {name}.parquet (an unfinished sensitivity study?)")
        tables[name] = table
    return Study(
        name=str(meta.get("experiment") or path.name),
        path=path,
        meta=meta,
        indices=tables["indices"],
        samples=tables["samples"],
        parameters=tables["parameters"],
        verdict=_table(path, "verdict"),
        cells=_table(path, "verdict_map"),
        scenario=_flat_toml(path / "base_scenario.toml"),
        texts={
            name: (path / name).read_text(errors="replace")
            for name in ("experiment.toml", "base_scenario.toml")
            if (path / name).is_file()
        },
    )


def _factor_columns(aggregate: pd.DataFrame) -> tuple[str, ...]:
    """The columns between ``point_id`` and ``runs_ok``, as ``rassim sweep`` writes them."""
    skip = {"point_id", "runs_ok", "runs_failed"}
    return tuple(
        c
        for c in aggregate.columns
        if c not in skip and not any(c.endswith(f"_{s}") for s in STATISTICS)
    )


def _with(frame: pd.DataFrame | None, constants: dict[str, Any]) -> pd.DataFrame | None:
    """``frame`` with a constant column for each identity key it lacks."""
    if frame is None:
        return None
    missing = {k: v for k, v in constants.items() if k not in frame.columns}
    return frame.assign(**missing) if missing else frame


def _numbers(summary: dict[str, Any]) -> dict[str, float]:
    return {
        k: (math.nan if v is None else float(v))
        for k, v in summary.items()
        if v is None or (isinstance(v, int | float) and not isinstance(v, bool))
    }


def _table(path: Path, name: str) -> pd.DataFrame | None:
    file = path / f"{name}.parquet"
    if not file.is_file():
        return None
    try:
        return pd.read_parquet(file)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise ConfigError(f"{file}: cannot read: {error}") from None


def _json(file: Path) -> dict[str, Any]:
    if not file.is_file():
        return {}
    try:
        data = json.loads(file.read_text())
    except (OSError, ValueError) as error:
        raise ConfigError(f"{file}: cannot read: {error}") from None
    return data if isinstance(data, dict) else {}


def _flat_toml(file: Path) -> dict[str, Any]:
    """A scenario file as ``{snake_case_column: value}`` (``hypervisor.policy`` ->
    ``hypervisor_policy``), the names the result tables give factor columns."""
    if not file.is_file():
        return {}
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:  # ValueError: bad TOML or not UTF-8
        raise ConfigError(f"{file}: cannot read: {error}") from None
    flat: dict[str, Any] = {}

    def walk(table: dict[str, Any], prefix: str) -> None:
        for key, value in table.items():
            column = f"{prefix}_{key}" if prefix else key
            if isinstance(value, dict):
                walk(value, column)
            else:
                flat[column.lower()] = value

    walk(data, "")
    return flat
