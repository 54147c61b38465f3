"""Where a host's UEs come from: one process per source, each poisoning pages over time.

- :func:`direct_rate`: UEs at ``memory.ue_rate`` per GiB-hour (``memory.source = "ue_rate"``);
- :func:`dram_faults`: DRAM faults that ECC cannot correct (``memory.source = "faults"``);
- :func:`injections`: EINJ-style injected UEs (``memory.injections``), with any source.

A source is a generator function taking a :class:`Setup`; ``SOURCES`` maps each
``memory.source`` value to its process. Adding a source (say, errors replayed from a
log at given times and addresses) is a function here, its entry in ``SOURCES`` and the
value in ``rassim.scenario.UeSource``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from rassim.model.dram import DramDevices
from rassim.model.memory import MemoryNode
from rassim.scenario import MemoryConfig, Owner, UeSource
from rassim.sim.draws import Draws
from rassim.sim.environment import Environment
from rassim.sim.events import Waits
from rassim.sim.units import NS_PER_H, GiB


@dataclass
class Setup:
    """What a source needs: the host's clock and memory, its config, named streams."""

    env: Environment
    host: int
    memory: MemoryNode
    config: MemoryConfig
    draws: Callable[[str], Draws]  # the host's stream of that name ("ue_rate", "dram", ...)
    ue_ids: itertools.count
    horizon_ns: int
    fault_log: list[tuple] = field(default_factory=list)  # FAULT_COLUMNS rows

    def new_ue_id(self) -> int:
        return next(self.ue_ids)


def direct_rate(setup: Setup) -> Waits:
    """UEs at ``memory.ue_rate`` per GiB per hour over the whole host memory (Poisson);
    each is permanent with probability ``memory.p_permanent``."""
    env, memory, config = setup.env, setup.memory, setup.config
    if config.ue_rate <= 0:
        return
    rng = setup.draws("ue_rate")
    mean_gap = NS_PER_H * GiB / (config.ue_rate * config.acceleration * memory.map.host_bytes)
    while True:
        gap = math.ceil(rng.exponential(mean_gap))
        if env.now + gap >= setup.horizon_ns:
            return
        yield env.timeout(gap)
        owner, vm = memory.draw_owner()
        memory.poison(setup.new_ue_id(), owner, vm, rng.random() < config.p_permanent, "rate")


def dram_faults(setup: Setup) -> Waits:
    """DRAM faults (``memory.faults``); one that ECC cannot correct poisons its pages,
    all of one owner."""
    env, memory = setup.env, setup.memory
    devices = DramDevices(
        setup.config, memory.map, setup.draws("dram"), setup.draws("rasdaemon"), setup.fault_log
    )
    while True:
        gap = devices.next_gap()
        if env.now + gap >= setup.horizon_ns:
            return
        yield env.timeout(int(gap) + 1)
        fault = devices.fault(setup.host, env.now)
        if fault is None:
            continue
        owner, vm = memory.draw_owner()
        source = f"fault:{fault.mode.value}"
        for _ in range(fault.pages):
            memory.poison(
                setup.new_ue_id(), owner, vm, fault.permanent, source, reachable=not fault.predicted
            )


def injections(setup: Setup) -> Waits:
    """EINJ: at each injection's time, poison one page of the given owner class."""
    env, memory = setup.env, setup.memory
    mine = [i for i in setup.config.injections if i.host == setup.host]
    for injection in sorted(mine, key=lambda i: i.at):
        yield env.timeout(injection.at - env.now)
        owner = injection.owner
        vm = None if owner in (Owner.HOST_KERNEL, Owner.HOST_FREE) else injection.vm
        memory.poison(
            setup.new_ue_id(),
            owner,
            vm,
            injection.permanent,
            "einj",
            forced_el=None if injection.kernel is None else int(injection.kernel),
            first_delay=injection.consume_after,
        )


# The process of each memory.source value.
SOURCES: dict[UeSource, Callable[[Setup], Waits]] = {
    "ue_rate": direct_rate,
    "faults": dram_faults,
}
