"""The host kernel at EL2: KVM and the host's APEI/GHES and memory_failure() (MODEL 5.2-5.3)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import MethodType
from typing import ClassVar

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
from rassim.model.interfaces import Ledger, Pages, Retirer
from rassim.model.messages import (
    ErrorEvent,
    ExternalAbort,
    FirmwareNotification,
    KvmExit,
    KvmLoop,
    ScrubReport,
    Sigbus,
    Stage2Fault,
    VirtualSError,
)
from rassim.model.outcomes import Context, Outcome
from rassim.scenario import HypervisorConfig, Owner, PfnmapPoison, Policy
from rassim.sim.channel import Channel, Inbox, Reader
from rassim.sim.draws import Draws

_PAGE_MASK = ~0xFFF
UnclaimedSea = Callable[["Hypervisor", ErrorEvent, int, int | None], None]
PfnmapFailure = Callable[["Hypervisor", ErrorEvent], None]


class Hypervisor:
    """KVM plus the host's RAS handling, for one host.

    Three processes: :meth:`handle_aborts` (external aborts, straight from the CPU or
    re-delivered by EL3 with or without a GHES record), :meth:`handle_stage2_faults`
    (guest touches of retired pages) and :meth:`handle_deferred_errors` (scrubber
    reports). Sends SIGBUS and KVM exits to each VM's VMM and virtual SErrors to its guest.
    """

    def __init__(
        self,
        config: HypervisorConfig,
        feat_ras: bool,
        panic_on_oops: bool,
        backing_page: int,
        rng: Draws,
        ledger: Ledger,
        pages: Pages,
        aborts: Inbox[ExternalAbort | FirmwareNotification],
        stage2_faults: Inbox[Stage2Fault],
        deferred: Inbox[ScrubReport],
        sigbus: Sequence[Channel[Sigbus]],
        exits: Sequence[Channel[KvmExit | KvmLoop]],
        serrors: Sequence[Channel[VirtualSError]],
    ) -> None:
        """``sigbus``, ``exits`` and ``serrors`` hold one channel per VM: host kernel ->
        VMM, KVM_RUN returning to the VMM, a virtual SError into the guest."""
        self.rng = rng
        self.ledger = ledger
        self.pages = pages
        self.aborts = aborts
        self.stage2_faults = stage2_faults
        self.deferred = deferred
        self.sigbus = sigbus
        self.exits = exits
        self.serrors = serrors
        self.feat_ras = feat_ras
        self.panic_on_oops = panic_on_oops
        self.p_mf_failed = config.p_mf_failed
        self.lsb = lsb_for_page_size(backing_page)
        self.unclaimed_sea = MethodType(self.UNCLAIMED_SEA[config.policy], self)
        self.pfnmap_failure = MethodType(self.PFNMAP_POISON[config.pfnmap_poison], self)

    # -- synchronous external aborts and SErrors ---------------------------------------------
    def handle_aborts(self) -> Reader[ExternalAbort | FirmwareNotification]:
        """Kernel-first, an abort arrives straight from the CPU and no GHES record exists;
        firmware-first, EL3 re-delivers it and the host's GHES may hold its record."""
        while True:
            abort = yield self.aborts.get()
            error, record = abort.error, False
            if isinstance(abort, FirmwareNotification):
                if abort.fatal:
                    self.ledger.panic_host(error, "__ghes_panic(): fatal severity")
                    continue
                record = abort.record
            if is_serror(abort.esr):
                self._serror(error, abort.esr)
                continue
            if record:
                self.pages.log(error.ue_id)
            if error.context.in_host_kernel:
                self._host_kernel_sea(error)
            elif error.context is Context.VMM:
                self._host_user_sea(error, claimed=record)
            else:
                self.kvm_handle_guest_sea(error, abort.esr, abort.far, claimed=record)

    def kvm_handle_guest_sea(self, error: ErrorEvent, esr: int, far: int | None, claimed: bool):
        """Mirrors kvm_handle_guest_sea() (arch/arm64/kvm/mmu.c, Linux 6.19): APEI claim
        (apei_claim_sea() returns 0 only when a GHES source holds an active record), then
        host_owns_sea() -> kvm_inject_serror(), else the policy for an unclaimed SEA."""
        if claimed:
            self.ledger.claimed(error)
            self._claimed_guest_sea(error)
        elif self.host_owns_sea(esr):
            self._inject_serror(error, esr, far)
        else:
            self.unclaimed_sea(error, esr, far)

    def _inject_serror(self, error: ErrorEvent, esr: int, far: int | None) -> None:
        """kvm_inject_serror(): the legacy fallback, and the host-owned case."""
        self.ledger.step(error, "kvm_inject_serror()")
        self.serrors[error.vm].send(VirtualSError(error, serror(ids=True)))  # type: ignore[index]

    def _exit_to_user(self, error: ErrorEvent, esr: int, far: int | None) -> None:
        """The VM opted in (KVM_CAP_ARM_SEA_TO_USER): KVM_EXIT_ARM_SEA with kvm_run.arm_sea."""
        arm_sea = arm_sea_exit(esr, far or 0, self._fault_ipa(error, esr), self.feat_ras)
        self.ledger.exited(error, arm_sea)
        self.exits[error.vm].send(KvmExit(error, arm_sea))  # type: ignore[index]

    # What KVM does with an SEA APEI did not claim, by hypervisor.policy.
    UNCLAIMED_SEA: ClassVar[dict[Policy, UnclaimedSea]] = {
        "serror_fallback": _inject_serror,
        "exit_to_user": _exit_to_user,
    }

    def host_owns_sea(self, esr: int) -> bool:
        """Mirrors host_owns_sea(): no FEAT_RAS, or an SEA on a stage-2 table walk (S1PTW).

        The nested-virt VNCR case is not modelled (no nested guests). S1PTW is tested first:
        it is rarely set, and spares the FSC test.
        """
        return not self.feat_ras or (esr & ESR_ELx_S1PTW != 0 and esr_fsc_is_sea_ttw(esr))

    @staticmethod
    def _fault_ipa(error: ErrorEvent, esr: int) -> int | None:
        """kvm_vcpu_get_fault_ipa(): unknown on a walk and for DFSC 0x10 with FnV set."""
        if esr_fsc_is_sea_ttw(esr) or error.gpa is None:
            return None
        if esr & ESR_ELx_FSC == ESR_ELx_FSC_EXTABT and esr & ESR_ELx_FnV:
            return None
        return error.gpa & _PAGE_MASK

    def _claimed_guest_sea(self, error: ErrorEvent) -> None:
        """ghes_do_proc() -> memory_failure(pfn, MF_ACTION_REQUIRED) as task work on the vCPU
        thread; memory_failure_cb() sends a plain SIGBUS when it does not return 0. Device
        memory has no struct page: hypervisor.pfnmap_poison."""
        if error.owner is Owner.DEVICE:
            self.pfnmap_failure(error)
            return
        result = self.memory_failure(error)
        if result is MfResult.MF_RECOVERED:
            self.pages.retire(error.page, Retirer.HOST)
            code: SigbusCode | None = SigbusCode.BUS_MCEERR_AR
        else:
            self.ledger.step(error, f"memory_failure(): {result.name}")
            code = None
        self.sigbus[error.vm].send(Sigbus(error, code, True, self.lsb))  # type: ignore[index]

    def _ghes_drops_record(self, error: ErrorEvent) -> None:
        """Before 6.19, ghes_do_memory_failure() drops a record whose pfn has no struct page
        ("Invalid address in generic error data") after apei_claim_sea() claimed it: KVM
        resumes the guest, which takes the same SEA again, and again."""
        why = "GHES: Invalid address in generic error data, the SEA repeats"
        self.exits[error.vm].send(KvmLoop(error, why))  # type: ignore[index]

    def _pfn_unregistered(self, error: ErrorEvent) -> None:
        """6.19 memory_failure() -> memory_failure_pfn(): no registered pfn_address_space
        holds the pfn: MF_MSG_PFN_MAP, MF_IGNORED; memory_failure_cb() sends a plain SIGBUS."""
        self.ledger.step(error, "memory_failure_pfn(): MF_IGNORED")
        self.sigbus[error.vm].send(Sigbus(error, None, True, 12))  # type: ignore[index]

    def _pfn_registered(self, error: ErrorEvent) -> None:
        """memory_failure_pfn() with the range registered (nvgrace-gpu from 7.0):
        collect_procs_pfn() + kill_procs(): the vCPU thread gets BUS_MCEERR_AR with lsb 12,
        MF_RECOVERED; the pfn is neither unmapped nor tracked, so it stays in use."""
        self.ledger.step(error, "memory_failure_pfn(): MF_RECOVERED, not unmapped")
        self.pages.rearm(error.page)
        code = SigbusCode.BUS_MCEERR_AR
        self.sigbus[error.vm].send(Sigbus(error, code, True, 12))  # type: ignore[index]

    # A claimed SEA on a pfn without struct page, by hypervisor.pfnmap_poison.
    PFNMAP_POISON: ClassVar[dict[PfnmapPoison, PfnmapFailure]] = {
        "dropped": _ghes_drops_record,
        "unregistered": _pfn_unregistered,
        "registered": _pfn_registered,
    }

    def memory_failure(self, error: ErrorEvent) -> MfResult:
        """mm/memory-failure.c: kernel pages (stage-2 tables) fail get_hwpoison_page() and
        end MF_IGNORED, with PG_hwpoison left set by the TestSetPageHWPoison() before it;
        user pages (guest RAM, VMM memory) are unmapped, MF_RECOVERED."""
        owner = error.owner
        if owner in (Owner.HOST_KERNEL, Owner.HOST_STAGE2):
            self.pages.mark_hwpoison(error.page)
            return MfResult.MF_IGNORED
        if owner.in_guest_ram and self.rng.random() < self.p_mf_failed:
            return MfResult.MF_FAILED
        return MfResult.MF_RECOVERED

    def _host_kernel_sea(self, error: ErrorEvent) -> None:
        """do_sea() in kernel mode: APEI is consulted only for user mode; die() follows.
        A task killed while freeing a VM's stage-2 tables never finishes the walk (an
        exiting VMM is parked: "Fixing recursive fault but reboot is needed!"), so the
        poisoned table page is never freed."""
        if self.panic_on_oops:
            self.ledger.panic_host(error, "die(): host kernel consumed poison")
        elif error.context is Context.HOST_STAGE2_FREE:
            detail = "die(): the task freeing the stage-2 tables killed, the page leaked"
            self.ledger.resolve(error, Outcome.PROCESS_KILLED, detail)
            self.pages.retire(error.page, Retirer.LEAK)
        else:
            self.ledger.resolve(error, Outcome.PROCESS_KILLED, "die(): current host task killed")
            self.pages.rearm(error.page)

    def _host_user_sea(self, error: ErrorEvent, claimed: bool) -> None:
        """The VMM process itself read the poison: SIGBUS AR on a claimed SEA (after
        memory_failure() unmapped the page), otherwise arm64_notify_die() BUS_OBJERR."""
        if claimed:
            self.ledger.claimed(error)
            self.pages.retire(error.page, Retirer.HOST)
            code = SigbusCode.BUS_MCEERR_AR
        else:
            code = SigbusCode.BUS_OBJERR
        self.sigbus[error.vm].send(Sigbus(error, code, False, 12))  # type: ignore[index]

    def _serror(self, error: ErrorEvent, esr: int) -> None:
        """kvm_handle_guest_serror() for guest contexts, do_serror() for host ones
        (arch/arm64/kernel/traps.c arm64_is_fatal_ras_serror())."""
        ras = arm64_is_ras_serror(esr, self.feat_ras)
        severity = arm64_ras_serror_get_severity(esr, self.feat_ras)
        if ras and severity in (SErrorSeverity.CE, SErrorSeverity.UEO):
            self.ledger.resolve(
                error, Outcome.RECOVERED, "SError CE/UEO: the CPU can make progress"
            )
            self.pages.rearm(error.page)
        elif not error.context.in_guest or (ras and severity is SErrorSeverity.UC):
            self.ledger.panic_host(error, f"arm64_serror_panic(): AET {severity.name}")
        else:
            self.ledger.step(error, "kvm_inject_vabt()")
            self.serrors[error.vm].send(VirtualSError(error, serror(ids=True)))  # type: ignore[index]

    # -- pages the host already retired ------------------------------------------------------
    def handle_stage2_faults(self) -> Reader[Stage2Fault]:
        """A guest touch of a retired GPA: a hwpoison pfn makes KVM send SIGBUS AR
        (kvm_send_hwpoison_signal()); a GPA the VMM unmapped exits to the VMM (userfault)."""
        while True:
            fault = yield self.stage2_faults.get()
            error = fault.error
            vm: int = error.vm  # type: ignore[assignment]
            if error.owner is Owner.VMM:  # the VMM's own access to its retired page
                self.ledger.step(error, "memory_failure(): hwpoisoned page touched")
                self.sigbus[vm].send(Sigbus(error, SigbusCode.BUS_MCEERR_AR, False, 12))
            elif fault.hwpoisoned:
                self.ledger.step(error, "kvm_send_hwpoison_signal()")
                self.sigbus[vm].send(Sigbus(error, SigbusCode.BUS_MCEERR_AR, True, self.lsb))
            else:
                self.ledger.exited(error, None)
                self.exits[vm].send(KvmExit(error, None))

    # -- deferred errors ---------------------------------------------------------------------
    def handle_deferred_errors(self) -> Reader[ScrubReport]:
        """A deferred error the scrubber found: memory_failure() without
        MF_ACTION_REQUIRED; processes that map the page and asked for early kill (QEMU
        does) get SIGBUS AO."""
        while True:
            report = yield self.deferred.get()
            error = report.error
            self.pages.log(error.ue_id)
            result = self.memory_failure(error)
            if result is not MfResult.MF_RECOVERED:
                self.ledger.resolve(error, Outcome.RECOVERED, f"memory_failure(): {result.name}")
                self.pages.leave_reported(error.page)
                continue
            self.pages.retire(error.page, Retirer.HOST)
            if error.vm is None or error.owner is Owner.HOST_STAGE2:
                self.ledger.resolve(error, Outcome.OFFLINED, "memory_failure(): free page offlined")
                continue
            code = SigbusCode.BUS_MCEERR_AO
            self.sigbus[error.vm].send(Sigbus(error, code, error.owner.in_guest_ram, self.lsb))
