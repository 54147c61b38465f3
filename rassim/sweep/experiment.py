"""Experiment files: a base scenario, factors that vary it, replications and metrics.

An experiment is a TOML file with an ``[experiment]`` header, an optional ``[base]`` table
of scenario keys and any number of ``[[factors]]``. The grid of points is the cartesian
product of the factors (the first factor varies slowest); one factor may vary several
keys together. ``[base]`` and factor values apply on top of the *fully resolved* base
scenario (preset or scenario file), so a table merges key by key: a factor on
``guest.memory_map.guest_kernel`` changes that one weight and keeps the others. TOML has
no null: the string ``"none"`` stands for "no value" (e.g. ``vmm.restart_after``).

Every point is resolved into a validated :class:`Scenario` when the file is loaded, so a
bad value fails before any run starts, with the point and the key named.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from rassim.config import (
    ConfigError,
    apply_override,
    assign,
    load_scenario,
    read_toml,
    validate,
)
from rassim.provenance import code_fingerprint
from rassim.scenario import NONE, Scenario
from rassim.sim.streams import name_key
from rassim.sweep.experiment_file import (
    ExperimentFile,
    Header,
    check_metrics,
    format_errors,
)


@dataclass(frozen=True)
class Point:
    """One point of the grid: a value for every factor key, and the scenario it gives."""

    point_id: int
    assignment: tuple[tuple[str, Any], ...]
    scenario: Scenario
    stream: str | None = None
    """Names the random streams of the point's runs (default: its identity); points with
    one stream name share their seeds, i.e. run on common random numbers."""

    @cached_property
    def identity(self) -> str:
        """Canonical JSON of the assignment: what the point *is*, whatever its index."""
        return json.dumps(dict(self.assignment), sort_keys=True, separators=(",", ":"))

    @cached_property
    def key(self) -> int:
        return name_key(self.identity if self.stream is None else self.stream)

    @cached_property
    def data(self) -> dict[str, Any]:
        """The resolved scenario as JSON-able data (what a worker receives)."""
        return self.scenario.model_dump(mode="json")

    @property
    def label(self) -> str:
        return ", ".join(f"{k}={show_value(v)}" for k, v in self.assignment) or "(base)"


@dataclass(frozen=True)
class Run:
    """One replication of one point, with its seed derived from the point's identity."""

    run_id: int
    point: Point
    replication: int
    entropy: int

    @property
    def spawn_key(self) -> tuple[int, int]:
        return (self.point.key, self.replication)

    def seed_sequence(self) -> np.random.SeedSequence:
        return np.random.SeedSequence(self.entropy, spawn_key=self.spawn_key)

    @property
    def seed(self) -> str:
        """``entropy:point_key:replication``, i.e. ``SeedSequence(entropy, spawn_key=(...))``."""
        return f"{self.entropy}:{self.point.key}:{self.replication}"

    @cached_property
    def fingerprint(self) -> str:
        """Names this run's stored result: the resolved scenario, the seed and the code."""
        text = json.dumps(
            {
                "scenario": self.point.data,
                "entropy": self.entropy,
                "spawn_key": self.spawn_key,
                "code": code_fingerprint(),
            },
            sort_keys=True,
        )
        return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


@dataclass(frozen=True)
class Experiment:
    """A loaded experiment: header, resolved base scenario and every point, validated."""

    path: Path
    text: bytes
    header: Header
    base: Scenario
    keys: tuple[str, ...]
    points: tuple[Point, ...]
    replications: int
    seed: int
    metrics: tuple[str, ...]

    @property
    def keep(self) -> tuple[str, ...]:
        return self.header.keep

    @property
    def name(self) -> str:
        return self.header.name

    @property
    def columns(self) -> dict[str, str]:
        """Varied key -> its column in the result tables (``hypervisor.policy`` ->
        ``hypervisor_policy``)."""
        return {key: column_name(key) for key in self.keys}

    @cached_property
    def runs(self) -> tuple[Run, ...]:
        return tuple(
            Run(point.point_id * self.replications + r, point, r, self.seed)
            for point in self.points
            for r in range(self.replications)
        )


def column_name(key: str) -> str:
    """snake_case column for a dotted key."""
    return re.sub(r"[^0-9a-zA-Z]+", "_", key).strip("_").lower()


def load_experiment(
    path: str | Path,
    overrides: list[str] | None = None,
    replications: int | None = None,
    seed: int | None = None,
) -> Experiment:
    """Read, check and expand an experiment file; ``overrides`` (``key=value``) apply to
    the base scenario after ``[base]``; ``replications`` and ``seed`` replace the file's."""
    path = Path(path)
    parsed, base_changes, base = read_experiment(path, overrides)
    if parsed.uncertain or parsed.sensitivity is not None:
        raise ConfigError(
            f"{path}: declares [[uncertain]] parameters or [sensitivity]: run it with "
            "`rassim sensitivity`"
        )
    header = parsed.experiment
    check_varied(
        {f"factors.{i}": factor.names for i, factor in enumerate(parsed.factors)},
        base_changes,
        str(path),
    )
    base_data = base.model_dump(mode="json")
    points = []
    levels = [factor.rows for factor in parsed.factors]
    keys = [key for factor in parsed.factors for key in factor.names]
    for point_id, combination in enumerate(itertools.product(*levels)):
        values = [value for row in combination for value in row]
        assignment = tuple(
            (key, None if value == NONE else value) for key, value in zip(keys, values, strict=True)
        )
        label = ", ".join(f"{k}={show_value(v)}" for k, v in assignment)
        scenario = resolve(base_data, assignment, f"{path}: point {point_id} ({label})")
        points.append(Point(point_id, assignment, scenario))
    metrics = check_metrics(header.metrics, str(path))
    check_columns(keys, metrics, str(path))
    return Experiment(
        path=path,
        text=path.read_bytes(),
        header=header,
        base=base,
        keys=tuple(keys),
        points=tuple(points),
        replications=replications if replications is not None else header.replications,
        seed=seed if seed is not None else header.seed,
        metrics=metrics,
    )


def read_experiment(
    path: Path, overrides: list[str] | None = None
) -> tuple[ExperimentFile, dict[str, Any], Scenario]:
    """The parsed file, its changes to the base scenario as ``{"a.b": value}`` (``[base]``,
    then ``overrides``) and the base scenario they give (preset or scenario file first)."""
    raw = read_toml(path)
    try:
        parsed = ExperimentFile.model_validate(raw)
    except ValidationError as error:
        raise ConfigError(format_errors(error, str(path))) from None
    header = parsed.experiment
    base_changes = _flatten(parsed.base)
    for item in overrides or []:
        change: dict[str, Any] = {}
        apply_override(change, item)
        base_changes.update(_flatten(change))
    scenario_path = None
    if header.scenario is not None:
        scenario_path = path.parent / header.scenario
    start = load_scenario(scenario_path, header.preset)
    base_data = start.model_dump(mode="json")
    for key, value in base_changes.items():
        assign(base_data, key, value, "[base]")
    return parsed, base_changes, validate(base_data, f"{path}: [base]")


def resolve(
    base_data: dict[str, Any], assignment: Iterable[tuple[str, Any]], where: str
) -> Scenario:
    """The scenario of ``base_data`` (a resolved scenario as JSON data) with ``assignment``
    applied; errors name ``where`` (the file and the point)."""
    data = dict(base_data)
    for key, value in assignment:
        node = data
        for part in key.split(".")[:-1]:  # copy only the tables on the key's path
            if not isinstance(node.get(part), dict):
                break
            node[part] = dict(node[part])
            node = node[part]
        assign(data, key, value, where)
    return validate(data, where)


def _flatten(table: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables (and quoted dotted keys) to ``{"a.b.c": value}``; ``"none"`` -> None."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{dotted}."))
        else:
            flat[dotted] = None if value == NONE else value
    return flat


def check_varied(varied: dict[str, tuple[str, ...]], base: dict[str, Any], source: str) -> None:
    """A key is varied by one entry only, and not also fixed by ``[base]`` or ``--set``;
    ``varied`` maps each entry's place in the file (``factors.0``) to the keys it varies."""
    owner: dict[str, str] = {}
    for entry, keys in varied.items():
        for key in keys:
            for other, other_entry in owner.items():
                if _overlaps(key, other):
                    raise ConfigError(
                        f"{source}: {entry}: {key} is already varied by {other_entry} ({other})"
                    )
            owner[key] = entry
    for fixed in base:
        for key, entry in owner.items():
            if _overlaps(fixed, key):
                raise ConfigError(
                    f"{source}: {fixed} is set in [base] or by --set, but {entry} "
                    f"varies {key}; remove one of them"
                )


RESERVED = {"run_id", "point_id", "replication", "seed", "status", "error", "wall_s"}


def check_columns(keys: list[str], metrics: tuple[str, ...], source: str) -> None:
    """Columns of varied keys are distinct from each other, the run columns and the metrics."""
    taken = RESERVED | {"runs_ok", "runs_failed"} | set(metrics)
    for key in keys:
        column = column_name(key)
        if column in taken:
            raise ConfigError(f"{source}: {key} would be column {column!r}, already taken")
        taken.add(column)


def _overlaps(a: str, b: str) -> bool:
    return a == b or a.startswith(f"{b}.") or b.startswith(f"{a}.")


def show_value(value: Any) -> str:
    """A factor value as a label shows it (``none`` for no value, JSON for the rest)."""
    if value is None:
        return NONE
    if isinstance(value, str):
        return value
    return json.dumps(value)
