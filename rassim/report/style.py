"""One place for how the report looks: colours, labels, units, and the figure factory.

Every figure colours a KVM policy the same way (Okabe-Ito, safe for colour-blind
readers); blast radii have their own palette so that they never read as a policy.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, MaxNLocator, NullFormatter

from rassim.results.metrics import METRICS as DEFINED

POLICY_COLOURS = {
    "serror_fallback": "#D55E00",  # vermillion: the legacy path that panics guests
    "exit_to_user": "#0072B2",  # blue
}
OTHER_COLOUR = "#555555"  # a policy this module does not know, or none at all
RADIUS_COLOURS = {
    "none": "#CFCFCF",
    "process": "#F0C75E",
    "vm": "#A05195",
    "host": "#2B2B2B",
}
RADII = tuple(RADIUS_COLOURS)
LINESTYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P")
CI_ALPHA = 0.2

POLICY_COLUMN = "hypervisor_policy"

# Factor columns as a reader knows them; anything else falls back to its column name.
FACTOR_LABELS = {
    "hypervisor_policy": "KVM policy",
    "memory_ue_rate": "UE rate (UEs per GiB per hour)",
    "memory_acceleration": "rate acceleration (x)",
    "guest_memory_map_guest_kernel": "guest kernel share of guest RAM (%)",
    "guest_memory_map_guest_anon": "guest anonymous share of guest RAM (%)",
    "guest_backing_page": "backing page size",
    "firmware_p_record": "P(usable CPER record), i.e. APEI can claim",
    "vmm_restart_after": "VMM restart_after (poisoned pages)",
    "vmm_sea_exit": "VMM SEA handling",
    "vmm_unmap": "VMM unmaps the page",
}
SHORT_FACTOR_LABELS = {
    "guest_memory_map_guest_kernel": "kernel share",
    "memory_acceleration": "acceleration",
    "vmm_sea_exit": "sea_exit",
    "vmm_unmap": "unmap",
    "vmm_restart_after": "restart_after",
    "guest_backing_page": "page",
    "memory_ue_rate": "rate",
    "firmware_p_record": "p_record",
}
PERCENT_FACTORS = {"guest_memory_map_guest_kernel", "guest_memory_map_guest_anon"}


class Metric:
    """How one summary metric is shown: its label, its unit, the scale to that unit, and
    the range its values can take (a confidence interval is drawn clipped to it)."""

    def __init__(
        self,
        label: str,
        unit: str = "",
        scale: float = 1.0,
        low: float = 0.0,
        high: float = math.inf,
        full_range: bool = False,
    ) -> None:
        self.label = label
        self.unit = unit
        self.scale = scale
        self.low = low
        self.high = high
        self.full_range = full_range  # always show low..high (a rate read against 0 and 1)

    @property
    def axis(self) -> str:
        """The axis label: the name, then the unit (on its own line if long)."""
        if not self.unit:
            return self.label
        gap = "\n" if len(self.label) + len(self.unit) > 32 else " "
        return f"{self.label}{gap}({self.unit})"

    def shown(self, values):
        """``values`` in this metric's unit, clipped to the range it can take."""
        return np.clip(np.asarray(values, dtype=float) * self.scale, self.low, self.high)


# How the summary's other metrics are shown; those of rassim.results.metrics.METRICS take
# their label and unit from there unless listed here.
METRICS = {
    "downtime_s": Metric("VM downtime per run, all VMs", "h", 1 / 3600),
    "mttr_s": Metric("mean time to repair", "s"),
    "memory_lost_bytes": Metric("memory lost to offlining per run", "MiB", 1 / 2**20),
    "handling_latency_mean_ns": Metric("mean handling latency", "µs", 1e-3),
    "handling_latency_p99_ns": Metric("p99 handling latency", "µs", 1e-3),
    "process_kills": Metric("process kills per run", "count"),
    "vm_crashes": Metric("VM crashes per run", "count"),
    "vm_restarts": Metric("VM restarts per run", "count"),
    "host_panics": Metric("host panics per run", "count"),
    "exits_to_vmm": Metric("KVM_EXIT_ARM_SEA exits per run", "count"),
    "ues": Metric("UEs per run", "count"),
    "error_events": Metric("error events per run", "count"),
    "work_done": Metric("work done per run", "process-seconds x guest.work_rate"),
}


# A run's set-up, not an outcome: the tables leave these to the parameters.
SET_UP = ("duration_s", "hosts", "vms", "acceleration", "vm_years", "host_years")
_ACRONYMS = {"ue": "UE", "ues": "UEs", "ce": "CE", "vm": "VM", "vms": "VMs"}


def metric(name: str) -> Metric:
    """How the summary metric ``name`` is shown; any other is a count per run, named
    after its column (``ues_offlined``: UEs offlined per run)."""
    if name in METRICS:
        return METRICS[name]
    defined = DEFINED.get(name)
    if defined is None:
        words = " ".join(_ACRONYMS.get(word, word) for word in name.split("_"))
        if words.startswith("outcome "):
            words = f"error events ending {name.removeprefix('outcome_')}"
        return Metric(f"{words} per run", "count")
    bounded = defined.kind in ("share", "fraction")  # fractions (goodput) sit near 1
    return Metric(
        defined.label,
        defined.unit,
        high=1.0 if bounded else math.inf,
        full_range=defined.kind == "share",
    )


def policy_colour(policy: Any) -> str:
    return POLICY_COLOURS.get(str(policy), OTHER_COLOUR)


def factor_label(column: str) -> str:
    return FACTOR_LABELS.get(column, column.replace("_", " "))


def show_value(column: str, value: Any) -> str:
    """A factor value as a short, readable tick or legend text."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return "none"  # an optional setting left unset, e.g. vmm.restart_after = "none"
    if column in PERCENT_FACTORS:
        return f"{float(value) * 100:g}%"
    if isinstance(value, bool) or str(value) in ("True", "False"):
        name = SHORT_FACTOR_LABELS.get(column, column)
        return name if str(value) == "True" else f"no {name}"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def duration_label(ns: float, largest: str = "h") -> str:
    """Nanoseconds as the shortest readable time: 100 ns, 2.3 µs, 50 µs, 1.2 ms, 5 min;
    no unit beyond ``largest`` (log-axis ticks read best as 1 s, 10 s, 100 s)."""
    units = (("h", 3.6e12), ("min", 6e10), ("s", 1e9), ("ms", 1e6), ("µs", 1e3))
    names = [name for name, _ in units]
    for unit, size in units[names.index(largest) :]:
        if abs(ns) >= size:
            return f"{_significant(ns / size)} {unit}"
    return f"{_significant(ns)} ns"


def _significant(value: float) -> str:
    return f"{value:.0f}" if abs(value) >= 100 else f"{value:.3g}"


TIME_UNITS = (("ns", 1.0), ("µs", 1e3), ("ms", 1e6), ("s", 1e9), ("min", 6e10), ("h", 3.6e12))
ONE_UNIT_DECADES = 4  # times spanning more decades get their unit on every tick
LINEAR_DECADES = 1  # times spanning less than a decade read best on a linear axis


def time_unit(low_ns: float, high_ns: float) -> tuple[str, float]:
    """The unit (name, nanoseconds) an axis of times from ``low_ns`` to ``high_ns`` reads
    best in: the largest that the shortest is at least half of (20 to 80 µs: µs); none
    (``""``, 1) when they span more than ``ONE_UNIT_DECADES`` decades, so that each tick
    names its own (1 µs, 1 ms, 100 s)."""
    if not low_ns > 0 or math.log10(high_ns / low_ns) > ONE_UNIT_DECADES:
        return "", 1.0
    fits = [(name, size) for name, size in TIME_UNITS if low_ns >= 0.5 * size]
    return fits[-1] if fits else TIME_UNITS[0]


def time_axis(axes, unit: str, low_ns: float, high_ns: float) -> str:
    """Scale and tick ``axes``' x axis for times from ``low_ns`` to ``high_ns`` drawn in
    ``unit`` (:func:`time_unit`): linear within a decade, else log with ticks at 1, 2 and
    5 (or every decade, past two) and no scientific notation. Returns how to name the
    axis's scale and unit in its label: ``"µs, log scale"``, ``"ms"``."""
    decades = math.log10(high_ns / low_ns) if low_ns > 0 else math.inf
    if decades < LINEAR_DECADES and unit:
        axes.xaxis.set_major_locator(MaxNLocator(6, steps=[1, 2, 2.5, 5, 10]))
        axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.6g}"))
        return unit
    axes.set_xscale("log")
    axis = axes.xaxis
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0) if decades < 2 else (1.0,)))
    axis.set_minor_locator(LogLocator(base=10, subs=[float(n) for n in range(2, 10)]))
    axis.set_minor_formatter(NullFormatter())
    if unit:
        axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.6g}"))
        return f"{unit}, log scale"
    axis.set_major_formatter(FuncFormatter(lambda value, _: duration_label(value, "s")))
    return "log scale, units on the ticks"


def new_figure(width: float = 7.0, height: float = 4.2) -> Figure:
    """A figure drawn by Agg, never through pyplot: no global state, no display needed."""
    figure = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def slots(points: int, least: int = 3) -> tuple[float, float]:
    """Axis limits for ``points`` rows, bars or boxes at 0, 1, ...: room for at least ``least``,
    so that one point is not drawn as wide as the figure."""
    pad = max(0.0, (least - points) / 2)
    return -0.5 - pad, points - 0.5 + pad


def titled(figure: Figure, axes, title: str, note: str) -> None:
    """The figure's title, and a small note on how to read it above the first panel,
    wrapped within the figure."""
    figure.suptitle(title, fontsize=13)
    axes.set_title(note, loc="left", fontsize=8, color="#666666", wrap=True)


def style_axes(axes) -> None:
    axes.grid(True, color="#E5E5E5", linewidth=0.8)
    axes.set_axisbelow(True)
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


# Units at the edge: factor values arrive as the scenario text ("1e-4/GiB/h", "2MiB").
_SIZES = {"": 1, "B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_TIMES = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600}
_TIMES["d"] = 86400
_RATE = re.compile(r"^\s*([-+0-9.eE]+)\s*(?:/\s*([A-Za-z]+)\s*/\s*([A-Za-zµ]+))?\s*$")
_SIZE = re.compile(r"^\s*([0-9.eE+]+)\s*([KMGT]iB|B)?\s*$")


def rate_per_gib_hour(value: Any) -> float:
    """``"1e-4/GiB/h"`` (or a bare number, already per GiB per hour) as a float."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _RATE.match(str(value))
    if match is None or (match.group(2) or "GiB") not in _SIZES:
        return math.nan
    number, size, time = float(match.group(1)), match.group(2) or "GiB", match.group(3) or "h"
    if time not in _TIMES:
        return math.nan
    return number * (_SIZES["GiB"] / _SIZES[size]) * (_TIMES["h"] / _TIMES[time])


def size_bytes(value: Any) -> float:
    """``"2MiB"`` (or a number of bytes) as bytes."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _SIZE.match(str(value))
    if match is None:
        return math.nan
    return float(match.group(1)) * _SIZES[match.group(2) or ""]


def numeric(column: str, values) -> list[float] | None:
    """Factor values on a numeric axis, or None when they are categories."""
    convert = {"memory_ue_rate": rate_per_gib_hour, "guest_backing_page": size_bytes}.get(column)
    out = []
    for value in values:
        if convert is not None:
            number = convert(value)
        elif isinstance(value, bool) or str(value) in ("True", "False"):
            return None
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                return None
        if math.isnan(number):
            return None
        out.append(number * (100 if column in PERCENT_FACTORS else 1))
    return out
