"""Memory nodes: poisoned pages, their owners, and the consume-vs-scrub race (MODEL 3).

A UE is one poisoned page. It is *latent* until the first of two clocks runs out: a
read by its owner (exponential, at the owner class's access rate) or the patrol
scrubber's next visit (period ``memory.scrub_period`` with a uniform phase per page).
A free page is never read: its "access" is its allocation, which rewrites it.
What happens after an event is decided by the layers and applied here: the page stays
poisoned (:meth:`MemoryNode.arm` again), is retired (:meth:`retire`), or is reused with a
rewrite (:meth:`release`): a transient fault is then cleared, a permanent one poisons
the page again for its next owner.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import simpy

from rassim.model.outcomes import Context, EventKind, UeState
from rassim.scenario import Owner, Scenario
from rassim.sim import columns
from rassim.sim.draws import Draws
from rassim.sim.units import NS_PER_H, GiB, parse_size

if TYPE_CHECKING:
    from rassim.model.host import Host

PAGE = 4096
_FREE = (Owner.HOST_FREE, Owner.GUEST_FREE)
GUEST_RAM_BASE = 0x4000_0000  # QEMU virt: RAM starts at 1 GiB (seed 003: PA 0x40fa6000)


@dataclass(slots=True, eq=False)
class Ue:
    """One uncorrected error: a poisoned 4 KiB page and who owns it now."""

    ue_id: int
    host: int
    hpa: int
    permanent: bool
    created_ns: int
    source: str  # "rate" or "einj"
    owner: Owner
    vm: int | None
    process: int | None
    gpa: int | None
    forced_el: int | None = None  # EINJ: consume at EL1 (1) or EL0 (0)
    first_delay: int | None = None  # EINJ: consume exactly this long after injection
    scrub_phase: int = 0
    host_poisoned: bool = False  # memory_failure() retired the host page
    vmm_unmapped: bool = False  # the VMM removed the GPA from stage 2
    guest_poisoned: bool = False  # the guest's memory_failure() retired the GPA
    detached: bool = False  # nobody can reach the page any more (replaced on VM reset)
    cleared: bool = False
    scrub_reported: bool = False
    logged: bool = False  # the host holds a record of it (CPER, or the panic it caused)
    consumptions: int = 0
    events: int = 0
    timer: int = field(default=0)  # generation: a fired timer of an older one is stale


def ue_frame(ues: list[Ue], backing_page: int) -> pd.DataFrame:
    """One row per UE, as ``ues`` lists them, with its final :class:`UeState` and the memory
    its retirement costs: a retired host page of guest RAM takes its whole backing page (a
    1 GiB hugetlb page is poisoned whole); a page the VMM unmapped or the guest retired, or
    host memory, costs 4 KiB; a cleared or live page costs nothing."""
    fields = attrgetter(*_UE_FIELDS)
    values = list(zip(*map(fields, ues), strict=True)) or [()] * len(_UE_FIELDS)
    data = dict(zip(_UE_FIELDS, values, strict=True))
    flag = {name: columns.flags(data[name]) for name in _UE_FLAGS}
    offlined = flag["host_poisoned"] | flag["vmm_unmapped"] | flag["guest_poisoned"]
    offlined |= flag["detached"]
    events = columns.ints(data["events"])
    in_guest_ram = columns.flags([owner.in_guest_ram for owner in data["owner"]])
    state = np.select(
        [flag["cleared"], offlined, events > 0],
        [UeState.CLEARED, UeState.OFFLINED, UeState.LIVE],
        UeState.LATENT,
    )
    lost = np.where(flag["host_poisoned"] & in_guest_ram, backing_page, PAGE)
    return pd.DataFrame(
        {
            "ue_id": columns.ints(data["ue_id"]),
            "host": columns.ints(data["host"]),
            "source": columns.strings(data["source"]),
            "permanent": columns.flags(data["permanent"]),
            "created_ns": columns.ints(data["created_ns"]),
            "owner": columns.strings(data["owner"]),
            "vm": columns.nullable_ints(data["vm"]),
            "gpa": columns.nullable_ints(data["gpa"]),
            "hpa": columns.ints(data["hpa"]),
            "consumptions": columns.ints(data["consumptions"]),
            "events": events,
            "state": pd.array(state, dtype="str"),
            "lost_bytes": np.where(offlined & ~flag["cleared"], lost, 0).astype(np.int64),
        }
    )


_UE_FLAGS = ("cleared", "host_poisoned", "vmm_unmapped", "guest_poisoned", "detached")
_UE_FIELDS = (
    "ue_id",
    "host",
    "source",
    "permanent",
    "created_ns",
    "owner",
    "vm",
    "gpa",
    "hpa",
    "consumptions",
    "events",
    *_UE_FLAGS,
)


class MemoryMap:
    """Owner classes of one host weighted by bytes (MODEL 3.1), for drawing page owners."""

    def __init__(self, scenario: Scenario) -> None:
        m, g = scenario.memory, scenario.guest
        self.vms = scenario.fleet.vms_per_host
        self.guest_memory = g.memory
        self.processes = g.processes
        guest_ram = self.vms * g.memory
        host_free = m.host_memory - m.host_kernel - self.vms * (m.stage2_per_vm + m.vmm_per_vm)
        host_free -= guest_ram
        host = [
            (Owner.HOST_KERNEL, m.host_kernel),
            (Owner.HOST_STAGE2, self.vms * m.stage2_per_vm),
            (Owner.VMM, self.vms * m.vmm_per_vm),
            (Owner.HOST_FREE, host_free),
            (None, guest_ram),
        ]
        self.host_owners = [owner for owner, _ in host]
        self.host_weights = _normalise([size for _, size in host])
        self.guest_owners = list(g.memory_map)
        self.guest_weights = _normalise(list(g.memory_map.values()))
        self.host_bytes = m.host_memory
        self.backing_page = parse_size(g.backing_page)

    def draw_host(self, rng: Draws) -> tuple[Owner, int | None]:
        """An owner for a page anywhere on the host, and its VM if it belongs to one."""
        owner = self.host_owners[rng.index(self.host_weights)]
        if owner is None:
            return self.draw_guest(rng), rng.below(self.vms)
        vm = rng.below(self.vms) if owner in (Owner.HOST_STAGE2, Owner.VMM) else None
        return owner, vm

    def draw_guest(self, rng: Draws) -> Owner:
        """An owner class for a page of guest RAM."""
        return self.guest_owners[rng.index(self.guest_weights)]

    def draw_gpa(self, rng: Draws) -> int:
        return GUEST_RAM_BASE + PAGE * rng.below(self.guest_memory // PAGE)

    def draw_process(self, rng: Draws, owner: Owner) -> int | None:
        return rng.below(self.processes) if owner is Owner.GUEST_ANON else None


class MemoryNode:
    """The memory of one host: UE arrivals, the access/scrub race, and page reuse.

    Sends :class:`PoisonRead` to the CPU on a consumption, :class:`Stage2Fault` to KVM
    when the guest touches a retired or unmapped GPA, :class:`ScrubReport` on a scrub.
    """

    def __init__(
        self,
        host: Host,
        scenario: Scenario,
        rng: Draws,
        horizon_ns: int,
    ) -> None:
        self.host = host
        self.env: simpy.Environment = host.env
        self.call_at = host.network.scheduler.call_at
        self.map = MemoryMap(scenario)
        self.rng = rng
        self.horizon_ns = horizon_ns
        self.p_permanent = scenario.memory.p_permanent
        self.acceleration = scenario.memory.acceleration
        self.retire_logged_on_boot = scenario.platform.retire_logged_on_boot
        self.scrub_period = scenario.memory.scrub_period
        self.access = scenario.memory.access
        # Mean time between an owner's reads of one page (None: never read).
        self.read_gap = {
            owner: NS_PER_H / access.access_rate if access.access_rate > 0 else None
            for owner, access in self.access.items()
        }
        self.ues: list[Ue] = []  # every UE ever, for the results
        # UEs not cleared, by VM (None: host memory), in creation order so that resets
        # draw from the streams in a reproducible order.
        self.by_vm: dict[int | None, dict[int, Ue]] = {}
        self.on_event: Callable[[Ue, EventKind], None] = _unwired

    # -- sources -------------------------------------------------------------------------
    def poisson_arrivals(self, ue_rate: float, new_id: Callable[[], int]) -> None:
        """UEs at ``ue_rate`` per GiB per hour over the whole host memory (Poisson)."""
        mean_gap = NS_PER_H * GiB / (ue_rate * self.acceleration * self.map.host_bytes)

        def next_arrival() -> None:
            gap, now = self.rng.exponential(mean_gap), self.env.now
            if now + gap < self.horizon_ns:
                self.call_at(now + math.ceil(gap), arrive, None)

        def arrive(_: None) -> None:
            owner, vm = self.map.draw_host(self.rng)
            self.create(new_id(), owner, vm, self.rng.random() < self.p_permanent, "rate")
            next_arrival()

        next_arrival()

    def poison_fault(
        self,
        pages: int,
        permanent: bool,
        source: str,
        new_id: Callable[[], int],
        predicted: bool = False,
    ) -> None:
        """An uncorrected DRAM fault: ``pages`` pages of one owner are poisoned; if its
        pages were soft-offlined already (predicted), nobody can reach them."""
        owner, vm = self.map.draw_host(self.rng)
        for _ in range(pages):
            ue = self.create(new_id(), owner, vm, permanent, source, arm=not predicted)
            if predicted:
                ue.detached = True

    def create(
        self,
        ue_id: int,
        owner: Owner,
        vm: int | None,
        permanent: bool,
        source: str,
        forced_el: int | None = None,
        first_delay: int | None = None,
        arm: bool = True,
    ) -> Ue:
        """Poison one page now and start its race (unless ``arm`` is false)."""
        rng = self.rng
        ue = Ue(
            ue_id=ue_id,
            host=self.host.index,
            hpa=PAGE * rng.below(self.map.host_bytes // PAGE),
            permanent=permanent,
            created_ns=self.env.now,
            source=source,
            owner=owner,
            vm=vm,
            process=self.map.draw_process(rng, owner),
            gpa=self.map.draw_gpa(rng) if owner.in_guest_ram else None,
            forced_el=forced_el,
            first_delay=first_delay,
            scrub_phase=rng.below(self.scrub_period) if self.scrub_period else 0,
        )
        self.ues.append(ue)
        self.by_vm.setdefault(vm, {})[ue_id] = ue
        if arm:
            self.arm(ue)
        return ue

    # -- the race ------------------------------------------------------------------------
    def arm(self, ue: Ue) -> None:
        """Schedule the next thing that can happen to ``ue``: a touch or a scrub. Nothing
        happens to a page while its host or VM is down: the reboot arms it again."""
        ue.timer += 1
        if self._down(ue):
            return
        now = self.env.now
        at = math.inf
        kind = EventKind.SCRUB
        if self._touchable(ue):
            if ue.first_delay is not None:
                at = now + ue.first_delay
                ue.first_delay = None
            elif (gap := self.read_gap[ue.owner]) is not None:
                at = now + self.rng.exponential(gap)
            if at < math.inf:
                retouch = ue.host_poisoned or ue.vmm_unmapped
                kind = EventKind.RETOUCH if retouch else EventKind.CONSUMPTION
        period = self.scrub_period
        if period and not (ue.host_poisoned or ue.scrub_reported or ue.detached):
            scrub = now + period - (now - ue.scrub_phase) % period
            if scrub < at:
                at, kind = scrub, EventKind.SCRUB
        if at < self.horizon_ns:
            self.call_at(math.ceil(at), self._fire, (ue, ue.timer, kind))

    def _down(self, ue: Ue) -> bool:
        """The page's host, or its VM, is not running."""
        return not self.host.up or (ue.vm is not None and not self.host.vms[ue.vm].up)

    @staticmethod
    def _touchable(ue: Ue) -> bool:
        if ue.cleared or ue.detached or ue.guest_poisoned:
            return False
        if ue.host_poisoned or ue.vmm_unmapped:
            # the guest can still reach the GPA, the VMM its own (hwpoisoned) mapping
            return ue.owner.in_guest_ram or ue.owner is Owner.VMM
        return True

    def _fire(self, timer_of: tuple[Ue, int, EventKind]) -> None:
        ue, timer, kind = timer_of
        if timer != ue.timer:
            return
        if self._down(ue):
            return  # the reboot re-arms every page of the host or VM
        if kind is EventKind.CONSUMPTION and ue.owner in _FREE:
            # Allocation writes the page before anyone reads it (clear_page: DC ZVA).
            self.release(ue, within_vm=True)
            return
        if kind is EventKind.CONSUMPTION:
            ue.consumptions += 1
        self.on_event(ue, kind)

    def draw_running_process(self) -> int:
        """The guest process on the vCPU that made a kernel-side read."""
        return self.rng.below(self.map.processes)

    def draw_context(self, ue: Ue) -> tuple[Context, int | None]:
        """The context and exception level of the read that consumes ``ue`` (MODEL 4)."""
        owner = ue.owner
        if owner is Owner.HOST_KERNEL:
            return Context.HOST_KERNEL, 1
        if owner is Owner.VMM:
            return Context.VMM, 0
        if ue.forced_el is not None:
            el = ue.forced_el
        else:
            el = 1 if self.rng.random() < self.access[owner].p_kernel else 0
        if owner is Owner.HOST_STAGE2:
            return Context.HOST_STAGE2_WALK, el
        if owner is Owner.GUEST_PAGE_TABLE:
            return Context.GUEST_STAGE1_WALK, el
        return (Context.GUEST_KERNEL if el else Context.GUEST_USER), el

    # -- after an event --------------------------------------------------------------------
    def _detach(self, ue: Ue) -> None:
        """Nobody can reach the page any more; its pending timer goes stale."""
        ue.detached = True
        ue.timer += 1

    def retire(self, ue: Ue, *, host: bool = False, guest: bool = False, vmm: bool = False) -> None:
        """Record who retired the page (host memory_failure, guest, or VMM unmap)."""
        ue.host_poisoned |= host
        ue.guest_poisoned |= guest
        ue.vmm_unmapped |= vmm
        self.arm(ue)

    def release(self, ue: Ue, *, within_vm: bool) -> None:
        """The page is freed and reused with a rewrite (MODEL 3: transient vs permanent)."""
        if not ue.permanent:
            ue.cleared = True
            ue.timer += 1
            del self.by_vm[ue.vm][ue.ue_id]
            return
        ue.guest_poisoned = False
        ue.scrub_reported = False
        ue.forced_el = None
        if within_vm and ue.owner.in_guest_ram:
            ue.owner = self.map.draw_guest(self.rng)
        else:
            del self.by_vm[ue.vm][ue.ue_id]
            ue.owner, ue.vm = self.map.draw_host(self.rng)
            self.by_vm.setdefault(ue.vm, {})[ue.ue_id] = ue
            ue.gpa = self.map.draw_gpa(self.rng) if ue.owner.in_guest_ram else None
        ue.process = self.map.draw_process(self.rng, ue.owner)
        self.arm(ue)

    def reuse_gpa(self, ue: Ue) -> None:
        """The guest frees the GPA and uses it again: a rewrite if it still maps the
        poisoned page; if the VMM unmapped it or the host retired it, the next owner's
        touches fault to KVM or the VMM instead."""
        if ue.vmm_unmapped or ue.host_poisoned:
            ue.owner = self.map.draw_guest(self.rng)
            ue.process = self.map.draw_process(self.rng, ue.owner)
            self.arm(ue)
        else:
            self.release(ue, within_vm=True)

    def reset_vm(self, vm: int, vmm_restarted: bool, vmm_known: set[int]) -> None:
        """A VM came back: the guest forgot its retired pages; maybe the VMM is new too.

        Pages the VMM knew to be bad are replaced by fresh ones on reset (QEMU
        kvm_unpoison_all()); a new VMM process gets fresh guest RAM altogether.
        """
        for ue in list(self.by_vm.get(vm, {}).values()):
            if ue.detached:
                continue
            retired = ue.host_poisoned or ue.vmm_unmapped
            if not ue.owner.in_guest_ram and not vmm_restarted:
                self.arm(ue)  # VMM memory and stage 2 survive a guest reboot
            elif (ue.owner.in_guest_ram and ue.gpa in vmm_known) or (retired and vmm_restarted):
                self._detach(ue)  # the VMM mapped fresh memory at this GPA
            elif retired:
                ue.guest_poisoned = False
                self.reuse_gpa(ue)
            else:
                self.release(ue, within_vm=not vmm_restarted)

    def reset_host(self) -> None:
        """The host rebooted: memory is rewritten and runtime retirements are forgotten,
        but pages with a logged error are retired at boot when the platform keeps its
        error records (ACPI BERT, read back by the OS or rasdaemon)."""
        for ue in [ue for group in list(self.by_vm.values()) for ue in group.values()]:
            ue.host_poisoned = ue.vmm_unmapped = ue.guest_poisoned = ue.detached = False
            if ue.logged and self.retire_logged_on_boot:
                # Retired at every boot from now on: the page leaves the index for good.
                ue.host_poisoned = True
                self._detach(ue)
                del self.by_vm[ue.vm][ue.ue_id]
            else:
                self.release(ue, within_vm=False)


def _normalise(weights: list[float]) -> list[float]:
    """Cumulative shares, for drawing an index with one uniform number."""
    total = float(sum(weights))
    return list(itertools.accumulate(w / total for w in weights))


def _unwired(ue: Ue, kind: EventKind) -> None:
    raise RuntimeError("memory node is not wired to its host")
