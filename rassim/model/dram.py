"""DRAM devices: faults, and which of them ECC cannot correct (MODEL 3).

Faults arrive per device as a Poisson process with the FIT rates of the scenario's
fault-mode table (default: Sridharan & Liberty SC'12 as coded in AMD's FaultSim), all
multiplied by ``memory.acceleration``. The ECC scheme decides CE or UE:

- ``secded`` corrects one bit per word: a single-bit fault is a CE, any fault that can
  corrupt several bits of a word (an x4 device supplies four) is a UE;
- ``chipkill`` corrects any one device per codeword: every single fault is a CE, and a
  UE needs two faults in different devices of the same rank that overlap (same bank,
  row and column ranges), the intersection FaultSim evaluates.

A UE fault poisons ``pages`` pages of one owner (``rassim.model.sources.dram_faults``
hands them to the memory node). A transient fault stays active (for
overlaps) until the scrubber rewrites it. Optionally, a permanent CE fault whose page
is read often enough to log ``ce_threshold`` CEs within ``ce_window`` is soft-offlined
before a second fault can turn it into a UE (rasdaemon's page CE threshold).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

from rassim.model.memory import MemoryMap
from rassim.scenario import Ecc, FaultMode, MemoryConfig
from rassim.sim.draws import Draws
from rassim.sim.units import NS_PER_D, NS_PER_H

# Extent of each mode inside a device: (all banks?, all rows?, all columns?).
_EXTENT: dict[FaultMode, tuple[bool, bool, bool]] = {
    FaultMode.SINGLE_BIT: (False, False, False),
    FaultMode.SINGLE_WORD: (False, False, False),
    FaultMode.SINGLE_COLUMN: (False, True, False),
    FaultMode.SINGLE_ROW: (False, False, True),
    FaultMode.SINGLE_BANK: (False, True, True),
    FaultMode.MULTI_BANK: (True, True, True),
    FaultMode.MULTI_RANK: (False, True, True),
}


def overlap_probability(a: FaultMode, b: FaultMode, config: MemoryConfig) -> float:
    """The chance that faults of modes ``a`` and ``b`` in two devices of one rank overlap
    (:meth:`Fault.overlaps`): in each of bank, row and column, one of them spans the
    dimension or both drew the same coordinate."""
    sizes = (config.banks, config.rows, config.columns)
    probability = 1.0
    for spans_a, spans_b, size in zip(_EXTENT[a], _EXTENT[b], sizes, strict=True):
        if not (spans_a or spans_b):
            probability /= size
    return probability


@dataclass(slots=True, frozen=True)
class Fault:
    mode: FaultMode
    permanent: bool
    rank: int
    device: int
    bank: int
    row: int
    column: int
    arrived_ns: int
    active_until_ns: float  # transient faults are rewritten by the scrubber
    offlined_ns: float  # predictive soft-offline time of its pages (inf: never)

    def overlaps(self, other: Fault) -> bool:
        """Same rank, another device, and the bank/row/column ranges intersect."""
        if self.rank != other.rank or self.device == other.device:
            return False
        mine, theirs = _EXTENT[self.mode], _EXTENT[other.mode]
        coordinates = (
            (self.bank, other.bank),
            (self.row, other.row),
            (self.column, other.column),
        )
        return all(a or b or x == y for (x, y), a, b in zip(coordinates, mine, theirs, strict=True))


@dataclass(slots=True, frozen=True)
class Uncorrected:
    """What a fault ECC could not correct poisons: ``pages`` pages, unless rasdaemon
    soft-offlined them already (``predicted``)."""

    mode: FaultMode
    permanent: bool
    pages: int
    predicted: bool


Decision = tuple[bool, int, bool]  # uncorrected, pages, predicted
EccRule = Callable[["DramDevices", Fault, int], Decision]


class DramDevices:
    """The DRAM devices of one host: when faults arrive, and what ECC makes of them."""

    def __init__(
        self,
        config: MemoryConfig,
        memory_map: MemoryMap,
        rng: Draws,
        rasdaemon_rng: Draws,
        log: list[tuple],
    ) -> None:
        """``log`` gets one row per fault (``rassim.model.tables.FAULT_COLUMNS``)."""
        self.config = config
        self.memory_map = memory_map
        self.rng = rng
        self.rasdaemon_rng = rasdaemon_rng  # its own stream: turning prediction on or off
        # leaves the fault arrivals unchanged
        self.ecc = self.ECC[config.ecc]
        self.devices = config.ranks * config.devices_per_rank
        kinds = [(m, p) for m in config.faults for p in (False, True)]
        fits = [config.faults[m].permanent if p else config.faults[m].transient for m, p in kinds]
        total_fit = sum(fits)
        self.kinds = kinds
        self.cumulative = (
            list(itertools.accumulate(f / total_fit for f in fits)) if total_fit else []
        )
        per_hour = self.devices * total_fit * 1e-9 * config.acceleration
        self.mean_gap_ns = NS_PER_H / per_hour if per_hour else float("inf")
        self.active: list[Fault] = []
        self.log = log

    def next_gap(self) -> float:
        """Time to the next fault on any device (exponential; inf with no fault rate)."""
        if self.mean_gap_ns == float("inf"):
            return float("inf")
        return self.rng.exponential(self.mean_gap_ns)

    def fault(self, host: int, now: int) -> Uncorrected | None:
        """A fault arrives now: drawn, logged, and returned if ECC cannot correct it."""
        config, rng = self.config, self.rng
        index = min(bisect.bisect_right(self.cumulative, rng.random()), len(self.kinds) - 1)
        mode, permanent = self.kinds[index]
        rate = config.faults[mode]
        lifetime = config.scrub_period or NS_PER_D
        fault = Fault(
            mode=mode,
            permanent=permanent,
            rank=rng.below(config.ranks),
            device=rng.below(config.devices_per_rank),
            bank=rng.below(config.banks),
            row=rng.below(config.rows),
            column=rng.below(config.columns),
            arrived_ns=now,
            active_until_ns=float("inf") if permanent else now + lifetime,
            offlined_ns=self._prediction(rate.pages, now) if permanent else float("inf"),
        )
        self.active = [f for f in self.active if f.active_until_ns > now]
        uncorrected, pages, predicted = self.ecc(self, fault, now)
        self.active.append(fault)
        row = (host, now, mode.value, permanent, fault.rank, fault.device, uncorrected, pages)
        self.log.append((*row, predicted))
        return Uncorrected(mode, permanent, pages, predicted) if uncorrected else None

    def _secded(self, fault: Fault, now: int) -> Decision:
        """One bit per word is corrected: any fault but a single-bit one is a UE."""
        return fault.mode is not FaultMode.SINGLE_BIT, self.config.faults[fault.mode].pages, False

    def _chipkill(self, fault: Fault, now: int) -> Decision:
        """One device per codeword is corrected: a UE needs an overlapping fault in another
        device of the rank; it poisons the smaller footprint."""
        faults = self.config.faults
        partners = [f for f in self.active if fault.overlaps(f)]
        pages = min([faults[fault.mode].pages, *(faults[f.mode].pages for f in partners)])
        return bool(partners), pages, any(f.offlined_ns <= now for f in partners)

    # What the ECC scheme makes of a fault, by memory.ecc.
    ECC: ClassVar[dict[Ecc, EccRule]] = {"secded": _secded, "chipkill": _chipkill}

    def _prediction(self, pages: int, now: int) -> float:
        """When rasdaemon would soft-offline a permanent CE fault's pages, if ever: its
        CEs arrive at the page owners' read rate; ``ce_threshold`` of them must fit in
        ``ce_window``."""
        config = self.config
        if not config.predictive_offline:
            return float("inf")
        owner, _ = self.memory_map.draw_host(self.rasdaemon_rng)
        per_ns = pages * config.access[owner].access_rate / NS_PER_H
        if per_ns * config.ce_window < config.ce_threshold:
            return float("inf")
        return now + config.ce_threshold / per_ns
