"""Latency and inter-arrival distributions as objects that know their mean.

Each distribution draws integer nanoseconds from a caller's ``numpy.random.Generator``
(never a global one) and has a text form that round-trips through
:func:`parse_distribution`::

    "50us"                      fixed
    "exp(50us)"                 exponential with that mean
    "uniform(10us, 1ms)"        uniform on [low, high]
    "lognormal(50us, 0.5)"      lognormal with that mean and log-space sigma
    "empirical(1us, 2us, 9us)"  each listed value equally likely
"""

from __future__ import annotations

import math
import re
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import partial
from itertools import chain

import numpy as np

from rassim.sim.units import UnitForms, format_duration, parse_duration

Sampler = Callable[[], int]
LATENCY_FORMS = UnitForms(
    "latency",
    "DURATION (fixed), exp(MEAN), uniform(LOW, HIGH), lognormal(MEAN, SIGMA), empirical(A, ...)",
    "'50us', 'exp(50us)' or 'lognormal(2306ns, 0.5)'",
)


class Distribution(ABC):
    """A non-negative random duration in integer nanoseconds."""

    @property
    @abstractmethod
    def mean_ns(self) -> float:
        """The exact mean of the distribution, in nanoseconds."""

    @abstractmethod
    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` real-valued samples."""

    @property
    def constant_ns(self) -> int | None:
        """The one value it takes if it is not random (then it needs no stream), else None."""
        return None

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """Draw ``size`` samples as an ``int64`` array of nanoseconds (rounded, >= 0)."""
        return np.maximum(np.rint(self._draw(rng, size)), 0).astype(np.int64)

    def sampler(self, rng: np.random.Generator, block: int = 256) -> Sampler:
        """A callable that returns one draw at a time from ``rng``, drawn in blocks; the
        sequence of values is fixed by the stream alone."""
        return chain.from_iterable(blocks(partial(self.sample, rng), block)).__next__


@dataclass(frozen=True, slots=True)
class Fixed(Distribution):
    """Always ``value_ns``."""

    value_ns: int

    def __post_init__(self) -> None:
        _check_non_negative("value", self.value_ns)

    @property
    def mean_ns(self) -> float:
        return float(self.value_ns)

    @property
    def constant_ns(self) -> int:
        return self.value_ns

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.value_ns, dtype=np.float64)

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return np.full(size, self.value_ns, dtype=np.int64)

    def __str__(self) -> str:
        return format_duration(self.value_ns)


@dataclass(frozen=True, slots=True)
class Exponential(Distribution):
    """Exponential with mean ``mean_ns``: Poisson arrivals, memoryless service."""

    mean: float

    def __post_init__(self) -> None:
        _check_positive("mean", self.mean)

    @property
    def mean_ns(self) -> float:
        return float(self.mean)

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.exponential(self.mean, size)

    def __str__(self) -> str:
        return f"exp({format_duration(self.mean)})"


@dataclass(frozen=True, slots=True)
class Uniform(Distribution):
    """Uniform on ``[low, high]`` nanoseconds."""

    low: float
    high: float

    def __post_init__(self) -> None:
        _check_non_negative("low", self.low)
        if self.high < self.low:
            raise ValueError(f"uniform high ({self.high} ns) is below low ({self.low} ns)")

    @property
    def mean_ns(self) -> float:
        return (self.low + self.high) / 2

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.uniform(self.low, self.high, size)

    def __str__(self) -> str:
        return f"uniform({format_duration(self.low)}, {format_duration(self.high)})"


@dataclass(frozen=True, slots=True)
class LogNormal(Distribution):
    """Lognormal with arithmetic mean ``mean`` and log-space standard deviation ``sigma``."""

    mean: float
    sigma: float

    def __post_init__(self) -> None:
        _check_positive("mean", self.mean)
        _check_non_negative("sigma", self.sigma)

    @property
    def mean_ns(self) -> float:
        return float(self.mean)

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        mu = math.log(self.mean) - self.sigma**2 / 2
        return rng.lognormal(mu, self.sigma, size)

    def __str__(self) -> str:
        return f"lognormal({format_duration(self.mean)}, {float(self.sigma)!r})"


@dataclass(frozen=True, slots=True)
class Empirical(Distribution):
    """Each of ``values`` (nanoseconds) equally likely: measured samples replayed."""

    values: tuple[int, ...]

    def __post_init__(self) -> None:
        if not self.values:
            raise ValueError("empirical distribution needs at least one value")
        for value in self.values:
            _check_non_negative("value", value)

    @property
    def mean_ns(self) -> float:
        return sum(self.values) / len(self.values)

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return rng.choice(np.asarray(self.values, dtype=np.float64), size)

    def __str__(self) -> str:
        return f"empirical({', '.join(format_duration(v) for v in self.values)})"


@dataclass(frozen=True, slots=True)
class Sum(Distribution):
    """The sum of independent parts, e.g. an exit's cost plus an isolation overhead."""

    parts: tuple[Distribution, ...]

    @property
    def mean_ns(self) -> float:
        return sum(part.mean_ns for part in self.parts)

    @property
    def constant_ns(self) -> int | None:
        values = [part.constant_ns for part in self.parts]
        return None if None in values else sum(values)  # type: ignore[arg-type]

    def _draw(self, rng: np.random.Generator, size: int) -> np.ndarray:
        return sum((part._draw(rng, size) for part in self.parts), np.zeros(size))

    def __str__(self) -> str:
        return " + ".join(str(part) for part in self.parts)


def blocks(draw: Callable[[int], np.ndarray], block: int, first: int = 8) -> Iterator[list]:
    """``draw(n)`` over and over as Python lists, ``n`` doubling from ``first`` up to ``block``.

    Chained, their ``__next__`` gives one value per call at C speed, and numpy's per-call
    overhead is paid once per block; the small first blocks keep the many streams of a
    large fleet that draw only a few numbers cheap.
    """
    size = min(first, block)
    while True:
        yield draw(size).tolist()
        size = min(2 * size, block)


_CALL = re.compile(r"^\s*([a-z]+)\s*\((.*)\)\s*$")


def parse_distribution(
    value: str | int | Distribution, units_required: bool = False
) -> Distribution:
    """Parse the text form of a distribution (see the module docstring); a bare int is
    a fixed duration in nanoseconds (unless ``units_required``, :mod:`rassim.sim.units`)."""
    if isinstance(value, Distribution):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Fixed(parse_duration(value, units_required))
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a distribution: write e.g. '50us' or 'exp(50us)'")
    match = _CALL.match(value)
    if match is None:
        return Fixed(parse_duration(value))
    kind, args = match.group(1), [a.strip() for a in match.group(2).split(",") if a.strip()]
    shapes = {"exp": 1, "uniform": 2, "lognormal": 2}
    if kind in shapes and len(args) != shapes[kind]:
        raise ValueError(f"{kind}() takes {shapes[kind]} argument(s), got {len(args)} in {value!r}")
    if kind == "exp":
        return Exponential(parse_duration(args[0]))
    if kind == "uniform":
        return Uniform(parse_duration(args[0]), parse_duration(args[1]))
    if kind == "lognormal":
        return LogNormal(parse_duration(args[0]), float(args[1]))
    if kind == "empirical":
        return Empirical(tuple(parse_duration(a) for a in args))
    raise ValueError(
        f"unknown distribution {kind!r} in {value!r}: use fixed ('50us'), exp(), uniform(), "
        "lognormal() or empirical()"
    )


def _check_non_negative(name: str, value: float) -> None:
    if not value >= 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite duration >= 0, got {value!r}")


def _check_positive(name: str, value: float) -> None:
    if not value > 0 or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite duration > 0, got {value!r}")
