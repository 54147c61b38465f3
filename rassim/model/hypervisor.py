"""The host kernel at EL2: KVM and the host's APEI/GHES and memory_failure() (MODEL 5.2-5.3)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rassim.arch.esr import (
    ESR_ELx_FnV,
    ESR_ELx_FSC,
    ESR_ELx_FSC_EXTABT,
    ESR_ELx_S1PTW,
    SErrorSeverity,
    arm64_is_ras_serror,
    arm64_ras_serror_get_severity,
    esr_fsc_is_sea_ttw,
    is_serror,
    serror,
)
from rassim.arch.kvm import arm_sea_exit
from rassim.arch.signals import MfResult, SigbusCode, lsb_for_page_size
from rassim.model.messages import (
    ExternalAbort,
    FirmwareNotification,
    KvmExit,
    ScrubReport,
    Sigbus,
    Stage2Fault,
    VirtualSError,
)
from rassim.model.outcomes import Context, ErrorEvent, Outcome
from rassim.scenario import Owner, Scenario
from rassim.sim.channel import Channel
from rassim.sim.draws import Draws

if TYPE_CHECKING:
    from rassim.model.host import Host
    from rassim.model.memory import Ue

_PAGE_MASK = ~0xFFF


class Hypervisor:
    """KVM plus the host's RAS handling, for one host.

    Receives external aborts (from the CPU, or re-delivered by EL3 with or without a
    GHES record), guest touches of retired pages (stage-2 faults) and scrubber reports;
    sends SIGBUS and KVM exits to each VM's VMM and virtual SErrors to its guest.
    """

    def __init__(self, host: Host, scenario: Scenario, rng: Draws) -> None:
        self.host = host
        self.rng = rng
        self.feat_ras = scenario.platform.feat_ras
        self.panic_on_oops = scenario.platform.host_panic_on_oops
        self.policy = scenario.hypervisor.policy
        self.p_mf_failed = scenario.hypervisor.p_mf_failed
        self.lsb = lsb_for_page_size(host.memory.map.backing_page)
        self.sigbus: list[Channel] = []  # per VM: host kernel -> VMM
        self.exits: list[Channel] = []  # per VM: KVM_RUN returns to the VMM
        self.serror: list[Channel] = []  # per VM: virtual SError into the guest

    # -- entry points ----------------------------------------------------------------------
    def on_external_abort(self, message: ExternalAbort) -> None:
        """Kernel-first: the abort arrives straight from the CPU, no GHES record exists."""
        self._take(message.event, message.esr, message.far, record=False)

    def on_firmware_notification(self, message: FirmwareNotification) -> None:
        """Firmware-first: EL3 re-delivered the abort; GHES may hold its record."""
        if message.fatal:
            message.event.ue.logged = True
            self.host.panic(message.event, "__ghes_panic(): fatal severity")
            return
        self._take(message.event, message.esr, message.far, record=message.record)

    def _take(self, event: ErrorEvent, esr: int, far: int | None, record: bool) -> None:
        if is_serror(esr):
            self._serror(event, esr)
            return
        # apei_claim_sea() returns 0 only when a GHES source holds an active record; the
        # host's own do_sea() asks APEI for user-mode aborts only.
        event.claimed = record and event.context is not Context.HOST_KERNEL
        event.ue.logged |= record
        if event.context is Context.HOST_KERNEL:
            self._host_kernel_sea(event)
        elif event.context is Context.VMM:
            self._host_user_sea(event)
        else:
            self.kvm_handle_guest_sea(event, esr, far)

    # -- synchronous external aborts ------------------------------------------------------
    def kvm_handle_guest_sea(self, event: ErrorEvent, esr: int, far: int | None) -> None:
        """Mirrors kvm_handle_guest_sea() (arch/arm64/kvm/mmu.c, Linux 6.19): APEI claim,
        then host_owns_sea() or no opt-in -> kvm_inject_serror(), else KVM_EXIT_ARM_SEA."""
        vm = event.vm
        if event.claimed:
            self._claimed_guest_sea(event)
        elif self.host_owns_sea(esr) or self.policy == "serror_fallback":
            event.detail = "kvm_inject_serror()"
            self.serror[vm].send(VirtualSError(event, serror(ids=True)))
        else:
            arm_sea = arm_sea_exit(esr, far or 0, self._fault_ipa(event, esr), self.feat_ras)
            event.exit_to_vmm = True
            event.arm_sea_flags = arm_sea.flags
            event.arm_sea_esr = arm_sea.esr
            event.arm_sea_gva = arm_sea.gva
            event.arm_sea_gpa = arm_sea.gpa
            self.exits[vm].send(KvmExit(event, arm_sea))

    def host_owns_sea(self, esr: int) -> bool:
        """Mirrors host_owns_sea(): no FEAT_RAS, or an SEA on a stage-2 table walk (S1PTW).

        The nested-virt VNCR case is not modelled (no nested guests).
        """
        return not self.feat_ras or (esr_fsc_is_sea_ttw(esr) and bool(esr & ESR_ELx_S1PTW))

    @staticmethod
    def _fault_ipa(event: ErrorEvent, esr: int) -> int | None:
        """kvm_vcpu_get_fault_ipa(): unknown on a walk and for DFSC 0x10 with FnV set."""
        if esr_fsc_is_sea_ttw(esr) or event.ue.gpa is None:
            return None
        if esr & ESR_ELx_FSC == ESR_ELx_FSC_EXTABT and esr & ESR_ELx_FnV:
            return None
        return event.ue.gpa & _PAGE_MASK

    def _claimed_guest_sea(self, event: ErrorEvent) -> None:
        """ghes_do_proc() -> memory_failure(pfn, MF_ACTION_REQUIRED) as task work on the vCPU
        thread; memory_failure_cb() sends a plain SIGBUS when it does not return 0."""
        result = self.memory_failure(event.ue)
        if result is MfResult.MF_RECOVERED:
            self.host.memory.retire(event.ue, host=True)
            code: SigbusCode | None = SigbusCode.BUS_MCEERR_AR
        else:
            event.detail = f"memory_failure(): {result.name}"
            code = None
        self.sigbus[event.vm].send(Sigbus(event, code, in_guest_ram=True, lsb=self.lsb))

    def memory_failure(self, ue: Ue) -> MfResult:
        """mm/memory-failure.c: kernel pages (stage-2 tables) fail get_hwpoison_page() and
        end MF_IGNORED; user pages (guest RAM, VMM memory) are unmapped, MF_RECOVERED."""
        if ue.owner in (Owner.HOST_KERNEL, Owner.HOST_STAGE2):
            return MfResult.MF_IGNORED
        if ue.owner.in_guest_ram and self.rng.random() < self.p_mf_failed:
            return MfResult.MF_FAILED
        return MfResult.MF_RECOVERED

    def _host_kernel_sea(self, event: ErrorEvent) -> None:
        """do_sea() in kernel mode: APEI is consulted only for user mode; die() follows."""
        if self.panic_on_oops:
            self.host.panic(event, "die(): host kernel consumed poison")
        else:
            self.host.resolve(event, Outcome.PROCESS_KILLED, "die(): current host task killed")
            self.host.memory.arm(event.ue)

    def _host_user_sea(self, event: ErrorEvent) -> None:
        """The VMM process itself read the poison: SIGBUS AR on a claimed SEA (after
        memory_failure() unmapped the page), otherwise arm64_notify_die() BUS_OBJERR."""
        if event.claimed:
            self.host.memory.retire(event.ue, host=True)
            code = SigbusCode.BUS_MCEERR_AR
        else:
            code = SigbusCode.BUS_OBJERR
        self.sigbus[event.vm].send(Sigbus(event, code, in_guest_ram=False, lsb=12))

    # -- SErrors ---------------------------------------------------------------------------
    def _serror(self, event: ErrorEvent, esr: int) -> None:
        """kvm_handle_guest_serror() for guest contexts, do_serror() for host ones
        (arch/arm64/kernel/traps.c arm64_is_fatal_ras_serror())."""
        ras = arm64_is_ras_serror(esr, self.feat_ras)
        severity = arm64_ras_serror_get_severity(esr, self.feat_ras)
        if ras and severity in (SErrorSeverity.CE, SErrorSeverity.UEO):
            self.host.resolve(event, Outcome.RECOVERED, "SError CE/UEO: the CPU can make progress")
            self.host.memory.arm(event.ue)
        elif not event.context.in_guest or (ras and severity is SErrorSeverity.UC):
            self.host.panic(event, f"arm64_serror_panic(): AET {severity.name}")
        else:
            event.detail = "kvm_inject_vabt()"
            self.serror[event.vm].send(VirtualSError(event, serror(ids=True)))

    # -- pages the host already retired ----------------------------------------------------
    def on_stage2_fault(self, message: Stage2Fault) -> None:
        """A guest touch of a retired GPA: a hwpoison pfn makes KVM send SIGBUS AR
        (kvm_send_hwpoison_signal()); a GPA the VMM unmapped exits to the VMM (userfault)."""
        event = message.event
        if event.ue.owner is Owner.VMM:  # the VMM's own access to its retired page
            event.detail = "memory_failure(): hwpoisoned page touched"
            self.sigbus[event.vm].send(Sigbus(event, SigbusCode.BUS_MCEERR_AR, False, 12))
        elif event.ue.host_poisoned:
            event.detail = "kvm_send_hwpoison_signal()"
            self.sigbus[event.vm].send(
                Sigbus(event, SigbusCode.BUS_MCEERR_AR, in_guest_ram=True, lsb=self.lsb)
            )
        else:
            event.exit_to_vmm = True
            self.exits[event.vm].send(KvmExit(event, None))

    def on_scrub_report(self, message: ScrubReport) -> None:
        """A deferred error: memory_failure() without MF_ACTION_REQUIRED; processes that
        map the page and asked for early kill (QEMU does) get SIGBUS AO."""
        event, ue = message.event, message.event.ue
        ue.logged = True
        result = self.memory_failure(ue)
        if result is not MfResult.MF_RECOVERED:
            ue.scrub_reported = True
            self.host.resolve(event, Outcome.RECOVERED, f"memory_failure(): {result.name}")
            self.host.memory.arm(ue)
            return
        self.host.memory.retire(ue, host=True)
        if ue.vm is None or ue.owner is Owner.HOST_STAGE2:
            self.host.resolve(event, Outcome.OFFLINED, "memory_failure(): free page offlined")
            return
        self.sigbus[ue.vm].send(
            Sigbus(
                event, SigbusCode.BUS_MCEERR_AO, in_guest_ram=ue.owner.in_guest_ram, lsb=self.lsb
            )
        )
