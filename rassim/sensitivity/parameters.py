"""Uncertain parameters: a scenario key, the distribution of its value, and the map from
the unit interval (where the designs sample) to the value the scenario is given.

Bounds are written as the key is written in a scenario file, units required (``"10us"``,
``"1e-5/GiB/h"``, ``"60/h"``, ``"4GiB"``) and checked by the key's own type; inside they
are numbers in the scenario's own units (nanoseconds, bytes, events per GiB-hour, per
hour, FIT, shares). Every distribution is
sampled through its quantile function from a uniform ``u`` in [0, 1], so Sobol and Morris
designs on the unit cube carry over unchanged (Sobol indices do not change under a
one-to-one map of each input). Integer keys (durations, sizes, counts) take the integer
part of a draw on ``[low, high + 1)``, so every integer in the range can occur. A latency
key's value is its mean: the base scenario's distribution family is kept (fixed,
``exp()``, ``lognormal()`` with the same sigma).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, get_args, get_origin

import numpy as np
from pydantic import ConfigDict, TypeAdapter

from rassim.config import ConfigError, key_type
from rassim.scenario import NONE, QUANTITIES, USER_INPUT, Duration, Latency, quantity_kind
from rassim.sim.distributions import Distribution, Exponential, Fixed, LogNormal
from rassim.sweep.experiment import column_name
from rassim.sweep.experiment_file import Uncertain

_ARBITRARY = ConfigDict(arbitrary_types_allowed=True)  # a Latency holds a Distribution


@dataclass(frozen=True)
class Parameter:
    """One uncertain key: its distribution over numbers in the scenario's units (or over
    listed values), and how a value is written into a scenario."""

    key: str
    distribution: str
    kind: str  # a QUANTITIES kind, number or discrete
    integer: bool
    low: float = math.nan
    mode: float = math.nan
    high: float = math.nan
    values: tuple[Any, ...] = ()
    base: Any = None
    reason: str = ""
    latency: Distribution | None = None  # a latency key's base distribution

    @property
    def column(self) -> str:
        return column_name(self.key)

    @property
    def unit(self) -> str:
        return QUANTITIES[self.kind].unit if self.kind in QUANTITIES else ""

    def quantile(self, u: np.ndarray) -> np.ndarray:
        """Values at probabilities ``u`` (numbers; for a discrete key, indices of values)."""
        u = np.clip(np.asarray(u, dtype=np.float64), 0.0, 1.0)
        if self.kind == "discrete":
            return np.minimum(np.floor(u * len(self.values)), len(self.values) - 1).astype(int)
        low, mode, high = self.low, self.mode, self.high
        if self.integer:
            high += 1
        if self.distribution == "uniform":
            x = low + u * (high - low)
        elif self.distribution == "loguniform":
            x = np.exp(math.log(low) + u * (math.log(high) - math.log(low)))
        else:  # triangular: the inverse of its piecewise-quadratic CDF
            width = high - low
            split = (mode - low) / width
            x = np.where(
                u < split,
                low + np.sqrt(u * width * (mode - low)),
                high - np.sqrt((1 - u) * width * (high - mode)),
            )
        if self.integer:
            return np.minimum(np.floor(x), self.high).astype(np.int64)
        return x

    def values_at(self, u: np.ndarray) -> list[Any]:
        """The column values at ``u``: numbers, or the listed values of a discrete key."""
        q = self.quantile(u)
        if self.kind == "discrete":
            return [self.values[i] for i in q]
        return q.tolist()

    def written(self, value: Any) -> Any:
        """``value`` as a scenario file would give it (text with a unit for quantities)."""
        if self.kind == "discrete":
            return None if value == NONE else value
        if self.kind == "latency":
            assert self.latency is not None
            return str(_with_mean(self.latency, int(value)))
        number = int(value) if self.integer else float(value)
        if self.kind in QUANTITIES:
            return _adapter(QUANTITIES[self.kind].type).dump_python(number, mode="json")
        return number


def resolve_parameter(
    entry: Uncertain, base_data: dict[str, Any], where: str, validate_at: Callable[[Any, str], None]
) -> Parameter:
    """Check ``entry`` (at ``where``, e.g. ``exp.toml: uncertain.0``) against its key's type
    and the base scenario; ``validate_at(value, place)`` validates the base scenario with
    the key set to ``value`` (a bound or a listed value) and names ``place`` on error."""
    try:
        annotation = key_type(entry.key)
    except ConfigError as error:
        raise ConfigError(f"{where}: {error}") from None
    base = _lookup(base_data, entry.key)
    kind = _kind(annotation)
    if entry.distribution == "discrete":
        values = tuple(entry.values or ())
        for i, value in enumerate(values):
            validate_at(None if value == NONE else value, f"{where}.values.{i}")
        return Parameter(
            entry.key, "discrete", "discrete", False, values=values, base=base, reason=entry.reason
        )
    if kind is None:
        raise ConfigError(
            f'{where}: {entry.key} is not a number: list its values with distribution = "discrete"'
        )
    latency = None
    if kind == "latency":
        latency = _adapter(Latency).validate_python(base, context=USER_INPUT)
        if not isinstance(latency, Fixed | Exponential | LogNormal):
            raise ConfigError(
                f"{where}: {entry.key} is {latency} in the base scenario, which has no single "
                "mean to vary: set it to a fixed, exp() or lognormal() latency in [base]"
            )
    adapter = _adapter(annotation)
    bounds: dict[str, float] = {}
    for name in ("low", "mode", "high"):
        written = getattr(entry, name)
        if written is None:
            continue
        if latency is not None and isinstance(written, str):
            written = str(_with_mean(latency, _adapter(Duration).validate_python(written)))
        # as a scenario file: units, the key's own bounds (a share <= 1), the scenario's
        validate_at(written, f"{where}.{name}")
        value = adapter.validate_python(written, context=USER_INPUT)
        bounds[name] = value.mean_ns if isinstance(value, Distribution) else float(value)
    base = _adapter(annotation).validate_python(base, context=USER_INPUT)
    if isinstance(base, Distribution):
        base = base.mean_ns
    low, high = bounds["low"], bounds["high"]
    mode = bounds.get("mode", math.nan)
    if not low < high:
        raise ConfigError(f"{where}: low must be below high, got {entry.low!r} and {entry.high!r}")
    if entry.distribution == "loguniform" and not low > 0:
        raise ConfigError(f"{where}: a loguniform distribution needs low > 0, got {entry.low!r}")
    if entry.distribution == "triangular" and not low <= mode <= high:
        raise ConfigError(f"{where}: mode must lie between low and high, got {entry.mode!r}")
    integer = _is_integer(annotation) or kind == "latency"
    return Parameter(
        entry.key,
        entry.distribution,
        kind,
        integer,
        low=low,
        mode=mode,
        high=high,
        base=base,
        reason=entry.reason,
        latency=latency,
    )


def _kind(annotation: Any) -> str | None:
    """A :data:`rassim.scenario.QUANTITIES` kind, ``number`` or None (not numeric)."""
    kind = quantity_kind(annotation) if _annotated(annotation) else None
    if kind is not None:
        return kind
    numeric = _base_types(annotation) - {type(None)}
    if numeric and numeric <= {int, float}:
        return "number"
    return None


def _adapter(annotation: Any) -> TypeAdapter:
    return TypeAdapter(annotation, config=_ARBITRARY)


def _is_integer(annotation: Any) -> bool:
    return _base_types(annotation) - {type(None)} == {int}


def _annotated(annotation: Any) -> bool:
    return hasattr(annotation, "__metadata__")


def _base_types(annotation: Any) -> set[Any]:
    """The plain types under ``Annotated`` and ``X | None``."""
    if _annotated(annotation):
        annotation = get_args(annotation)[0]
    args = get_args(annotation)
    if get_origin(annotation) is not None and args and all(isinstance(a, type) for a in args):
        return set(args)
    return {annotation}


def _with_mean(distribution: Distribution, mean_ns: int) -> Distribution:
    """The same family of latency with another mean."""
    if isinstance(distribution, Exponential):
        return Exponential(float(mean_ns))
    if isinstance(distribution, LogNormal):
        return LogNormal(float(mean_ns), distribution.sigma)
    return Fixed(mean_ns)


def _lookup(data: dict[str, Any], key: str) -> Any:
    node: Any = data
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def describe(parameter: Parameter) -> dict[str, Any]:
    """A row of ``parameters.parquet``."""
    return {
        "key": parameter.key,
        "column": parameter.column,
        "distribution": parameter.distribution,
        "kind": parameter.kind,
        "unit": parameter.unit,
        "low": parameter.low,
        "mode": parameter.mode,
        "high": parameter.high,
        "values": json.dumps(list(parameter.values)) if parameter.values else None,
        "base": json.dumps(parameter.base),
        "reason": parameter.reason,
    }
