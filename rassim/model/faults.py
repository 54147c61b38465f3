"""DRAM faults through ECC: which faults become uncorrected errors (MODEL 3).

Faults arrive per device as a Poisson process with the FIT rates of the scenario's
fault-mode table (default: Sridharan & Liberty SC'12 as coded in AMD's FaultSim), all
multiplied by ``memory.acceleration``. The ECC scheme decides CE or UE:

- ``secded`` corrects one bit per word: a single-bit fault is a CE, any fault that can
  corrupt several bits of a word (an x4 device supplies four) is a UE;
- ``chipkill`` corrects any one device per codeword: every single fault is a CE, and a
  UE needs two faults in different devices of the same rank that overlap (same bank,
  row and column ranges), the intersection FaultSim evaluates.

A UE fault poisons ``pages`` pages of one owner. A transient fault stays active (for
overlaps) until the scrubber rewrites it. Optionally, a permanent CE fault whose page
is read often enough to log ``ce_threshold`` CEs within ``ce_window`` is soft-offlined
before a second fault can turn it into a UE (rasdaemon's page CE threshold).
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import simpy

from rassim.scenario import FaultMode, MemoryConfig
from rassim.sim.draws import Draws
from rassim.sim.units import NS_PER_D, NS_PER_H

if TYPE_CHECKING:
    from rassim.model.memory import MemoryNode

FAULT_COLUMNS = (
    "host",
    "arrived_ns",
    "mode",
    "permanent",
    "rank",
    "device",
    "uncorrected",
    "pages",
    "predicted",
)

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


class FaultSource:
    """The DRAM devices of one host: fault arrivals, ECC outcome, UEs handed to memory."""

    def __init__(
        self,
        memory: MemoryNode,
        config: MemoryConfig,
        rng: Draws,
        new_ue_id: Callable[[], int],
        rasdaemon_rng: Draws,
    ) -> None:
        self.memory = memory
        self.config = config
        self.rng = rng
        self.rasdaemon_rng = rasdaemon_rng  # its own stream: turning prediction on or off
        # leaves the fault arrivals unchanged
        self.new_ue_id = new_ue_id
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
        self.log: list[tuple] = []  # FAULT_COLUMNS, one row per fault

    def start(self, horizon_ns: int) -> simpy.Process | None:
        if self.mean_gap_ns == float("inf"):
            return None
        env = self.memory.env

        def arrivals():
            while True:
                gap = self.rng.exponential(self.mean_gap_ns)
                if env.now + gap >= horizon_ns:
                    return
                yield env.timeout(int(gap) + 1)
                self.arrive()

        return env.process(arrivals())

    def arrive(self) -> None:
        config, rng, now = self.config, self.rng, self.memory.env.now
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
            offlined_ns=self._prediction(rate.pages) if permanent else float("inf"),
        )
        self.active = [f for f in self.active if f.active_until_ns > now]
        if config.ecc == "secded":
            uncorrected = mode is not FaultMode.SINGLE_BIT
            pages, offlined = rate.pages, False
        else:
            partners = [f for f in self.active if fault.overlaps(f)]
            uncorrected = bool(partners)
            pages = min([rate.pages, *(config.faults[f.mode].pages for f in partners)])
            offlined = any(f.offlined_ns <= now for f in partners)
        self.active.append(fault)
        host = self.memory.host.index
        self.log.append(
            (
                host,
                now,
                mode.value,
                permanent,
                fault.rank,
                fault.device,
                uncorrected,
                pages,
                offlined,
            )
        )
        if uncorrected:
            self.memory.poison_fault(
                pages, permanent, f"fault:{mode.value}", self.new_ue_id, predicted=offlined
            )

    def _prediction(self, pages: int) -> float:
        """When rasdaemon would soft-offline a permanent CE fault's pages, if ever: its
        CEs arrive at the page owners' read rate; ``ce_threshold`` of them must fit in
        ``ce_window``."""
        config = self.config
        if not config.predictive_offline:
            return float("inf")
        owner, _ = self.memory.map.draw_host(self.rasdaemon_rng)
        per_ns = pages * config.access[owner].access_rate / NS_PER_H
        if per_ns * config.ce_window < config.ce_threshold:
            return float("inf")
        return self.memory.env.now + config.ce_threshold / per_ns
