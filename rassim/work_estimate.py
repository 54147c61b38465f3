"""How big a run will be, before it runs: expected UEs, error events and table memory.

The counts follow from the scenario's rates x exposure x acceleration:

- ``memory.source = "ue_rate"``: UEs = hosts x host memory (GiB) x ``ue_rate`` x
  acceleration x duration (h), plus the injections;
- ``memory.source = "replay"``: the logged UEs (``memory.replayed``), plus the injections;
- ``memory.source = "faults"``: DRAM faults = hosts x devices x the FIT table's total x
  10^-9 x acceleration x hours. With SECDED every fault but a single-bit one poisons its
  pages; with chipkill a UE takes a second fault overlapping an active one in another
  device of the same rank (the model's own overlap probability,
  :func:`rassim.model.dram.overlap_probability`), and poisons the smallest footprint of
  the two.

Error events per UE depend on whether the host can claim the SEA and retire the page at
once: measured, about 1.3 per UE with firmware-first and a usable record (``qemu-ras``),
3 to 16 when it cannot and the page is read again (``sea-to-user``, ``legacy-serror``,
``no-feat-ras``), 2 to 5 channel hops per event: for UEs at a direct rate the event
estimate is within 4x over a day or more. DRAM faults poison several pages of one owner
at once, and under chipkill most arrive late in the run: a page then sees 0.5 to 70
events (measured), so the event estimate is good to 30x only; the UE and fault counts
are expectations either way. Bytes per table row are measured
(``memory_usage(deep=True)``), and a run's peak memory is about four times its tables
(the run's own records, the tables, the copies written to Parquet) plus the interpreter.
``tests/test_work_estimate.py`` checks all of it against real runs.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

from rassim.errors import ConfigError
from rassim.model.dram import overlap_probability
from rassim.scenario import FaultMode, Scenario
from rassim.sim.units import NS_PER_D, NS_PER_H, GiB, format_duration, format_size

EVENTS_PER_UE_CLAIMED = 1.5  # the host retires the page at the first consumption
EVENTS_PER_UE_UNCLAIMED = 12.0  # the page stays poisoned and is read again
HOPS_PER_EVENT = 4.0
BYTES_PER_ROW = {"errors": 270, "hops": 82, "ues": 130, "vms": 104, "faults": 100}
PEAK_PER_TABLE_BYTE = 4.0
INTERPRETER_BYTES = 200 * 2**20
# CPU seconds of one core (getrusage), measured on sea-to-user fleets: 28,000 error
# events a second, and 0.65 ms to build and run a host.
EVENTS_PER_S = 28_000.0
HOSTS_PER_S = 1_500.0
# Two spawned workers cost about 1.1 CPU-s to start (imports) and to send their tables
# back; they break even with one process at about 1.5 s of serial work and gain 1.3x at
# 3.5 s (README, "Workers"): above this many serial seconds, use every core.
PROCESSES_PAY_S = 3.0


@dataclass(frozen=True)
class WorkEstimate:
    """Expected size of one run of a scenario (all its replications)."""

    ues: float
    faults: float
    events: float
    hops: float
    hosts: int
    vm_rows: int
    drivers: str  # the keys behind the UE count, with their values

    @property
    def table_bytes(self) -> float:
        rows = {
            "errors": self.events,
            "hops": self.hops,
            "ues": self.ues,
            "vms": self.vm_rows,
            "faults": self.faults,
        }
        return sum(BYTES_PER_ROW[table] * count for table, count in rows.items())

    @property
    def peak_bytes(self) -> float:
        return INTERPRETER_BYTES + PEAK_PER_TABLE_BYTE * self.table_bytes

    @property
    def cpu_s(self) -> float:
        """CPU seconds on one core, roughly (the machine's load adds wall time)."""
        return self.events / EVENTS_PER_S + self.hosts / HOSTS_PER_S

    def describe(self) -> str:
        """The counts, the peak memory and the keys behind the largest table."""
        vm_bytes = BYTES_PER_ROW["vms"] * self.vm_rows
        why = (
            f"{self.vm_rows:.3g} VM rows = fleet.hosts x fleet.vms_per_host"
            if vm_bytes > self.table_bytes / 2
            else f"{self.ues:.3g} UEs = {self.drivers}"
        )
        return (
            f"about {self.ues:.3g} UEs, {self.events:.3g} error events and "
            f"{_gib(self.peak_bytes)} of memory at its peak ({why})"
        )


def estimate(scenario: Scenario, replications: int = 1) -> WorkEstimate:
    """The expected size of ``replications`` runs of ``scenario`` held together."""
    memory, hosts = scenario.memory, scenario.fleet.hosts
    hours = scenario.duration / NS_PER_H
    exposure = (
        f"fleet.hosts {hosts} x memory.host_memory {format_size(memory.host_memory)} x "
        f"duration {format_duration(scenario.duration)} x memory.acceleration "
        f"{memory.acceleration:g}"
    )
    if memory.source == "faults":
        faults, ues = _dram_faults(scenario)
        drivers = f"{exposure} x the FIT table of memory.faults, memory.ecc {memory.ecc}"
    elif memory.source == "replay":
        faults, ues = 0.0, float(len(memory.replayed))
        drivers = "the logged UEs replayed (memory.replayed)"
    else:
        faults = 0.0
        ues = hosts * memory.host_memory / GiB * hours * memory.ue_rate * memory.acceleration
        drivers = f"{exposure} x memory.ue_rate {memory.ue_rate:g}/GiB/h"
    ues += len(memory.injections)
    firmware = scenario.firmware
    claimed = firmware.first * firmware.ghes_sea * firmware.p_record
    per_ue = claimed * EVENTS_PER_UE_CLAIMED + (1 - claimed) * EVENTS_PER_UE_UNCLAIMED
    events = ues * per_ue
    if replications > 1:
        drivers += f", x {replications} replications"
    return WorkEstimate(
        ues=ues * replications,
        faults=faults * replications,
        events=events * replications,
        hops=events * replications * HOPS_PER_EVENT if scenario.record_hops else 0.0,
        hosts=hosts * replications,
        vm_rows=hosts * scenario.fleet.vms_per_host * replications,
        drivers=drivers,
    )


def _dram_faults(scenario: Scenario) -> tuple[float, float]:
    """Expected DRAM faults and UEs (poisoned pages) of the fleet (MODEL 3; the ECC rules
    of :mod:`rassim.model.dram`)."""
    memory = scenario.memory
    hours = scenario.duration / NS_PER_H
    scale = 1e-9 * memory.acceleration  # FIT: failures per 10^9 device-hours
    per_rank = memory.devices_per_rank
    devices = memory.ranks * per_rank * scenario.fleet.hosts
    modes = memory.faults
    faults = devices * hours * scale * sum(r.transient + r.permanent for r in modes.values())
    if memory.ecc == "secded":
        poisoned = sum(
            (rate.transient + rate.permanent) * rate.pages
            for mode, rate in modes.items()
            if mode is not FaultMode.SINGLE_BIT
        )
        return faults, devices * hours * scale * poisoned
    # chipkill: a fault of mode a arriving at time t meets the active faults of mode b
    # in the other devices of its rank, a Poisson number with mean mu_b(t) (permanent
    # faults pile up, transient ones live until the scrubber rewrites them); it is a UE
    # if it meets any, and poisons as many pages as the smallest footprint it meets.
    lifetime = (memory.scrub_period or NS_PER_D) / NS_PER_H
    by_pages = sorted(modes, key=lambda mode: modes[mode].pages)
    poisoned = 0.0
    for step in range(_STEPS):
        t = hours * (step + 0.5) / _STEPS
        active = {
            b: (per_rank - 1) * scale * (rate.permanent * t + rate.transient * min(t, lifetime))
            for b, rate in modes.items()
        }
        for a, rate_a in modes.items():
            none_smaller, expected_pages = 1.0, 0.0  # P(no partner of a smaller footprint)
            for b in by_pages:
                met = 1.0 - math.exp(-active[b] * overlap_probability(a, b, memory))
                expected_pages += none_smaller * met * min(rate_a.pages, modes[b].pages)
                none_smaller *= 1.0 - met
            poisoned += (rate_a.transient + rate_a.permanent) * expected_pages
    return faults, devices * scale * poisoned * hours / _STEPS


_STEPS = 64  # of the time integral over the run


def memory_limit() -> int:
    """Half the memory of this machine (or of this process's cgroup, if less): the
    default largest run rassim starts without ``--force``."""
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    try:
        text = Path("/sys/fs/cgroup/memory.max").read_text().strip()
        if text.isdigit():
            total = min(total, int(text))
    except OSError:
        pass
    return total // 2


def check(work: WorkEstimate, what: str = "this run", workers: int = 1) -> None:
    """Refuse (ConfigError) work whose peak memory, ``workers`` runs at once, would pass
    :func:`memory_limit`; the message gives the estimate and the keys that drive it."""
    limit = memory_limit()
    if work.peak_bytes * workers <= limit:
        return
    at_once = f", {workers} at once" if workers > 1 else ""
    raise ConfigError(
        f"{what} would take {work.describe()}{at_once}; that is over {_gib(limit)}, half "
        "this machine's memory: lower those keys, or give --force to run it anyway"
    )


def _gib(nbytes: float) -> str:
    return f"{nbytes / GiB:.3g} GiB"


def workers_for(work: WorkEstimate, cores: int) -> int:
    """Processes for one run: all ``cores`` when the run's serial work is long enough to
    repay starting them (``PROCESSES_PAY_S``, measured in the README), else one."""
    if cores < 2 or work.hosts < 2 or work.cpu_s < PROCESSES_PAY_S:
        return 1
    return cores
