"""Units at the edges: durations, sizes and rates in text, plain numbers inside.

Everything inside the model is an integer number of nanoseconds (``*_ns``) or bytes, or
a rate per GiB-hour, per hour or in FIT; these parsers turn what a user writes ("50us",
"24h", "2MiB", "1e-4/GiB/h", "60/h", "14FIT") into those numbers and back, and reject
anything else with a message that says what was expected. With ``units_required`` (what
a user writes: scenario and experiment files, ``--set``) a bare number is refused, except
0, which means the same in every unit; without it (Python callers) a bare number is taken
in the internal unit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from fractions import Fraction

NS_PER_US = 1_000
NS_PER_MS = 1_000_000
NS_PER_S = 1_000_000_000
NS_PER_MIN = 60 * NS_PER_S
NS_PER_H = 3_600 * NS_PER_S
NS_PER_D = 86_400 * NS_PER_S
NS_PER_Y = 365 * NS_PER_D
MAX_NS = 2**63  # the int64 columns of the result tables

DURATION_UNITS: dict[str, int] = {
    "ns": 1,
    "us": NS_PER_US,
    "µs": NS_PER_US,
    "ms": NS_PER_MS,
    "s": NS_PER_S,
    "min": NS_PER_MIN,
    "h": NS_PER_H,
    "d": NS_PER_D,
    "w": 7 * NS_PER_D,
    "y": NS_PER_Y,
}

KiB = 1 << 10
MiB = 1 << 20
GiB = 1 << 30
TiB = 1 << 40
SIZE_UNITS: dict[str, int] = {"B": 1, "KiB": KiB, "MiB": MiB, "GiB": GiB, "TiB": TiB}


@dataclass(frozen=True)
class UnitForms:
    """How a kind of quantity is written: what it is, its forms and examples (the
    error for a bare number, and docs/scenario.md)."""

    what: str
    forms: str
    examples: str


DURATION_FORMS = UnitForms("duration", ", ".join(DURATION_UNITS), "'50us', '24h' or '30d'")
SIZE_FORMS = UnitForms("size", ", ".join(SIZE_UNITS), "'4KiB' or '512GiB'")
RATE_PER_SIZE_FORMS = UnitForms(
    "rate",
    f"NUMBER/SIZE/TIME, SIZE one of {', '.join(SIZE_UNITS)}, "
    f"TIME one of {', '.join(DURATION_UNITS)}",
    "'1e-4/GiB/h' or '3/TiB/d'",
)
RATE_FORMS = UnitForms(
    "rate", f"NUMBER/TIME, TIME one of {', '.join(DURATION_UNITS)}", "'60/h' or '1/min'"
)
FIT_FORMS = UnitForms("failure rate", "NUMBER FIT, or NUMBER/TIME", "'14.2FIT' or '1.42e-8/h'")

_QUANTITY = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([A-Za-zµ]+)\s*$")


def _bare(value: object, forms: UnitForms) -> ValueError:
    """The error for a number written without its unit."""
    return ValueError(
        f"{value!r} has no unit: write a {forms.what} as text, a number and a unit "
        f"({forms.forms}), e.g. {forms.examples}; only 0 may be written bare"
    )


def _unitless(value: object, units_required: bool) -> bool:
    """Whether ``value`` is a bare number that must carry a unit."""
    return units_required and isinstance(value, int | float) and value != 0


def _split(text: str, units: dict[str, int], what: str, example: str) -> tuple[Fraction, int]:
    match = _QUANTITY.match(text)
    if match is None or match.group(2) not in units:
        raise ValueError(
            f"{text!r} is not a {what}: expected a number and a unit, one of "
            f"{', '.join(units)} (e.g. {example!r})"
        )
    return Fraction(match.group(1)), units[match.group(2)]


def parse_duration(value: str | int, units_required: bool = False) -> int:
    """Return ``value`` in integer nanoseconds; an int is taken as nanoseconds already
    (unless ``units_required``).

    >>> parse_duration("50us"), parse_duration("2ms"), parse_duration("24h")
    (50000, 2000000, 86400000000000)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if _unitless(value, units_required):
        raise _bare(value, DURATION_FORMS)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"duration {value} ns is negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a duration: write it as text with a unit, e.g. '50us'")
    number, scale = _split(value, DURATION_UNITS, "duration", "50us")
    ns = round(number * scale)
    if ns >= MAX_NS:
        raise ValueError(f"duration {value!r} is too long: the limit is {MAX_NS} ns (292 years)")
    return ns


def format_duration(ns: int | float, digits: int | None = None) -> str:
    """Render nanoseconds in the largest unit that keeps the number >= 1.

    Exact by default, so ``parse_duration(format_duration(x)) == x`` for integer ``x``
    (at most six decimals, else a smaller unit); with ``digits`` the number is rounded
    for display (``format_duration(1.5e6, 3)`` -> ``"1.5ms"``).
    """
    units = ("y", "d", "h", "min", "s", "ms", "us")
    if digits is not None:
        for unit in units:
            if abs(ns) >= DURATION_UNITS[unit]:
                return f"{ns / DURATION_UNITS[unit]:.{digits}g}{unit}"
        return f"{ns:.{digits}g}ns"
    ns = round(ns)
    for unit in units:
        scale = DURATION_UNITS[unit]
        if abs(ns) < scale:
            continue
        for decimals in range(7):
            if ns * 10**decimals % scale == 0:
                whole, rest = divmod(ns * 10**decimals // scale, 10**decimals)
                fraction = f".{rest:0{decimals}d}".rstrip("0") if decimals else ""
                return f"{whole}{fraction}{unit}"
    return f"{ns}ns"


def parse_size(value: str | int, units_required: bool = False) -> int:
    """Return ``value`` in bytes; an int is taken as bytes (unless ``units_required``).
    ``"2MiB"`` -> 2097152."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a size")
    if _unitless(value, units_required):
        raise _bare(value, SIZE_FORMS)
    if isinstance(value, int):
        if value < 0:
            raise ValueError(f"size {value} B is negative")
        return value
    if not isinstance(value, str):
        raise ValueError(f"{value!r} is not a size: write it as text with a unit, e.g. '4KiB'")
    number, scale = _split(value, SIZE_UNITS, "size", "4KiB")
    size = number * scale
    if size != int(size):
        raise ValueError(f"size {value!r} is not a whole number of bytes")
    return int(size)


def format_size(nbytes: int) -> str:
    """Render bytes with the largest binary unit that divides them exactly (``"2MiB"``)."""
    for unit in ("TiB", "GiB", "MiB", "KiB"):
        if nbytes and nbytes % SIZE_UNITS[unit] == 0:
            return f"{nbytes // SIZE_UNITS[unit]}{unit}"
    return f"{nbytes}B"


_RATE = re.compile(
    r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*/\s*([A-Za-z]+)\s*/\s*([A-Za-zµ]+)\s*$"
)


def parse_rate_per_gib_hour(value: str | float | int, units_required: bool = False) -> float:
    """A rate per unit of memory per unit of time, as events per GiB per hour.

    A bare number is taken as per GiB per hour already (unless ``units_required``).

    >>> parse_rate_per_gib_hour("1e-3/GiB/h"), parse_rate_per_gib_hour("24/TiB/d")
    (0.001, 0.0009765625)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a rate")
    if _unitless(value, units_required):
        raise _bare(value, RATE_PER_SIZE_FORMS)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _RATE.match(value)
        if (
            match is None
            or match.group(2) not in SIZE_UNITS
            or match.group(3) not in DURATION_UNITS
        ):
            raise ValueError(
                f"{value!r} is not a rate: write a number per size per time, e.g. '1e-3/GiB/h' "
                f"(sizes {', '.join(SIZE_UNITS)}; times {', '.join(DURATION_UNITS)})"
            )
        size, per = SIZE_UNITS[match.group(2)], DURATION_UNITS[match.group(3)]
        number = float(match.group(1)) * (GiB / size) * (NS_PER_H / per)
    else:
        raise ValueError(f"{value!r} is not a rate: write e.g. '1e-3/GiB/h'")
    return _finite_rate(value, number)


def format_rate_per_gib_hour(rate: float) -> str:
    """The text form of a rate per GiB per hour (``"0.001/GiB/h"``)."""
    return f"{float(rate)!r}/GiB/h"


_PER_TIME = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*/\s*([A-Za-zµ]+)\s*$")
_FIT = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*FIT\s*$")
FIT_HOURS = 1e9  # a FIT is one failure per 10^9 device-hours


def parse_rate(value: str | float | int, per_ns: int, units_required: bool = False) -> float:
    """A rate per unit of time (``"60/h"``, ``"1/min"``), as events per ``per_ns``
    nanoseconds (``NS_PER_H``: per hour). A bare number is taken in that unit already
    (unless ``units_required``).

    >>> parse_rate("1/min", NS_PER_H), parse_rate("0.5/d", NS_PER_D)
    (60.0, 0.5)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a rate")
    if _unitless(value, units_required):
        raise _bare(value, RATE_FORMS)
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        match = _PER_TIME.match(value)
        if match is None or match.group(2) not in DURATION_UNITS:
            raise ValueError(
                f"{value!r} is not a rate: write a number per unit of time, e.g. '60/h' "
                f"(times {', '.join(DURATION_UNITS)})"
            )
        number = float(match.group(1)) * (per_ns / DURATION_UNITS[match.group(2)])  # exact
    else:
        raise ValueError(f"{value!r} is not a rate: write e.g. '60/h'")
    return _finite_rate(value, number)


def format_rate(rate: float, per: str) -> str:
    """The text form of a rate per ``per`` (a duration unit): ``format_rate(60, "h")`` ->
    ``"60.0/h"``."""
    return f"{float(rate)!r}/{per}"


def parse_fit(value: str | float | int, units_required: bool = False) -> float:
    """A failure rate in FIT (failures per 10^9 device-hours): ``"14.2FIT"``, or any rate
    per unit of time (``"1.42e-8/h"``). A bare number is taken as FIT (unless
    ``units_required``).

    >>> parse_fit("14.2 FIT"), parse_fit("1e-9/h")
    (14.2, 1.0)
    """
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a failure rate")
    if _unitless(value, units_required):
        raise _bare(value, FIT_FORMS)
    if isinstance(value, str):
        match = _FIT.match(value)
        if match is not None:
            return _finite_rate(value, float(match.group(1)))
        if _PER_TIME.match(value) is None:
            raise ValueError(
                f"{value!r} is not a failure rate: write FIT (failures per 10^9 "
                "device-hours), e.g. '14.2FIT', or a rate per time, e.g. '1.42e-8/h'"
            )
        return parse_rate(value, NS_PER_H) * FIT_HOURS
    return parse_rate(value, NS_PER_H)


def format_fit(fit: float) -> str:
    """The text form of a failure rate in FIT (``"14.2FIT"``)."""
    return f"{float(fit)!r}FIT"


def _finite_rate(value: object, number: float) -> float:
    if not number >= 0 or number == float("inf"):
        raise ValueError(f"rate {value!r} must be a finite number >= 0")
    return number
