"""Where a host's UEs come from: one process per source, each poisoning pages over time.

- :func:`direct_rate`: UEs at ``memory.ue_rate`` per GiB-hour (``memory.source = "ue_rate"``);
- :func:`dram_faults`: DRAM faults that ECC cannot correct (``memory.source = "faults"``);
- :func:`replayed`: the UEs a fleet logged (``memory.source = "replay"``,
  ``memory.replayed``, written by ``rassim replay``), at their times and pages;
- :func:`injections`: EINJ-style injected UEs (``memory.injections``), with any source.

A source is a generator function taking a :class:`Setup`; ``SOURCES`` maps each
``memory.source`` value to its process. Adding a source is a function here, its entry
in ``SOURCES`` and the value in ``rassim.scenario.UeSource``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from rassim.model.dram import DramDevices
from rassim.model.memory import PAGE, MemoryNode
from rassim.scenario import Injection, MemoryConfig, Owner, Placement, ReplayedUe, UeSource
from rassim.sim.draws import Draws
from rassim.sim.environment import Environment
from rassim.sim.events import Waits
from rassim.sim.units import NS_PER_H, GiB

_Listed = TypeVar("_Listed", ReplayedUe, Injection)


@dataclass(frozen=True)
class Listed:
    """The UEs a scenario lists by host (``memory.replayed``, ``memory.injections``),
    indexed once for a group of hosts: each host's in time order, ties in list order.

    One pass over each list for the group, not one per host (a fleet log's UEs, replayed
    on thousands of hosts, made that O(hosts x UEs))."""

    replayed: Mapping[int, tuple[ReplayedUe, ...]]
    injections: Mapping[int, tuple[Injection, ...]]

    @classmethod
    def of(cls, config: MemoryConfig, hosts: range) -> Listed:
        """The UEs ``config`` lists for ``hosts``."""
        return cls(_by_host(config.replayed, hosts), _by_host(config.injections, hosts))


def _by_host(listed: Sequence[_Listed], hosts: range) -> dict[int, tuple[_Listed, ...]]:
    """Those of ``listed`` on each of ``hosts``, sorted (stably) by time."""
    mine: dict[int, list[_Listed]] = {}
    for entry in listed:
        if entry.host in hosts:
            mine.setdefault(entry.host, []).append(entry)
    return {host: tuple(sorted(its, key=lambda e: e.at)) for host, its in mine.items()}


@dataclass
class Setup:
    """What a source needs: the host's clock and memory, its config, the UEs listed for
    it, named streams."""

    env: Environment
    host: int
    memory: MemoryNode
    config: MemoryConfig
    listed: Listed
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


def replayed(setup: Setup) -> Waits:
    """The host's logged UEs (``memory.replayed``): each poisons its logged page at its
    logged time, with an owner where its page type places it (the guest-level class drawn
    from the guest memory map), permanent with probability ``memory.p_permanent`` (a log
    cannot tell). A page that rasdaemon's CE threshold soft-offlined before the UE
    (``memory.predictive_offline``, :func:`page_ce_offline`) is poisoned unreachable.

    Every UE draws from its own stream (``replay.ue<n>``, n its place in the host's log):
    its owner, its race and what happens to its page do not depend on how the UEs before
    it were handled, so each arm of a comparison replays the same errors the same way
    until the policies part them.
    """
    env, memory, config = setup.env, setup.memory, setup.config
    mine = setup.listed.replayed.get(setup.host, ())
    owners: dict[int, tuple[Owner, int | None]] = {}  # each logged page's latest owner
    for n, logged in enumerate(mine):
        yield env.timeout(logged.at - env.now)
        rng = setup.draws(f"replay.ue{n}")
        page = None if logged.address is None else logged.address // PAGE
        if logged.placement is Placement.REPEAT and page in owners:
            owner, vm = owners[page]
        else:
            owner, vm = memory.map.draw_placed(rng, logged.placement)
        if page is not None:
            owners[page] = owner, vm
        offlined = config.predictive_offline and page_ce_offline(
            logged.corrected_before, config.ce_threshold, config.ce_window
        )
        memory.poison(
            setup.new_ue_id(),
            owner,
            vm,
            rng.random() < config.p_permanent,
            "log:predicted" if offlined else "log",
            reachable=not offlined,
            hpa=None if page is None else page * PAGE,
            rng=rng,
        )


def page_ce_offline(corrected: Sequence[tuple[int, int]], threshold: int, cycle: int) -> bool:
    """Whether rasdaemon's page CE accounting offlines a page after these corrected errors
    (time, count), as ras-page-isolation.c page_record() counts them: a page's count
    starts at its first CE; a CE at least ``cycle`` after the start forgives
    ``threshold`` CEs per elapsed cycle and restarts the period; the page goes offline
    when its count reaches ``threshold`` (PAGE_CE_THRESHOLD, PAGE_CE_REFRESH_CYCLE)."""
    start: int | None = None
    count = 0
    for at, n in corrected:
        if start is None:
            start = at
        period = at - start
        if period >= cycle:
            count -= min(int(period / cycle * threshold), count)
            start = at
        count += n
        if count >= threshold:
            return True
    return False


def injections(setup: Setup) -> Waits:
    """EINJ: at each injection's time, poison one page of the given owner class."""
    env, memory = setup.env, setup.memory
    for injection in setup.listed.injections.get(setup.host, ()):
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
    "replay": replayed,
}
