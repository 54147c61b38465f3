"""The experiment file format: pydantic models of ``[experiment]``, ``[[factors]]`` (for
``rassim sweep``), ``[[uncertain]]`` and ``[sensitivity]`` (for ``rassim sensitivity``),
and error messages that name the dotted path of the key at fault."""

from __future__ import annotations

import json
from functools import cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from rassim.config import ConfigError, did_you_mean, format_validation_error
from rassim.scenario import Scenario

TABLES = ("errors", "vms", "ues", "faults")
_NAME = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Header(_Strict):
    """The ``[experiment]`` table."""

    name: str = Field(pattern=_NAME, description="names the default output sweeps/<name>")
    description: str = ""
    preset: str | None = None
    scenario: str | None = Field(None, description="base scenario file, relative to this file")
    replications: int = Field(1, ge=1)
    seed: int = Field(0, ge=0)
    metrics: tuple[str, ...] | None = Field(None, min_length=1)
    keep: tuple[Literal["errors", "vms", "ues", "faults"], ...] = ()

    @model_validator(mode="after")
    def _no_repeats(self) -> Header:
        for field in ("metrics", "keep"):
            values = getattr(self, field) or ()
            repeated = sorted({v for v in values if values.count(v) > 1})
            if repeated:
                raise ValueError(f"{field} lists {', '.join(repeated)} more than once")
        return self


class Factor(_Strict):
    """One ``[[factors]]`` entry: ``key`` and its values, or ``keys`` varying together."""

    key: str | None = None
    keys: tuple[str, ...] | None = Field(None, min_length=1)
    values: tuple[Any, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _check_shape(self) -> Factor:
        if (self.key is None) == (self.keys is None):
            raise ValueError('give either key = "a.b" or keys = ["a.b", "c.d"], not both')
        for key in self.names:
            _check_dotted(key)
        if len(set(self.names)) != len(self.names):
            raise ValueError("keys lists a key more than once")
        if self.keys is not None:
            for i, value in enumerate(self.values):
                if not isinstance(value, list) or len(value) != len(self.keys):
                    got = f"{len(value)} items" if isinstance(value, list) else repr(value)
                    raise ValueError(
                        f"values.{i} must be a list of {len(self.keys)} values, one per key "
                        f"({', '.join(self.keys)}); got {got}"
                    )
        seen = set()
        for i, row in enumerate(self.rows):
            text = json.dumps(row, sort_keys=True, default=str)
            if text in seen:
                raise ValueError(f"values.{i} repeats an earlier value: {text[1:-1]}")
            seen.add(text)
        return self

    @property
    def names(self) -> tuple[str, ...]:
        return (self.key,) if self.key is not None else tuple(self.keys or ())

    @property
    def rows(self) -> list[tuple[Any, ...]]:
        """The values as one tuple per level, a value for each of :attr:`names`."""
        if self.key is not None:
            return [(value,) for value in self.values]
        return [tuple(value) for value in self.values]


def _check_dotted(key: str) -> None:
    if not key or any(not part for part in key.split(".")):
        raise ValueError(f"{key!r} is not a dotted scenario key")


DISTRIBUTIONS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high"),
    "loguniform": ("low", "high"),
    "triangular": ("low", "mode", "high"),
    "discrete": ("values",),
}


class Uncertain(_Strict):
    """One ``[[uncertain]]`` entry: a scenario key whose value is not known, and the
    distribution it is drawn from. Bounds are written as the key is (``"10us"``,
    ``"1e-5/GiB/h"``, ``0.5``); they are checked against the key's type when loaded."""

    key: str
    distribution: Literal["uniform", "loguniform", "triangular", "discrete"]
    low: Any = None
    high: Any = None
    mode: Any = None
    values: tuple[Any, ...] | None = Field(None, min_length=2)
    reason: str = Field("", description="why these bounds: the evidence, or the assumption")

    @model_validator(mode="after")
    def _check_shape(self) -> Uncertain:
        _check_dotted(self.key)
        needs = DISTRIBUTIONS[self.distribution]
        for name in ("low", "mode", "high", "values"):
            given = getattr(self, name) is not None
            if given and name not in needs:
                raise ValueError(
                    f"{name} is not used by a {self.distribution} distribution "
                    f"(it takes {' and '.join(needs)})"
                )
            if not given and name in needs:
                raise ValueError(f"a {self.distribution} distribution needs {name}")
        seen = set()
        for i, value in enumerate(self.values or ()):
            text = json.dumps(value, sort_keys=True, default=str)
            if text in seen:
                raise ValueError(f"values.{i} repeats an earlier value: {text}")
            seen.add(text)
        return self


class Arms(Factor):
    """``[sensitivity.arms]``: the two alternatives compared (``values = [A, B]``; B is the
    candidate), each run on every sample; by default both arms of a sample share its
    random streams (common random numbers)."""

    common_random_numbers: bool = True

    @model_validator(mode="after")
    def _two(self) -> Arms:
        if len(self.values) != 2:
            raise ValueError(f"values must list exactly two alternatives, got {len(self.values)}")
        return self


class Morris(_Strict):
    """``[sensitivity.morris]``: elementary-effects screening (Morris 1991)."""

    trajectories: int = Field(ge=2, description="one-at-a-time paths through the space")
    levels: int = Field(4, ge=2, description="grid levels per parameter (even)")

    @model_validator(mode="after")
    def _even(self) -> Morris:
        if self.levels % 2:
            raise ValueError(f"levels must be even, got {self.levels}")
        return self


class Sobol(_Strict):
    """``[sensitivity.sobol]``: Sobol first-order and total indices (Saltelli 2010)."""

    samples: int = Field(ge=2, description="base samples N, a power of two")
    top: int | None = Field(
        None, ge=1, description="indices for the parameters the screening ranks highest"
    )

    @model_validator(mode="after")
    def _power_of_two(self) -> Sobol:
        if self.samples & (self.samples - 1):
            raise ValueError(f"samples must be a power of two, got {self.samples}")
        return self


class Settings(_Strict):
    """The ``[sensitivity]`` table."""

    morris: Morris | None = None
    sobol: Sobol | None = None
    arms: Arms | None = None
    better: dict[str, Literal["higher", "lower"]] = Field(
        default_factory=dict, description="metric -> which way is better (the verdict)"
    )
    resamples: int = Field(1000, ge=100, description="bootstrap resamples of the indices")
    confidence: float = Field(0.95, gt=0.5, lt=1.0)

    @model_validator(mode="after")
    def _methods(self) -> Settings:
        if self.morris is None and self.sobol is None:
            raise ValueError("give [sensitivity.morris], [sensitivity.sobol] or both")
        if self.sobol is not None and self.sobol.top is not None and self.morris is None:
            raise ValueError("sobol.top ranks by the Morris screening: add [sensitivity.morris]")
        if self.better and self.arms is None:
            raise ValueError("better needs [sensitivity.arms]: the verdict compares two arms")
        return self


class ExperimentFile(_Strict):
    """The whole file, as written."""

    experiment: Header
    base: dict[str, Any] = Field(default_factory=dict)
    factors: tuple[Factor, ...] = ()
    uncertain: tuple[Uncertain, ...] = ()
    sensitivity: Settings | None = None


def format_errors(error: ValidationError, source: str) -> str:
    """One line per problem, worded as for scenario files."""
    return format_validation_error(error, source, _fields_at)


def _fields_at(loc: list[str]) -> list[str]:
    if not loc:
        return list(ExperimentFile.model_fields)
    if loc[0] == "experiment":
        return list(Header.model_fields)
    models: dict[str, type[BaseModel]] = {
        "factors": Factor,
        "uncertain": Uncertain,
        "sensitivity": Settings,
    }
    model = models.get(loc[0])
    nested: dict[str, type[BaseModel]] = {"arms": Arms, "morris": Morris, "sobol": Sobol}
    if model is Settings and len(loc) > 1:
        model = nested.get(loc[1])
    return list(model.model_fields) if model is not None else []


def check_metrics(
    metrics: tuple[str, ...] | None, source: str, known: tuple[str, ...] | None = None
) -> tuple[str, ...]:
    """The metrics to tabulate: those asked for, checked against ``known`` (default: the
    simulator's numeric summary metrics), or all of them."""
    known = known if known is not None else known_metrics()
    if metrics is None:
        return known
    for metric in metrics:
        if metric not in known:
            hint = did_you_mean(metric, known)
            raise ConfigError(f"{source}: experiment.metrics: unknown metric {metric!r}{hint}")
    return metrics


@cache
def known_metrics() -> tuple[str, ...]:
    """The numeric metrics of a run's summary, in summary order (from a one-second run)."""
    from rassim.run import simulate

    scenario = Scenario.model_validate(
        {"duration": "1s", "record_hops": False, "fleet": {"vms_per_host": 1}}
    )
    summary = simulate(scenario, seed=0).summary
    return tuple(
        key
        for key, value in summary.items()
        if isinstance(value, int | float) and not isinstance(value, bool)
    )
