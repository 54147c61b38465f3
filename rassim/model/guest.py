"""The guest kernel and its processes (MODEL 7; arch/arm64/mm/fault.c, kernel/traps.c)."""

from __future__ import annotations

from collections.abc import Callable
from types import MethodType
from typing import ClassVar

from rassim.arch.esr import ESR_ELx_FSC, ESR_ELx_FSC_EXTABT
from rassim.model.interfaces import Ledger, Pages, Retirer
from rassim.model.messages import (
    ErrorEvent,
    ExternalAbort,
    GhesNotify,
    InjectedSea,
    ReadAck,
    VirtualSError,
)
from rassim.model.outcomes import Context, Outcome
from rassim.scenario import DeviceMf, GuestConfig, Owner
from rassim.sim.channel import Channel, Inbox, Reader
from rassim.sim.draws import Draws

# Guest memory_failure() on the guest page, by what the page holds (mm/memory-failure.c):
# the accessing process gets BUS_MCEERR_AR for data it loses; clean and free pages are
# dropped with no kill; kernel pages cannot be isolated (MF_IGNORED) and
# memory_failure_cb() sends the current task a plain SIGBUS.
_KILLS = (Owner.GUEST_ANON, Owner.GUEST_PAGE_CACHE_DIRTY)
_RECOVERS = (Owner.GUEST_PAGE_CACHE_CLEAN, Owner.GUEST_FREE)
DeviceFailure = Callable[["GuestKernel", ErrorEvent], None]


class GuestKernel:
    """One VM's guest kernel: takes SEAs (injected by the VMM, or its own without
    FEAT_RAS), virtual SErrors and action-optional GHES notifications."""

    def __init__(
        self,
        config: GuestConfig,
        rng: Draws,
        ledger: Ledger,
        pages: Pages,
        inbox: Inbox[InjectedSea | ExternalAbort | VirtualSError | GhesNotify],
        to_vmm: Channel[ReadAck],
    ) -> None:
        self.rng = rng
        self.ledger = ledger
        self.pages = pages
        self.inbox = inbox
        self.to_vmm = to_vmm  # the GHES Read Ack register
        self.panic_on_oops = config.panic_on_oops
        self.oops_limit = config.oops_limit
        self.p_interrupt = config.p_interrupt
        self.p_handles_sigbus = config.p_handles_sigbus
        self.device_failure = MethodType(self.DEVICE_MF[config.device_mf], self)
        self.copy_mc = config.copy_mc
        self.p_copy_mc = config.p_copy_mc
        self.oopses = 0  # since boot

    def take_exceptions(self) -> Reader[InjectedSea | ExternalAbort | VirtualSError | GhesNotify]:
        """Each exception the guest is given, handled as its kernel would."""
        while True:
            message = yield self.inbox.get()
            match message:
                case InjectedSea():
                    self.do_sea(message.error, message.esr, message.cper)
                case ExternalAbort():  # no FEAT_RAS: its own abort, its GHES is empty
                    self.do_sea(message.error, message.esr, False)
                case VirtualSError():
                    self.do_serror(message.error, message.esr)
                case GhesNotify():
                    self.ghes_notify(message.error)

    def boot(self) -> None:
        self.oopses = 0

    def do_sea(self, error: ErrorEvent, esr: int, cper: bool) -> None:
        """Mirrors do_sea(): APEI is consulted for user-mode aborts only (for every abort
        with ``guest.copy_mc``); otherwise arm64_notify_die() with the fault_info signal
        for the DFSC, or die() in kernel."""
        if error.el:
            if self.copy_mc:
                self._kernel_sea_copy_mc(error, esr, cper)
            else:
                self.ledger.guest_took(error, esr, False)
                self._die(error)
            return
        self.ledger.guest_took(error, esr, cper)
        if cper:
            self._ack(error)
            self._memory_failure(error)
            return
        # fault_info[]: 0x10 "synchronous external abort" SIGBUS/BUS_OBJERR; walk codes SIGKILL.
        if esr & ESR_ELx_FSC == ESR_ELx_FSC_EXTABT:
            detail = "arm64_notify_die(): BUS_OBJERR"
        else:
            detail = "arm64_notify_die(): SIGKILL"
        self.ledger.resolve(error, Outcome.PROCESS_KILLED, detail)
        if error.owner is Owner.GUEST_ANON:
            self.pages.reuse_gpa(error.page)  # the dead process's pages are freed
        else:
            self.pages.rearm(error.page)

    def _kernel_sea_copy_mc(self, error: ErrorEvent, esr: int, cper: bool) -> None:
        """do_apei_claim_sea() of the arm64 copy_mc series (v13): apei_claim_sea() runs for
        every SEA, so a record is read and acknowledged (ghes_clear_estatus() writes Read
        Ack) even when the kernel then dies. Claimed, outside interrupt context (where
        apei_claim_sea() returns -EINPROGRESS) and inside a copy with an exception fixup
        (fixup_exception_me()), the copy fails and memory_failure() runs; else die()."""
        self.ledger.guest_took(error, esr, cper)
        in_interrupt = self.rng.random() < self.p_interrupt
        if not cper:
            self._die(error, in_interrupt)
            return
        self._ack(error)
        copying = error.context is Context.GUEST_KERNEL and self.rng.random() < self.p_copy_mc
        if copying and not in_interrupt:
            self._copy_failed(error)
        else:
            self._die(error, in_interrupt)

    def _copy_failed(self, error: ErrorEvent) -> None:
        """The copy returns short (the syscall sees -EFAULT) and the GHES task work runs
        memory_failure(MF_ACTION_REQUIRED) on the source page as for a user access, except
        that a reader of a dirty page-cache page does not map it: the page is dropped (its
        mapping records -EIO) and only the syscall fails (assumption: the process survives
        a failed read(2) or write(2), as it does for a clean page)."""
        self.ledger.step(error, "copy_mc: the copy fails")
        if error.owner is Owner.GUEST_PAGE_CACHE_DIRTY:
            self.pages.retire(error.page, Retirer.GUEST)
            self.ledger.resolve(error, Outcome.RECOVERED, "guest memory_failure(): page dropped")
        else:
            self._memory_failure(error)

    def _die(self, error: ErrorEvent, in_interrupt: bool | None = None) -> None:
        """die(): panic in interrupt context (``in_interrupt``, drawn here unless the caller
        knows it), with panic_on_oops, or once oops_limit oopses were counted since boot
        (kernel/panic.c check_panic_on_warn/oops_limit); else kill the current task."""
        self.oopses += 1
        limit_hit = self.oops_limit and self.oopses >= self.oops_limit
        panics = self.panic_on_oops or limit_hit
        if not panics:
            panics = self.rng.random() < self.p_interrupt if in_interrupt is None else in_interrupt
        if panics:
            self.ledger.crash_vm(error, Outcome.VM_CRASHED, "die(): guest kernel panic", False)
            return
        self.ledger.resolve(error, Outcome.PROCESS_KILLED, "die(): current task killed")
        self.pages.rearm(error.page)

    def _memory_failure(self, error: ErrorEvent) -> None:
        """Guest APEI claimed the SEA: memory_failure(MF_ACTION_REQUIRED) on the guest page
        (on device memory: memory_failure_pfn(), by guest.device_mf)."""
        if error.owner is Owner.DEVICE:
            self.device_failure(error)
        elif error.owner in _RECOVERS:
            self.pages.retire(error.page, Retirer.GUEST)
            self.ledger.resolve(error, Outcome.RECOVERED, "guest memory_failure(): page dropped")
        elif error.owner in _KILLS:
            self.pages.retire(error.page, Retirer.GUEST)
            self._action_required(error, "guest memory_failure(): BUS_MCEERR_AR")
        else:
            self.ledger.resolve(error, Outcome.PROCESS_KILLED, "guest memory_failure(): MF_IGNORED")
            self.pages.rearm(error.page)

    def _device_unregistered(self, error: ErrorEvent) -> None:
        """memory_failure_pfn() finds no registered range: MF_MSG_PFN_MAP, MF_IGNORED, and
        memory_failure_cb() sends the process a plain SIGBUS; the pfn stays mapped."""
        self.ledger.resolve(error, Outcome.PROCESS_KILLED, "guest memory_failure_pfn(): MF_IGNORED")
        self.pages.rearm(error.page)

    def _device_registered(self, error: ErrorEvent) -> None:
        """A guest driver registered the range: kill_procs() sends BUS_MCEERR_AR; the pfn
        is neither unmapped nor retired."""
        self._action_required(error, "guest memory_failure_pfn(): BUS_MCEERR_AR")
        self.pages.rearm(error.page)

    def _action_required(self, error: ErrorEvent, detail: str) -> None:
        """The process gets BUS_MCEERR_AR: it dies (``detail``) unless it handles SIGBUS."""
        if self.rng.random() < self.p_handles_sigbus:
            self.ledger.resolve(error, Outcome.RECOVERED, "BUS_MCEERR_AR handled by the process")
        else:
            self.ledger.resolve(error, Outcome.PROCESS_KILLED, detail)

    # The guest's memory_failure() on device memory, by guest.device_mf.
    DEVICE_MF: ClassVar[dict[DeviceMf, DeviceFailure]] = {
        "sigbus": _device_unregistered,
        "mceerr": _device_registered,
    }

    def do_serror(self, error: ErrorEvent, esr: int) -> None:
        """do_serror(): IDS set, not a RAS SError -> arm64_serror_panic()."""
        self.ledger.guest_took(error, esr, False)
        self.ledger.crash_vm(error, Outcome.VM_CRASHED, "arm64_serror_panic()", False)

    def ghes_notify(self, error: ErrorEvent) -> None:
        """An action-optional record: the guest retires its page; no process is killed."""
        self.ledger.guest_took(error, None, True)
        self._ack(error)
        if error.owner in _KILLS or error.owner in _RECOVERS:
            self.pages.retire(error.page, Retirer.GUEST)
            self.ledger.resolve(error, Outcome.OFFLINED, "guest memory_failure(): AO")
        else:  # kernel pages: MF_IGNORED; the host retired it, the guest cannot
            self.ledger.resolve(error, Outcome.OFFLINED, "guest memory_failure(): MF_IGNORED")

    def _ack(self, error: ErrorEvent) -> None:
        self.to_vmm.send(ReadAck(error))
