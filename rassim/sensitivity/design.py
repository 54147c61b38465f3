"""A sensitivity study as loaded from its file, and its designs: samples on the unit cube
(Morris trajectories from SALib, Saltelli's Sobol design), turned into sweep points (one
per sample and arm) with seeds shared where the estimators need common random numbers.

Seeds follow the sweep's rule (``SeedSequence(seed, spawn_key=(stream, replication))``)
with the stream named by the sample's place in the design, not its values:

* Morris: every point of trajectory ``t`` is on stream ``morris/t``, so an elementary
  effect is a difference on common random numbers.
* Sobol (Saltelli 2010, first and total order): ``A_j`` and every ``AB_j`` row are on
  ``sobol/j``, ``B_j`` on ``sobol/j/B``. The total-order estimator differences ``A_j`` and
  ``AB_j`` on common random numbers, so a parameter the output cannot depend on gets
  exactly zero; ``B_j`` is independent of ``A_j`` in values and noise, so the ``A`` and
  ``B`` rows are 2N independent draws (the verdict's samples). Simulation noise stays in
  the output variance: first-order indices are those of the mean response, and the
  indices sum to less than one by the noise share.
* Arms: both arms of a sample share its stream (common random numbers), unless the file
  sets ``common_random_numbers = false``.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from rassim.config import ConfigError
from rassim.results.metrics import METRICS
from rassim.scenario import NONE, Scenario
from rassim.sensitivity.parameters import Parameter, resolve_parameter
from rassim.sim.streams import name_key
from rassim.sweep.experiment import (
    Experiment,
    Point,
    check_columns,
    check_varied,
    read_experiment,
    resolve,
    show_value,
)
from rassim.sweep.experiment_file import Arms, Header, Settings, check_metrics

OTHERS = "others"


@dataclass(frozen=True)
class Study:
    """A loaded, checked sensitivity experiment file."""

    path: Path
    text: bytes
    header: Header
    base: Scenario
    parameters: tuple[Parameter, ...]
    arms: Arms | None
    settings: Settings
    metrics: tuple[str, ...]
    replications: int
    seed: int

    @property
    def name(self) -> str:
        return self.header.name

    @cached_property
    def base_data(self) -> dict[str, Any]:
        return self.base.model_dump(mode="json")

    @property
    def arm_rows(self) -> list[tuple[tuple[str, Any], ...]]:
        """Each arm's assignment (``[((key, value), ...)]``); one empty arm without arms."""
        if self.arms is None:
            return [()]
        return [
            tuple((k, None if v == NONE else v) for k, v in zip(self.arms.names, row, strict=True))
            for row in self.arms.rows
        ]

    @property
    def arm_labels(self) -> tuple[str, ...]:
        """``("serror_fallback", "exit_to_user")``: each arm's values, as written."""
        if self.arms is None:
            return ()
        return tuple(", ".join(show_value(v) for v in row) for row in self.arms.rows)

    @property
    def better(self) -> dict[str, str]:
        """The verdict's metrics and which way is better: the file's ``better``, else the
        direction docs/metrics.md gives the metric; none without arms."""
        if self.arms is None:
            return {}
        directions = {m: self.settings.better.get(m) for m in self.metrics}
        for metric, direction in directions.items():
            if direction is None and metric in METRICS:
                directions[metric] = METRICS[metric].better
        return {m: d for m, d in directions.items() if d is not None}

    @property
    def keys(self) -> tuple[str, ...]:
        """The varied keys: every parameter's, then the arms'."""
        arm_keys = self.arms.names if self.arms is not None else ()
        return (*(p.key for p in self.parameters), *arm_keys)

    def analysis_seed(self, purpose: str) -> int:
        """A positive integer seed for SALib (sampling or bootstrap), fixed by the study's
        seed and ``purpose``."""
        sequence = np.random.SeedSequence(self.seed, spawn_key=(name_key(purpose),))
        return int(sequence.generate_state(1)[0]) or 1


def load_study(
    path: str | Path,
    overrides: list[str] | None = None,
    replications: int | None = None,
    seed: int | None = None,
    known_metrics: tuple[str, ...] | None = None,
) -> Study:
    """Read and check a sensitivity experiment file (``[[uncertain]]`` and ``[sensitivity]``);
    the arguments are as for :func:`rassim.sweep.experiment.load_experiment`, and
    ``known_metrics`` names what the evaluated model reports (default: the simulator's)."""
    path = Path(path)
    parsed, base_changes, base = read_experiment(path, overrides)
    source = str(path)
    header = parsed.experiment
    if parsed.factors:
        raise ConfigError(
            f"{source}: factors are for `rassim sweep`; `rassim sensitivity` varies "
            "[[uncertain]] parameters (compare two alternatives with [sensitivity.arms])"
        )
    if parsed.sensitivity is None or not parsed.uncertain:
        missing = "[sensitivity]" if parsed.sensitivity is None else "[[uncertain]] parameters"
        raise ConfigError(f"{source}: a sensitivity experiment needs {missing}")
    if header.keep:
        raise ConfigError(f"{source}: experiment.keep: event tables are kept by sweeps only")
    settings = parsed.sensitivity
    varied: dict[str, tuple[str, ...]] = {
        f"uncertain.{i}": (entry.key,) for i, entry in enumerate(parsed.uncertain)
    }
    if settings.arms is not None:
        varied["sensitivity.arms"] = settings.arms.names
    check_varied(varied, base_changes, source)

    base_data = base.model_dump(mode="json")
    parameters = []
    for i, entry in enumerate(parsed.uncertain):

        def validate_at(value: Any, place: str, key: str = entry.key) -> None:
            resolve(base_data, [(key, value)], place)

        parameters.append(
            resolve_parameter(entry, base_data, f"{source}: uncertain.{i}", validate_at)
        )
    if settings.arms is not None:
        for i, row in enumerate(settings.arms.rows):
            assignment = [
                (k, None if v == NONE else v) for k, v in zip(settings.arms.names, row, strict=True)
            ]
            resolve(base_data, assignment, f"{source}: sensitivity.arms.values.{i}")
    sobol = settings.sobol
    if sobol is not None and sobol.top is not None and sobol.top >= len(parameters):
        raise ConfigError(
            f"{source}: sensitivity.sobol.top is {sobol.top} but there are only "
            f"{len(parameters)} parameters: remove top to give each its own indices"
        )

    metrics = check_metrics(header.metrics, source, known_metrics)
    for metric in settings.better:
        if metric not in metrics:
            raise ConfigError(
                f"{source}: sensitivity.better: {metric!r} is not one of experiment.metrics"
            )
    keys = [p.key for p in parameters] + list(settings.arms.names if settings.arms else ())
    check_columns(keys, metrics, source)
    return Study(
        path=path,
        text=path.read_bytes(),
        header=header,
        base=base,
        parameters=tuple(parameters),
        arms=settings.arms,
        settings=settings,
        metrics=metrics,
        replications=replications if replications is not None else header.replications,
        seed=seed if seed is not None else header.seed,
    )


@dataclass(frozen=True)
class Design:
    """One stage's samples: the unit-cube matrix and, per row, its block (a
    Morris trajectory or a Sobol base row), role, random stream and whether it is one of
    the independent samples the verdict counts."""

    method: str  # morris or sobol
    problem: dict[str, Any]
    unit: np.ndarray
    blocks: np.ndarray
    roles: tuple[str, ...]
    streams: tuple[str, ...]
    verdict: np.ndarray
    levels: int = 0  # Morris grid levels

    @property
    def groups(self) -> list[str]:
        """The Sobol groups in SALib's order (each parameter alone, or ``others``)."""
        return list(dict.fromkeys(self.problem.get("groups") or self.problem["names"]))

    def __len__(self) -> int:
        return len(self.unit)


def _problem(study: Study, groups: list[str] | None = None) -> dict[str, Any]:
    problem: dict[str, Any] = {
        "num_vars": len(study.parameters),
        "names": [p.key for p in study.parameters],
        "bounds": [[0.0, 1.0]] * len(study.parameters),
    }
    if groups is not None:
        problem["groups"] = groups
    return problem


def morris_design(study: Study) -> Design:
    """Morris trajectories (one-at-a-time steps of 2/3 of the range on a grid)."""
    from SALib.sample import morris

    settings = study.settings.morris
    assert settings is not None
    problem = _problem(study)
    unit = morris.sample(
        problem,
        settings.trajectories,
        num_levels=settings.levels,
        seed=study.analysis_seed("morris"),
    )
    steps = len(study.parameters) + 1
    rows = np.arange(len(unit))
    blocks = rows // steps
    return Design(
        method="morris",
        problem=problem,
        unit=unit,
        blocks=blocks,
        roles=tuple(f"step {r % steps}" for r in rows),
        streams=tuple(f"morris/{b}" for b in blocks),
        verdict=rows % steps == 0,
        levels=settings.levels,
    )


def sobol_design(study: Study, top: list[str] | None = None) -> Design:
    """Saltelli's cross-sampled design for first and total indices (the row layout SALib's
    ``sobol.analyze`` reads); with ``top``, those parameters get their own indices and the
    others vary together as one group.

    ``A`` and ``B`` are the two halves of one scrambled Sobol' sequence in 2D dimensions,
    as SALib samples them, but ``B``'s rows are randomly reordered: in many dimensions and
    few samples the halves are strongly correlated row by row (-0.75 for one parameter at
    D = 59, N = 64), which biases the estimators (first-order indices above 1) and would
    make the A and B rows dependent samples for the verdict. Each half keeps its
    stratification; the pairing is random."""
    from scipy.stats import qmc

    settings = study.settings.sobol
    assert settings is not None
    groups = None
    if top is not None:
        groups = [p.key if p.key in top else OTHERS for p in study.parameters]
    problem = _problem(study, groups)
    d, n = len(study.parameters), settings.samples
    rng = np.random.default_rng(study.analysis_seed("sobol"))
    base = qmc.Sobol(2 * d, scramble=True, seed=rng).random(n)
    a, b = base[:, :d], base[rng.permutation(n), d:]
    members = np.array(groups or problem["names"])
    names = list(dict.fromkeys(members))
    width = len(names) + 2
    unit = np.empty((n * width, d))
    unit[0::width], unit[width - 1 :: width] = a, b
    for k, name in enumerate(names):
        crossed = a.copy()
        crossed[:, members == name] = b[:, members == name]
        unit[k + 1 :: width] = crossed
    rows = np.arange(len(unit))
    blocks = rows // width
    position = rows % width
    roles = tuple(
        "A" if p == 0 else "B" if p == width - 1 else f"AB {names[p - 1]}" for p in position
    )
    streams = tuple(
        f"sobol/{b}/B" if role == "B" else f"sobol/{b}"
        for b, role in zip(blocks, roles, strict=True)
    )
    return Design(
        method="sobol",
        problem=problem,
        unit=unit,
        blocks=blocks,
        roles=roles,
        streams=streams,
        verdict=np.isin(position, (0, width - 1)),
    )


def experiment(study: Study, design: Design) -> Experiment:
    """The design as a sweep experiment: one point per sample and arm, each validated."""
    arms = study.arm_rows
    crn = study.arms is None or study.arms.common_random_numbers
    columns = [p.values_at(design.unit[:, j]) for j, p in enumerate(study.parameters)]
    points = []
    for i in range(len(design)):
        values = [
            (p.key, p.written(column[i]))
            for p, column in zip(study.parameters, columns, strict=True)
        ]
        label = ", ".join(f"{k}={show_value(v)}" for k, v in values)
        for a, arm in enumerate(arms):
            where = f"{study.path}: {design.method} sample {i} ({label})"
            if arm:
                where += f", arm {study.arm_labels[a]}"
            stream = design.streams[i]
            if not crn:
                stream += f"/arm {a}"
            assignment = (*values, *arm)
            scenario = resolve(study.base_data, assignment, where)
            points.append(Point(i * len(arms) + a, assignment, scenario, stream))
    return Experiment(
        path=study.path,
        text=study.text,
        header=study.header,
        base=study.base,
        keys=study.keys,
        points=tuple(points),
        replications=study.replications,
        seed=study.seed,
        metrics=study.metrics,
    )
