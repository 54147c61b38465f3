"""Memory nodes: poisoned pages, their owners, and the consume-vs-scrub race (MODEL 3).

A UE is one poisoned page. It is *latent* until the first of two clocks runs out: a
read by its owner (exponential, at the owner class's access rate) or the patrol
scrubber's next visit (period ``memory.scrub_period`` with a uniform phase per page).
A free page is never read: its "access" is its allocation, which rewrites it. The
earlier of the two is the page's one pending :class:`~rassim.sim.deadlines.Deadline`;
when it runs out, the memory node opens an error event and sends it on: a read to the
CPU, a touch of a retired GPA to KVM, a scrub to EL3 or the host.

A host's clocks (its pages', its huge pages', its pool's) are on one calendar
(:class:`~rassim.sim.deadlines.Deadlines`) of which only the earliest is on SimPy's
queue: most clocks are cancelled before they run out (the page is retired, its VM
stops, the host panics), and a cancelled one costs no SimPy step unless it was the
earliest. A host that stops drops its whole calendar.

The memory node is the only writer of UE state. The layers act on pages through
:class:`~rassim.model.interfaces.Pages` (by UE id): the page stays poisoned
(:meth:`MemoryNode.rearm`), is retired (:meth:`~MemoryNode.retire`), or its GPA is
reused (:meth:`~MemoryNode.reuse_gpa`). A page rewritten on reuse is cleared if its
fault was transient; a permanent one poisons the page again for its next owner. While a
page's VM or host is down nothing happens to it (its clock is cancelled), and the boot
starts its race again. Everything drawn for a page comes from its UE's ``rng``: the
memory node's stream, or the UE's own (a replayed UE: the same draws in every arm).

A VM's stage-2 table pages leave with it: KVM frees them when the VM is torn down (its
VMM process exits) and, on CPUs without FEAT_S2FWB, when the guest resets. The freeing
walk reads every descriptor, so a still-poisoned table page is consumed by the host
kernel then (:meth:`MemoryNode.vm_stopped`).

Guest RAM backed by hugetlb pages loses a whole huge page when the host poisons it: each
of its other subpages faults at the guest's next touch of it
(:mod:`rassim.model.hugepages`). A subpage touched so becomes a page of its own, keyed by
a negative number (it is not a UE: its events count for the UE whose poisoning took it
out of use).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rassim.model.hugepages import PAGE, PoisonedHugePage, apportion
from rassim.model.interfaces import Retirer
from rassim.model.ledger import RunLedger
from rassim.model.messages import PoisonRead, ScrubReport, Stage2Fault
from rassim.model.outcomes import Context, EventKind
from rassim.model.pool import FreshPages, OwnerClasses
from rassim.scenario import MemoryConfig, Owner, OwnerAccess, Placement, Scenario
from rassim.sim.channel import Channel
from rassim.sim.deadlines import Deadline, Deadlines
from rassim.sim.draws import Draws
from rassim.sim.environment import Environment
from rassim.sim.units import NS_PER_H, parse_size

_FREE = (Owner.HOST_FREE, Owner.GUEST_FREE)
GUEST_RAM_BASE = 0x4000_0000  # QEMU virt: RAM starts at 1 GiB (seed 003: PA 0x40fa6000)
DEVICE_BASE = 0x80_0000_0000  # QEMU virt: the high PCIe MMIO window (BARs) at 512 GiB
_PER_VM = (Owner.HOST_STAGE2, Owner.VMM, Owner.DEVICE)  # host-level owners that are a VM's
# Members the per-event code compares with, as module names: an enum class's attribute
# costs some 70 ns on Python 3.11, a module name some 10.
_CONSUMPTION, _RETOUCH, _SCRUB = EventKind.CONSUMPTION, EventKind.RETOUCH, EventKind.SCRUB
_VMM, _DEVICE, _GUEST_ANON = Owner.VMM, Owner.DEVICE, Owner.GUEST_ANON
# What a read of a page is (MODEL 4): by its owner, at a fixed exception level; or for
# the EL drawn (EL0, EL1), by its owner, else a guest's user or kernel access.
_FIXED_EL = {Owner.HOST_KERNEL: (Context.HOST_KERNEL, 1), Owner.VMM: (Context.VMM, 0)}
_WALKS = {
    Owner.HOST_STAGE2: (Context.HOST_STAGE2_WALK,) * 2,
    Owner.GUEST_PAGE_TABLE: (Context.GUEST_STAGE1_WALK,) * 2,
}
_GUEST_ACCESS = (Context.GUEST_USER, Context.GUEST_KERNEL)


@dataclass(slots=True, eq=False)
class Ue:
    """One uncorrected error: a poisoned 4 KiB page and who owns it now; or a subpage of a
    huge page the host poisoned for it (``parent``: that UE; ``ue_id``: its page key)."""

    ue_id: int
    host: int
    hpa: int
    permanent: bool
    created_ns: int
    source: str  # "rate", "einj" or "fault:<mode>"
    owner: Owner
    vm: int | None
    process: int | None
    gpa: int | None
    rng: Draws  # its draws: the memory node's stream, or its own (a replayed UE)
    forced_el: int | None = None  # EINJ: consume at EL1 (1) or EL0 (0)
    first_delay: int | None = None  # EINJ: consume exactly this long after injection
    scrub_phase: int = 0
    host_poisoned: bool = False  # memory_failure() retired the host page
    vmm_unmapped: bool = False  # the VMM removed the GPA from stage 2
    guest_poisoned: bool = False  # the guest's memory_failure() retired the GPA
    detached: bool = False  # nobody can reach the page any more (replaced on VM reset)
    pg_hwpoison: bool = False  # memory_failure() flagged it but could not isolate it
    freeing: bool = False  # KVM's walk freeing the VM's stage-2 tables is reading it
    cleared: bool = False
    scrub_reported: bool = False
    logged: bool = False  # the host holds a record of it (CPER, or the panic it caused)
    consumptions: int = 0
    events: int = 0
    clock: Deadline | None = None  # its next touch or scrub (or one that ran, or was cleared)
    due: EventKind = EventKind.SCRUB  # what happens when the clock runs out
    parent: Ue | None = None  # a subpage: the UE whose host poisoning took it out
    huge: PoisonedHugePage | None = None  # the host poisoned the huge page holding it
    slot: int = -1  # its place among the pages whose owner is not drawn yet (-1: not one)


def keeps_ue_mapped(scenario: Scenario) -> bool:
    """memory_failure() keeps a poisoned hugetlb page mapped (MFD_MF_KEEP_UE_MAPPED, a
    hugetlb memfd flag: moot for 4 KiB backing)."""
    hugetlb = parse_size(scenario.guest.backing_page) > PAGE
    return scenario.hypervisor.hugetlb_keep_ue_mapped and hugetlb


def host_poison_bytes(scenario: Scenario) -> int:
    """What the host's poisoning of a guest RAM page costs: its whole backing page, or
    4 KiB when the hugetlb memfd keeps the huge page mapped."""
    return PAGE if keeps_ue_mapped(scenario) else parse_size(scenario.guest.backing_page)


# The host-level owners a logged page type allows (None: guest RAM), docs/replay.md.
_ALL: tuple[Owner | None, ...] = (
    Owner.HOST_KERNEL,
    Owner.HOST_STAGE2,
    Owner.VMM,
    Owner.HOST_FREE,
    Owner.DEVICE,
    None,
)
PLACED: dict[Placement, tuple[Owner | None, ...]] = {
    Placement.HOST_KERNEL: (Owner.HOST_KERNEL,),
    Placement.KERNEL_UNTYPED: (Owner.HOST_KERNEL, Owner.HOST_STAGE2),
    Placement.HOST_FREE: (Owner.HOST_FREE,),
    Placement.VMM_MAPPED: (Owner.VMM, None),
    Placement.GUEST_RAM: (None,),
    Placement.MEMORY_MAP: _ALL,
    Placement.REPEAT: _ALL,  # with no earlier UE of the page to take the owner of
}


class MemoryMap:
    """The memory a scenario gives each of its hosts (MODEL 3.1): owner classes weighted
    by bytes, for drawing page owners, and how often each owner reads a page.

    It depends on the scenario alone: one is built for a group of hosts and shared by
    them, so nothing in it is written to once it is built (its sequences are tuples).
    """

    def __init__(self, scenario: Scenario) -> None:
        m, g = scenario.memory, scenario.guest
        self.vms = scenario.fleet.vms_per_host
        self.guest_memory = g.memory
        self.processes = g.processes
        guest_ram = self.vms * g.memory
        sizes: dict[Owner | None, int] = {
            Owner.HOST_KERNEL: m.host_kernel,
            Owner.HOST_STAGE2: self.vms * m.stage2_per_vm,
            Owner.VMM: self.vms * m.vmm_per_vm,
            Owner.DEVICE: self.vms * m.device_per_vm,
            None: guest_ram,
        }
        sizes[Owner.HOST_FREE] = m.host_memory - sum(sizes.values())
        self.host_owners = _ALL
        self.host_weights = _normalise([sizes[owner] for owner in _ALL])
        # Each placement's owners, weighted by their sizes.
        self.placed: Mapping[Placement, tuple[tuple[Owner | None, ...], tuple[float, ...]]] = {
            placement: (owners, _normalise([sizes[owner] for owner in owners]))
            for placement, owners in PLACED.items()
        }
        self.device_memory = m.device_per_vm
        self.guest_owners = tuple(g.memory_map)
        self.guest_shares = tuple(g.memory_map.values())
        self.guest_weights = _normalise(self.guest_shares)
        self.host_bytes = m.host_memory
        self.backing_page = parse_size(g.backing_page)
        self.keep_ue_mapped = keeps_ue_mapped(scenario)
        # Mean time between an owner's reads of one page (None: never read).
        self.read_gap: Mapping[Owner, float | None] = {
            owner: NS_PER_H / access.access_rate if access.access_rate > 0 else None
            for owner, access in m.access.items()
        }
        self.guest_rates = tuple(
            m.access[owner].access_rate / NS_PER_H for owner in self.guest_owners
        )
        # Every owner class of the host (an owner and its VM, if it belongs to one), and
        # the classes as the pool of rewritten pages draws them.
        self.owner_classes, shares = self._classes()
        self.fresh_classes = self._fresh_classes(shares, m.access)

    def _classes(self) -> tuple[tuple[tuple[Owner, int | None], ...], list[float]]:
        """Every owner class of the host and its probability under :meth:`draw_host`."""
        classes: list[tuple[Owner, int | None]] = []
        shares: list[float] = []
        guest = _shares(self.guest_weights)
        for owner, share in zip(self.host_owners, _shares(self.host_weights), strict=True):
            if owner is None:
                for vm in range(self.vms):
                    classes += [(g, vm) for g in self.guest_owners]
                    shares += [share / self.vms * g for g in guest]
            elif owner in _PER_VM:
                classes += [(owner, vm) for vm in range(self.vms)]
                shares += [share / self.vms] * self.vms
            else:
                classes.append((owner, None))
                shares.append(share)
        return tuple(classes), shares

    def _fresh_classes(
        self, shares: list[float], access: Mapping[Owner, OwnerAccess]
    ) -> OwnerClasses:
        """The owner classes as the pool of rewritten pages needs them: a touch of free
        memory is its allocation, which gives the page a new owner (a guest's free page
        stays in its VM's RAM, a free host page goes anywhere)."""
        index = {cls: i for i, cls in enumerate(self.owner_classes)}
        everywhere = (list(range(len(shares))), list(itertools.accumulate(shares)))
        moves: list[tuple[Sequence[int], Sequence[float]] | None] = []
        by_vm: list[list[int]] = [[] for _ in range(self.vms)]
        for i, (owner, vm) in enumerate(self.owner_classes):
            if owner is Owner.HOST_FREE:
                moves.append(everywhere)
            elif owner is Owner.GUEST_FREE:
                guest = [index[(g, vm)] for g in self.guest_owners]
                moves.append((guest, self.guest_weights))
            else:
                moves.append(None)
            if vm is not None:
                by_vm[vm].append(i)
        return OwnerClasses(
            shares,
            [access[owner].access_rate / NS_PER_H for owner, _ in self.owner_classes],
            [owner is not Owner.DEVICE for owner, _ in self.owner_classes],
            moves,
            by_vm,
        )

    def draw_host(self, rng: Draws) -> tuple[Owner, int | None]:
        """An owner for a page anywhere on the host, and its VM if it belongs to one."""
        return self._draw(rng, self.host_owners, self.host_weights)

    def draw_placed(self, rng: Draws, placement: Placement) -> tuple[Owner, int | None]:
        """An owner for a page where a logged page type places it, and its VM."""
        return self._draw(rng, *self.placed[placement])

    def _draw(
        self, rng: Draws, owners: Sequence[Owner | None], weights: Sequence[float]
    ) -> tuple[Owner, int | None]:
        owner = owners[rng.index(weights)]
        if owner is None:
            return self.draw_guest(rng), rng.below(self.vms)
        vm = rng.below(self.vms) if owner in _PER_VM else None
        return owner, vm

    def draw_guest(self, rng: Draws) -> Owner:
        """An owner class for a page of guest RAM."""
        return self.guest_owners[rng.index(self.guest_weights)]

    def draw_gpa(self, rng: Draws, owner: Owner) -> int | None:
        """A GPA for a page of ``owner`` in the guest's address space: guest RAM, or the
        device memory BAR; None for host memory."""
        if owner.in_guest_ram:
            return GUEST_RAM_BASE + PAGE * rng.below(self.guest_memory // PAGE)
        if owner is _DEVICE:
            return DEVICE_BASE + PAGE * rng.below(self.device_memory // PAGE)
        return None

    def draw_process(self, rng: Draws, owner: Owner) -> int | None:
        return rng.below(self.processes) if owner is _GUEST_ANON else None


class MemoryNode:
    """The memory of one host: its poisoned pages, their races, their reuse.

    Sends :class:`PoisonRead` to the CPU on a consumption, :class:`Stage2Fault` to KVM
    when the guest touches a retired or unmapped GPA, :class:`ScrubReport` on a scrub.
    """

    def __init__(
        self,
        env: Environment,
        host: int,
        config: MemoryConfig,
        memory_map: MemoryMap,
        retire_logged_on_boot: bool,
        stage2_fwb: bool,
        rng: Draws,
        horizon_ns: int,
        ledger: RunLedger,
        reads: Channel[PoisonRead],
        retouches: Channel[Stage2Fault],
        scrubs: Channel[ScrubReport],
    ) -> None:
        self.env = env
        self.host = host
        self.map = memory_map
        self.rng = rng
        self.deadlines = Deadlines(env, horizon_ns)
        self.ledger = ledger
        self.reads = reads
        self.retouches = retouches
        self.scrubs = scrubs
        self.retire_logged_on_boot = retire_logged_on_boot
        self.stage2_fwb = stage2_fwb
        self.scrub_period = config.scrub_period
        self.access = config.access
        self.read_gap = memory_map.read_gap
        self.guest_rates = memory_map.guest_rates
        self.owner_classes = memory_map.owner_classes
        self.subpage_keys = itertools.count(-1, -1)
        self.ues: list[Ue] = []  # every UE ever, for the results
        self.pages: dict[int, Ue] = {}  # UEs not cleared nor retired for good, by id
        # The same by VM (None: host memory), in creation order so that resets draw from
        # the stream in a reproducible order.
        self.by_vm: dict[int | None, dict[int, Ue]] = {}
        self.host_running = True
        self.vms_down: set[int] = set()
        # Pages a host reboot rewrote, until their new owners are drawn.
        self.fresh: FreshPages[Ue] = FreshPages(
            rng,
            memory_map.fresh_classes,
            self.scrub_period,
            self.deadlines,
            self.vms_down,
            self._claim,
        )

    def _claim(self, ue: Ue, cls: int, touched: bool | None) -> None:
        """A rewritten page's owner class is drawn (:class:`FreshPages`): it gets its GPA
        and process, and is touched or scrubbed now, or armed like any other page."""
        owner, vm = self.owner_classes[cls]
        ue.owner, ue.vm = owner, vm
        ue.gpa = self.map.draw_gpa(self.rng, owner)
        ue.process = self.map.draw_process(self.rng, owner)
        self._index(ue)
        if touched is None:
            self._arm(ue)
        else:
            ue.due = EventKind.CONSUMPTION if touched else EventKind.SCRUB
            self._touch(ue)

    def finish(self) -> None:
        """The run is over: rewritten pages whose owners were never drawn get theirs (for
        the UE table), and nothing is armed any more."""
        self.host_running = False
        self.fresh.drain()

    # -- poisoning (called by the UE sources) -----------------------------------------------
    def draw_owner(self) -> tuple[Owner, int | None]:
        """An owner for a newly poisoned page, drawn from the memory map."""
        return self.map.draw_host(self.rng)

    def poison(
        self,
        ue_id: int,
        owner: Owner,
        vm: int | None,
        permanent: bool,
        source: str,
        forced_el: int | None = None,
        first_delay: int | None = None,
        reachable: bool = True,
        hpa: int | None = None,
        rng: Draws | None = None,
    ) -> Ue:
        """Poison one page now and start its race; a page nobody can reach (its fault was
        predicted and the page soft-offlined) never starts one. ``hpa``: the page's host
        physical address (drawn if not given); ``rng``: the UE's own draws for everything
        that happens to it (default: the memory node's stream)."""
        rng = self.rng if rng is None else rng
        ue = Ue(
            ue_id=ue_id,
            host=self.host,
            hpa=PAGE * rng.below(self.map.host_bytes // PAGE) if hpa is None else hpa,
            permanent=permanent,
            created_ns=self.env.now,
            source=source,
            owner=owner,
            vm=vm,
            process=self.map.draw_process(rng, owner),
            gpa=self.map.draw_gpa(rng, owner),
            rng=rng,
            forced_el=forced_el,
            first_delay=first_delay,
            scrub_phase=rng.below(self.scrub_period) if self.scrub_period else 0,
            detached=not reachable,
        )
        self.ues.append(ue)
        self._index(ue)
        if reachable:
            self._arm(ue)
        return ue

    def _index(self, ue: Ue) -> None:
        self.pages[ue.ue_id] = ue
        self.by_vm.setdefault(ue.vm, {})[ue.ue_id] = ue

    def _unindex(self, ue: Ue) -> None:
        del self.pages[ue.ue_id]
        del self.by_vm[ue.vm][ue.ue_id]

    # -- the race ----------------------------------------------------------------------------
    def _arm(self, ue: Ue) -> None:
        """Start the page's next race: a touch or a scrub, whichever comes first."""
        self._stop_clock(ue)
        if not self.host_running or ue.vm in self.vms_down:
            return  # the boot arms it again
        now = self.env.now
        at = math.inf
        kind = _SCRUB
        owner = ue.owner
        retired = ue.host_poisoned or ue.vmm_unmapped
        # A retired page is touched while the guest can still reach the GPA, or the VMM
        # its own (hwpoisoned) mapping.
        touchable = not retired or ue.gpa is not None or owner is _VMM
        if touchable and not (ue.cleared or ue.detached or ue.guest_poisoned):
            if ue.first_delay is not None:
                at = now + ue.first_delay
                ue.first_delay = None
            elif (gap := self.read_gap[owner]) is not None:
                at = now + ue.rng.exponential(gap)
            if at < math.inf:
                retouch = retired and (ue.vmm_unmapped or self._host_unmapped(ue))
                kind = _RETOUCH if retouch else _CONSUMPTION
        period = self.scrub_period
        # Device memory is not on the host's DRAM patrol scrubber (assumption).
        scrubbed = not (ue.host_poisoned or ue.scrub_reported or ue.detached)
        if period and scrubbed and owner is not _DEVICE:
            scrub = now + period - (now - ue.scrub_phase) % period
            if scrub < at:
                at, kind = scrub, _SCRUB
        ue.due = kind
        ue.clock = self.deadlines.arm(at, ue, self._run_out)
        if ue.huge is not None and not ue.detached:
            self._arm_huge(ue, ue.huge)

    @staticmethod
    def _stop_clock(ue: Ue) -> None:
        """The page's pending touch or scrub (and its huge page's) no longer matters."""
        if ue.clock is not None:
            ue.clock.cancel()
            ue.clock = None
        if ue.huge is not None and ue.huge.clock is not None:
            ue.huge.clock.cancel()
            ue.huge.clock = None

    def _host_unmapped(self, ue: Ue) -> bool:
        """memory_failure() unmapped the page from the VMM and stage 2: a touch faults
        to KVM instead of reading the poison (unless the hugetlb memfd keeps it mapped)."""
        return ue.host_poisoned and not (self.map.keep_ue_mapped and ue.owner.in_guest_ram)

    # -- huge pages the host poisoned whole ----------------------------------------------------
    def _poison_huge_page(self, ue: Ue) -> None:
        """try_memory_failure_hugetlb(): the whole huge page holding ``ue`` is unmapped.
        Its other subpages hold the guest memory map's shares (apportioned, not drawn:
        an assumption)."""
        subpages = self.map.backing_page // PAGE
        gpa: int = ue.gpa  # type: ignore[assignment]
        base = gpa & ~(self.map.backing_page - 1)
        untouched = apportion(subpages - 1, self.map.guest_shares)
        ue.huge = PoisonedHugePage(
            base, subpages, (gpa - base) // PAGE, untouched, list(self.guest_rates)
        )

    def _arm_huge(self, ue: Ue, huge: PoisonedHugePage) -> None:
        """The next first touch of one of the huge page's untouched subpages."""
        rate = huge.rate()
        if rate > 0:
            at = self.env.now + ue.rng.exponential(1 / rate)
            huge.clock = self.deadlines.arm(at, ue, self._touch_huge)

    def _touch_huge(self, parent: Ue) -> None:
        """The guest touches a subpage of the poisoned huge page for the first time since:
        hugetlb_fault() -> VM_FAULT_HWPOISON_LARGE -> SIGBUS AR for that GPA."""
        huge: PoisonedHugePage = parent.huge  # type: ignore[assignment]
        huge.clock = None
        index, gpa = huge.touch(parent.rng)
        owner = self.map.guest_owners[index]
        subpage = Ue(
            ue_id=next(self.subpage_keys),
            host=self.host,
            hpa=parent.hpa,
            permanent=False,
            created_ns=self.env.now,
            source=parent.source,
            owner=owner,
            vm=parent.vm,
            process=self.map.draw_process(parent.rng, owner),
            gpa=gpa,
            rng=parent.rng,
            host_poisoned=True,
            due=EventKind.RETOUCH,
            parent=parent,
        )
        self._index(subpage)
        self._touch(subpage)
        self._arm_huge(parent, huge)

    def _run_out(self, ue: Ue) -> None:
        """The page's clock ran out: it is read, re-touched or scrubbed now."""
        ue.clock = None
        self._touch(ue)

    def _touch(self, ue: Ue) -> None:
        """``ue`` is read, re-touched or scrubbed now (``ue.due``): an error event opens."""
        kind = ue.due
        if kind is _CONSUMPTION and ue.owner in _FREE:
            # Allocation writes the page before anyone reads it (clear_page: DC ZVA).
            self._release(ue, within_vm=True)
            return
        process = ue.process
        counted = ue.parent or ue  # the UE the event belongs to
        if kind is _SCRUB:
            context, el = Context.SCRUBBER, None
        else:
            if kind is _CONSUMPTION:
                counted.consumptions += 1
            context, el = self._context(ue)
            if process is None and context.in_guest:
                process = ue.rng.below(self.map.processes)  # running on the vCPU
        counted.events += 1
        error = self.ledger.open_event(
            kind,
            counted.ue_id,
            self.host,
            ue.vm,
            process,
            ue.owner,
            ue.gpa,
            context,
            el,
            self.env.now,
            ue.ue_id,
        )
        if kind is _CONSUMPTION:
            self.reads.send(PoisonRead(error))
        elif kind is _RETOUCH:
            # KVM checks a userfault GPA before it looks for the pfn (KVM Userfault v1 06/13).
            hwpoisoned = self._host_unmapped(ue) and not ue.vmm_unmapped
            self.retouches.send(Stage2Fault(error, hwpoisoned))
        else:
            self.scrubs.send(ScrubReport(error))

    def _context(self, ue: Ue) -> tuple[Context, int | None]:
        """The context and exception level of the read that consumes ``ue`` (MODEL 4)."""
        owner = ue.owner
        fixed = _FIXED_EL.get(owner)
        if fixed is not None:
            return fixed
        el = ue.forced_el
        if el is None:
            el = 1 if ue.rng.random() < self.access[owner].p_kernel else 0
        return _WALKS.get(owner, _GUEST_ACCESS)[el], el

    # -- what the layers do to a page (rassim.model.interfaces.Pages) ------------------------
    def rearm(self, ue_id: int) -> None:
        ue = self.pages[ue_id]
        if not ue.freeing:
            self._arm(ue)
            return
        # The freeing walk went on: free_pages_prepare() keeps a PG_hwpoison page out of
        # the buddy allocator; any other returns to the free pool for its next owner.
        ue.freeing = False
        if ue.pg_hwpoison:
            self.retire(ue_id, Retirer.HOST)
        else:
            self._release(ue, within_vm=False)

    def retire(self, ue_id: int, by: Retirer) -> None:
        ue = self.pages[ue_id]
        if by is Retirer.HOST:
            ue.host_poisoned = True
            whole = ue.owner.in_guest_ram and self.map.backing_page > PAGE
            if whole and ue.huge is None and ue.parent is None and not self.map.keep_ue_mapped:
                self._poison_huge_page(ue)
        elif by is Retirer.VMM:
            ue.vmm_unmapped = True
        elif by is Retirer.GUEST:
            ue.guest_poisoned = True
        else:
            ue.freeing = False
            ue.detached = True
        self._arm(ue)

    def mark_hwpoison(self, ue_id: int) -> None:
        self.pages[ue_id].pg_hwpoison = True

    def reuse_gpa(self, ue_id: int) -> None:
        """The guest frees the GPA and uses it again: a rewrite if it still maps the
        poisoned page; if the VMM unmapped it or the host retired it, the next owner's
        touches fault to KVM or the VMM instead."""
        ue = self.pages[ue_id]
        if ue.vmm_unmapped or ue.host_poisoned:
            ue.owner = self.map.draw_guest(ue.rng)
            ue.process = self.map.draw_process(ue.rng, ue.owner)
            self._arm(ue)
        else:
            self._release(ue, within_vm=True)

    def log(self, ue_id: int) -> None:
        self.pages[ue_id].logged = True

    def leave_reported(self, ue_id: int) -> None:
        ue = self.pages[ue_id]
        ue.scrub_reported = True
        self._arm(ue)

    def _release(self, ue: Ue, *, within_vm: bool) -> None:
        """The page is freed and reused with a rewrite (MODEL 3: transient vs permanent)."""
        if not ue.permanent:
            ue.cleared = True
            self._stop_clock(ue)
            self._unindex(ue)
            return
        ue.guest_poisoned = False
        ue.scrub_reported = False
        ue.forced_el = None
        rng = ue.rng
        if within_vm and ue.owner.in_guest_ram:
            ue.owner = self.map.draw_guest(rng)
        else:
            self._unindex(ue)
            ue.owner, ue.vm = self.map.draw_host(rng)
            self._index(ue)
            ue.gpa = self.map.draw_gpa(rng, ue.owner)
        ue.process = self.map.draw_process(rng, ue.owner)
        self._arm(ue)

    # -- VMs and the host going down and coming back -----------------------------------------
    def vm_stopped(self, vm: int, vmm_dies: bool) -> None:
        """The VM stopped: its pages' races no longer matter. KVM frees its stage-2 tables
        if its VMM process exits (kvm_destroy_vm() -> kvm_pgtable_stage2_destroy()) or, on
        a CPU without FEAT_S2FWB, as the guest resets (kvm_arch_vcpu_ioctl_vcpu_init() ->
        stage2_unmap_vm())."""
        self.vms_down.add(vm)
        self.fresh.vm_stopped(vm)
        pages = list(self.by_vm.get(vm, {}).values())
        for ue in pages:
            self._stop_clock(ue)
        if vmm_dies or not self.stage2_fwb:
            walk = "kvm_pgtable_stage2_destroy()" if vmm_dies else "stage2_unmap_vm()"
            for ue in pages:
                if ue.owner is Owner.HOST_STAGE2 and not (ue.detached or ue.cleared):
                    self._free_stage2_page(ue, walk)

    def _free_stage2_page(self, ue: Ue, walk: str) -> None:
        """The freeing walk (stage2_free_walker / stage2_unmap_walker) reads every
        descriptor of every table page, so the host kernel consumes the poisoned line:
        the hypervisor decides what follows (die(): the page is leaked, or the host
        panics), and the page is freed only if the walk goes on (:meth:`rearm`)."""
        ue.freeing = True
        ue.consumptions += 1
        ue.events += 1
        error = self.ledger.open_event(
            EventKind.CONSUMPTION,
            ue.ue_id,
            self.host,
            None,
            None,
            ue.owner,
            None,
            Context.HOST_STAGE2_FREE,
            1,
            self.env.now,
        )
        self.ledger.step(error, walk)
        self.reads.send(PoisonRead(error))

    def host_stopped(self) -> None:
        """The host stopped: no page's race matters (every clock of the host is dropped at
        once; the pages' handles to theirs are left, cancelling one does nothing)."""
        self.host_running = False
        self.fresh.stop()
        self.deadlines.clear()

    def vm_booted(self, vm: int, vmm_restarted: bool, vmm_known: set[int]) -> None:
        """A VM came back: the guest forgot its retired pages; maybe the VMM is new too.

        Pages the VMM knew to be bad are replaced by fresh ones on reset, a whole backing
        page at a time (QEMU kvm_unpoison_all() -> qemu_ram_remap()); a new VMM process
        gets fresh guest RAM altogether.
        """
        self.vms_down.discard(vm)
        mask = ~(self.map.backing_page - 1)
        remapped = {gpa & mask for gpa in vmm_known}
        for ue in list(self.by_vm.get(vm, {}).values()):
            if ue.detached or ue.freeing:
                continue
            retired = ue.host_poisoned or ue.vmm_unmapped
            if ue.owner is _DEVICE:
                # The device keeps its poison: QEMU cannot remap a RAM-device block
                # (qemu_ram_remap() skips RAM_PREALLOC) and the VMM forgot what it unmapped.
                ue.vmm_unmapped = False
                self._arm(ue)
            elif ue.owner is Owner.HOST_STAGE2 or (not ue.owner.in_guest_ram and not vmm_restarted):
                # VMM memory survives a guest reboot; stage-2 tables still in the VM's
                # index were kept (FEAT_S2FWB) or newly allocated to it
                self._arm(ue)
            elif (ue.gpa is not None and ue.gpa & mask in remapped) or (retired and vmm_restarted):
                ue.detached = True  # the VMM mapped fresh memory at this GPA
            elif retired:
                ue.guest_poisoned = False
                self.reuse_gpa(ue.ue_id)
            else:
                self._release(ue, within_vm=not vmm_restarted)

    def host_booted(self) -> None:
        """The host rebooted (every VM with it): memory is rewritten and runtime
        retirements are forgotten, but pages with a logged error are retired at boot when
        the platform keeps its error records (ACPI BERT, read back by the OS or rasdaemon)."""
        self.host_running = True
        self.vms_down.clear()
        rewritten = []
        for ue in list(self.pages.values()):
            if ue.parent is not None:  # its huge page is whole again
                self._unindex(ue)
                continue
            ue.host_poisoned = ue.vmm_unmapped = ue.guest_poisoned = ue.detached = False
            ue.pg_hwpoison = ue.freeing = False
            ue.huge = None
            if ue.logged and self.retire_logged_on_boot:
                # Retired at every boot from now on: the page leaves the index for good.
                ue.host_poisoned = ue.detached = True
                self._unindex(ue)
            elif ue.permanent and ue.rng is self.rng and ue.first_delay is None:
                # A new owner, drawn when it matters (a replayed UE draws its own now).
                ue.scrub_reported = False
                ue.forced_el = None
                self._unindex(ue)
                rewritten.append(ue)
            else:
                self._release(ue, within_vm=False)
        self.fresh.fill(rewritten)


def _shares(cumulative: Sequence[float]) -> list[float]:
    """The shares whose running sums are ``cumulative``."""
    return [b - a for a, b in itertools.pairwise([0.0, *cumulative])]


def _normalise(weights: Sequence[float]) -> tuple[float, ...]:
    """Cumulative shares, for drawing an index with one uniform number; equal shares if
    every weight is 0 (a page type naming an owner the scenario gives no memory)."""
    total = float(sum(weights))
    if total <= 0:
        weights, total = [1.0] * len(weights), float(len(weights))
    return tuple(itertools.accumulate(w / total for w in weights))
