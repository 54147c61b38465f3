"""The experiment file format: pydantic models of ``[experiment]`` and ``[[factors]]``,
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
            if not key or any(not part for part in key.split(".")):
                raise ValueError(f"{key!r} is not a dotted scenario key")
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


class ExperimentFile(_Strict):
    """The whole file, as written."""

    experiment: Header
    base: dict[str, Any] = Field(default_factory=dict)
    factors: tuple[Factor, ...] = ()


def format_errors(error: ValidationError, source: str) -> str:
    """One line per problem, worded as for scenario files."""
    return format_validation_error(error, source, _fields_at)


def _fields_at(loc: list[str]) -> list[str]:
    if not loc:
        return list(ExperimentFile.model_fields)
    if loc[0] == "experiment":
        return list(Header.model_fields)
    if loc[0] == "factors":
        return list(Factor.model_fields)
    return []


def check_metrics(metrics: tuple[str, ...] | None, source: str) -> tuple[str, ...]:
    """The metrics to tabulate: those asked for, checked, or every numeric summary metric."""
    known = known_metrics()
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
