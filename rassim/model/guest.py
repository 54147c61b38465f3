"""The guest kernel and its processes (MODEL 7; arch/arm64/mm/fault.c, kernel/traps.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rassim.arch.esr import ESR_ELx_FSC, ESR_ELx_FSC_EXTABT
from rassim.model.messages import (
    ExternalAbort,
    GhesNotify,
    InjectedSea,
    ReadAck,
    VirtualSError,
)
from rassim.model.outcomes import ErrorEvent, Outcome
from rassim.scenario import Owner, Scenario
from rassim.sim.channel import Channel
from rassim.sim.draws import Draws

if TYPE_CHECKING:
    from rassim.model.host import Vm

# Guest memory_failure() on the guest page, by what the page holds (mm/memory-failure.c):
# the accessing process gets BUS_MCEERR_AR for data it loses; clean and free pages are
# dropped with no kill; kernel pages cannot be isolated (MF_IGNORED) and
# memory_failure_cb() sends the current task a plain SIGBUS.
_KILLS = {Owner.GUEST_ANON, Owner.GUEST_PAGE_CACHE_DIRTY}
_RECOVERS = {Owner.GUEST_PAGE_CACHE_CLEAN, Owner.GUEST_FREE}


class GuestKernel:
    """One VM's guest kernel: takes injected SEAs, virtual SErrors and GHES notifications."""

    def __init__(self, vm: Vm, scenario: Scenario, rng: Draws) -> None:
        self.vm = vm
        self.rng = rng
        config = scenario.guest
        self.panic_on_oops = config.panic_on_oops
        self.oops_limit = config.oops_limit
        self.oopses = 0  # since boot
        self.p_interrupt = config.p_interrupt
        self.p_handles_sigbus = config.p_handles_sigbus
        self.to_vmm: Channel  # Read Ack

    def on_injected_sea(self, message: InjectedSea) -> None:
        self.do_sea(message.event, message.esr, message.cper)

    def on_external_abort(self, message: ExternalAbort) -> None:
        """Without FEAT_RAS the guest takes its own data-access SEA; its GHES is empty."""
        self.do_sea(message.event, message.esr, cper=False)

    def do_sea(self, event: ErrorEvent, esr: int, cper: bool) -> None:
        """Mirrors do_sea(): APEI is consulted for user-mode aborts only; otherwise
        arm64_notify_die() with the fault_info signal for the DFSC, or die() in kernel."""
        event.guest_esr = esr
        host = self.vm.host
        if event.el:
            self._die(event)
            return
        if cper:
            event.guest_cper = True
            self._ack(event)
            self._memory_failure(event)
            return
        # fault_info[]: 0x10 "synchronous external abort" SIGBUS/BUS_OBJERR; walk codes SIGKILL.
        signal = "BUS_OBJERR" if esr & ESR_ELx_FSC == ESR_ELx_FSC_EXTABT else "SIGKILL"
        host.resolve(event, Outcome.PROCESS_KILLED, f"arm64_notify_die(): {signal}")
        ue = event.ue
        if ue.owner is Owner.GUEST_ANON:
            host.memory.reuse_gpa(ue)  # the dead process's pages are freed
        else:
            host.memory.arm(ue)

    def _die(self, event: ErrorEvent) -> None:
        """die(): panic in interrupt context, with panic_on_oops, or once oops_limit oopses
        were counted since boot (kernel/panic.c check_panic_on_warn/oops_limit); else
        kill the current task."""
        self.oopses += 1
        limit_hit = self.oops_limit and self.oopses >= self.oops_limit
        if self.panic_on_oops or limit_hit or self.rng.random() < self.p_interrupt:
            self.vm.crash(event, Outcome.VM_CRASHED, "die(): guest kernel panic", False)
            return
        self.vm.host.resolve(event, Outcome.PROCESS_KILLED, "die(): current task killed")
        self.vm.host.memory.arm(event.ue)

    def _memory_failure(self, event: ErrorEvent) -> None:
        """Guest APEI claimed the SEA: memory_failure(MF_ACTION_REQUIRED) on the guest page."""
        host, ue = self.vm.host, event.ue
        if ue.owner in _RECOVERS:
            host.memory.retire(ue, guest=True)
            host.resolve(event, Outcome.RECOVERED, "guest memory_failure(): page dropped")
        elif ue.owner in _KILLS:
            host.memory.retire(ue, guest=True)
            if self.rng.random() < self.p_handles_sigbus:
                host.resolve(event, Outcome.RECOVERED, "BUS_MCEERR_AR handled by the process")
            else:
                host.resolve(event, Outcome.PROCESS_KILLED, "guest memory_failure(): BUS_MCEERR_AR")
        else:
            host.resolve(event, Outcome.PROCESS_KILLED, "guest memory_failure(): MF_IGNORED")
            host.memory.arm(ue)

    def on_virtual_serror(self, message: VirtualSError) -> None:
        """do_serror(): IDS set, not a RAS SError -> arm64_serror_panic()."""
        event = message.event
        event.guest_esr = message.esr
        self.vm.crash(event, Outcome.VM_CRASHED, f"{event.detail} -> arm64_serror_panic()", False)

    def on_ghes_notify(self, message: GhesNotify) -> None:
        """An action-optional record: the guest retires its page; no process is killed."""
        event = message.event
        event.guest_cper = True
        self._ack(event)
        if event.ue.owner in _KILLS or event.ue.owner in _RECOVERS:
            self.vm.host.memory.retire(event.ue, guest=True)
            self.vm.host.resolve(event, Outcome.OFFLINED, "guest memory_failure(): AO")
        else:  # kernel pages: MF_IGNORED; the host retired it, the guest cannot
            self.vm.host.resolve(event, Outcome.OFFLINED, "guest memory_failure(): MF_IGNORED")

    def _ack(self, event: ErrorEvent) -> None:
        self.to_vmm.send(ReadAck(event, self.vm.epoch))
