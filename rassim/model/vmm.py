"""The VMM, QEMU-like (MODEL 6; target/arm/kvm.c, hw/acpi/ghes.c)."""

from __future__ import annotations

from collections.abc import Callable
from types import MethodType
from typing import ClassVar

import simpy
from simpy.exceptions import Interrupt

from rassim.arch.esr import data_abort
from rassim.arch.kvm import KVM_EXIT_ARM_SEA_FLAG_GPA_VALID, KvmRunArmSea
from rassim.arch.signals import SigbusCode
from rassim.model.interfaces import Ledger, Pages, Retirer
from rassim.model.messages import (
    ErrorEvent,
    GhesNotify,
    InjectedSea,
    KvmExit,
    KvmLoop,
    ReadAck,
    Sigbus,
)
from rassim.model.outcomes import Outcome
from rassim.scenario import AoAction, ReadAckMode, SeaExit, VmmConfig
from rassim.sim.channel import Channel, Inbox, Reader
from rassim.sim.environment import Environment
from rassim.sim.events import Waits

_PAGE_MASK = ~0xFFF
SeaExitStrategy = Callable[["Vmm", ErrorEvent, KvmRunArmSea], None]
AoStrategy = Callable[["Vmm", ErrorEvent], None]
RefusedRecord = Callable[["Vmm", ErrorEvent, int], None]


# kvm_inject_arm_sea(): syn_data_abort_no_iss() with FnV=1 and DFSC 0x10, EC by the guest's
# current EL (the index): 0x92000410 from EL0, 0x96000410 from EL1 (seed 003).
_QEMU_SEA_ESR = (data_abort(lower=True, fnv=True), data_abort(lower=False, fnv=True))
# inject_abt64() for KVM_SET_VCPU_EVENTS ext_dabt_pending: EC by the guest's mode (the
# index), IL, DFSC 0x10 and no FnV (FAR_EL1 = the exit's FAR): 0x92000010 / 0x96000010.
_KVM_SEA_ESR = (data_abort(lower=True), data_abort(lower=False))


class Vmm:
    """One VM's VMM: SIGBUS handling, the KVM_EXIT_ARM_SEA strategies, the guest's GHES.

    Its process, :meth:`handle_vcpu`, is the vCPU thread of QEMU's ``kvm_cpu_exec()``
    loop: SIGBUS from the host kernel, KVM_RUN returning, and (as a message, after the
    guest's latency) the guest's write of the GHES Read Ack register.
    """

    def __init__(
        self,
        env: Environment,
        config: VmmConfig,
        ledger: Ledger,
        pages: Pages,
        inbox: Inbox[Sigbus | KvmExit | KvmLoop | ReadAck],
        to_guest: Channel[InjectedSea],
        notify_guest: Channel[GhesNotify],
    ) -> None:
        self.env = env
        self.ledger = ledger
        self.pages = pages
        self.inbox = inbox
        self.to_guest = to_guest  # injected SEAs
        self.notify_guest = notify_guest  # action-optional GHES notifications
        # inject_cper: the SEA injected after a KVM exit comes with a CPER for its GPA.
        self.cper_on_exit = config.sea_exit == "inject_cper" and config.guest_ghes
        self.sea_exit = MethodType(self.SEA_EXIT[config.sea_exit], self)
        self.action_optional = MethodType(self.AO_ACTION[config.ao_action], self)
        self.unmap = config.unmap
        self.restart_after = config.restart_after or 0  # 0: not set (never restart)
        self.guest_ghes = config.guest_ghes
        self.hang_detect = config.hang_detect
        self.max_retries = config.max_retries
        self.retry_window = config.retry_window
        self.ghes_pending = False  # a record is written and Read Ack is still 0
        self.hwpoison: set[int] = set()  # kvm_hwpoison_page_add(): remapped on reset
        self.poisoned_gpas: set[int] = set()  # distinct GPAs seen, if restart_after is set
        self.retries: dict[int, tuple[int, int]] = {}  # inject_retry: GPA -> (retries, until)
        self.record_refused = MethodType(self.READ_ACK[config.read_ack], self)
        self.read_ack_wait = config.read_ack_wait
        self.waits: dict[int, simpy.Process] = {}  # a hang or a Read Ack timed, by error id

    def handle_vcpu(self) -> Reader[Sigbus | KvmExit | KvmLoop | ReadAck]:
        """The vCPU thread: each SIGBUS, exit and Read Ack in turn; a vCPU that never
        returns from KVM_RUN is left to the watchdog."""
        while True:
            message = yield self.inbox.get()
            match message:
                case KvmExit():
                    self.handle_exit(message.error, message.arm_sea)
                case Sigbus():
                    self.kvm_arch_on_sigbus_vcpu(message)
                case KvmLoop():
                    self._hang(message.error, f"VM hung: {message.why}")
                case ReadAck():
                    self.ghes_pending = False

    # -- the VM's life -----------------------------------------------------------------------
    def stop(self) -> None:
        """The VM went down: a hang or a Read Ack wait being timed no longer matters."""
        for wait in self.waits.values():
            wait.interrupt("the VM went down")
        self.waits.clear()

    def _after(self, error: ErrorEvent, delay: int, then: Callable[[], None]) -> None:
        """``then()`` once ``delay`` has passed for ``error``, unless the VM goes down first."""

        def wait() -> Waits:
            try:
                yield self.env.timeout(delay)
            except Interrupt:
                return  # the VM went down first
            del self.waits[error.error_id]
            then()

        self.waits[error.error_id] = self.env.process(wait())

    def reset(self, new_process: bool) -> set[int]:
        """VM reset (or a new VMM process): the GHES is rebuilt and known-bad pages are
        remapped fresh (kvm_unpoison_all()); returns the pages that were remapped."""
        remapped = set() if new_process else self.hwpoison
        self.ghes_pending = False
        self.hwpoison = set()
        self.poisoned_gpas = set()
        self.retries = {}
        return remapped

    # -- SIGBUS ------------------------------------------------------------------------------
    def kvm_arch_on_sigbus_vcpu(self, sigbus: Sigbus) -> None:
        """AR in guest RAM with GHES -> record a CPER and inject an SEA; AR elsewhere ->
        exit(1); AO -> remember the page and act by vmm.ao_action."""
        error, code = sigbus.error, sigbus.code
        if code is SigbusCode.BUS_MCEERR_AO:
            if sigbus.in_guest_ram and self.guest_ghes:
                self.hwpoison.add(error.gpa & _PAGE_MASK)  # type: ignore[operator]
                self.action_optional(error)
            else:
                self.ledger.resolve(error, Outcome.OFFLINED, "SIGBUS AO outside guest RAM: ignored")
        elif code is not SigbusCode.BUS_MCEERR_AR:
            self.ledger.crash_vm(error, Outcome.VM_CRASHED, "SIGBUS re-raised: VMM killed", True)
        elif not (self.guest_ghes and sigbus.in_guest_ram):
            self.ledger.crash_vm(error, Outcome.VM_CRASHED, "Hardware memory error!: exit(1)", True)
        else:
            gpa: int = error.gpa  # type: ignore[assignment]
            self.hwpoison.add(gpa & _PAGE_MASK)
            if self.unmap:
                self.pages.retire(error.page, Retirer.VMM)
            if not self._restart_after(error, gpa):
                self._inject(error, _QEMU_SEA_ESR[error.el or 0], cper=True)

    def _ignore(self, error: ErrorEvent) -> None:
        """QEMU: "TODO: we currently don't tell the guest at all"."""
        self.ledger.resolve(error, Outcome.OFFLINED, "SIGBUS AO: guest not told")

    def _notify(self, error: ErrorEvent) -> None:
        """Forward an action-optional record to the guest (QEMU v11 of seed 003, through
        a GPIO-signal GHES source), if the previous one was acknowledged."""
        if self.ghes_pending:
            self._ignore(error)
        else:
            self.ghes_pending = True
            self.notify_guest.send(GhesNotify(error))

    # What the VMM does with SIGBUS BUS_MCEERR_AO in guest RAM, by vmm.ao_action.
    AO_ACTION: ClassVar[dict[AoAction, AoStrategy]] = {"ignore": _ignore, "notify": _notify}

    # -- KVM_RUN returning -------------------------------------------------------------------
    def handle_exit(self, error: ErrorEvent, arm_sea: KvmRunArmSea | None) -> None:
        """KVM_EXIT_ARM_SEA by vmm.sea_exit (no public QEMU handles it), or a userfault
        exit on a GPA this VMM unmapped: the guest gets an SEA, with a CPER under
        ``inject_cper``."""
        if arm_sea is None:
            self._inject(error, _KVM_SEA_ESR[error.el or 0], self.cper_on_exit)
        else:
            self.sea_exit(error, arm_sea)

    def _unhandled(self, error: ErrorEvent, arm_sea: KvmRunArmSea) -> None:
        """Today's QEMU logs "un-handled exit reason" and re-enters KVM_RUN: the guest
        re-takes the SEA forever, and the hung VM is declared lost after hang_detect."""
        self._hang(error, "VM hung: SEA exit re-entered")

    def _hang(self, error: ErrorEvent, detail: str) -> None:
        """The hung VM is declared lost after hang_detect."""
        self._after(
            error,
            self.hang_detect,
            lambda: self.ledger.crash_vm(error, Outcome.VM_CRASHED, detail, True),
        )

    def _inject(self, error: ErrorEvent, esr: int, cper: bool) -> None:
        """KVM_SET_VCPU_EVENTS; a CPER needs the previous record acknowledged
        (ghes_record_cper_errors(): "OSPM does not acknowledge previous error")."""
        if cper:
            if self.ghes_pending:
                self.record_refused(error, esr)
                return
            self.ghes_pending = True
        self.to_guest.send(InjectedSea(error, esr, cper))

    def _abort(self, error: ErrorEvent, esr: int) -> None:
        """Merged QEMU: kvm_arch_on_sigbus_vcpu() error_report("failed to record the
        error"); abort() (exit(1) through &error_fatal in 2026 upstream): the VM is lost."""
        self.ledger.crash_vm(error, Outcome.VM_CRASHED, "GHES Read Ack still 0: abort()", True)

    def _retry_force(self, error: ErrorEvent, esr: int) -> None:
        """Posted v20 acpi_ghes_record_errors() (Xiang Zheng/Dongjiu Geng, 2019): retry 3
        times 100 ms apart, then force Read Ack to 1 and drop this notification; the
        vCPU re-enters, the guest re-executes the access and faults again, and that
        record is written (the re-fault's round trip is folded into this event)."""
        self._after(error, self.read_ack_wait, lambda: self._force_read_ack(error, esr))

    def _force_read_ack(self, error: ErrorEvent, esr: int) -> None:
        self.ledger.step(error, "OSPM does not acknowledge: Read Ack forced to 1")
        self.ghes_pending = False
        self._inject(error, esr, cper=True)

    # What the VMM does when a record is due and Read Ack is still 0, by vmm.read_ack.
    READ_ACK: ClassVar[dict[ReadAckMode, RefusedRecord]] = {
        "abort": _abort,
        "retry_force": _retry_force,
    }

    def _inject_sea(self, error: ErrorEvent, arm_sea: KvmRunArmSea) -> None:
        """Inject an SEA with ext_dabt_pending, as the KVM selftest does; with
        ``inject_cper``, also record a CPER for the GPA when KVM gave one. A GPA is
        remembered like a SIGBUS page (a VM reset maps fresh memory there), and with
        ``unmap`` removed from stage 2 so that later touches exit to the VMM."""
        gpa_valid = bool(arm_sea.flags & KVM_EXIT_ARM_SEA_FLAG_GPA_VALID)
        if gpa_valid:
            self.hwpoison.add(arm_sea.gpa)
            if self.unmap:
                self.pages.retire(error.page, Retirer.VMM)
            if self._restart_after(error, arm_sea.gpa):
                return
        self._inject(error, _KVM_SEA_ESR[error.el or 0], self.cper_on_exit and gpa_valid)

    def _inject_retry(self, error: ErrorEvent, arm_sea: KvmRunArmSea) -> None:
        """Inject the SEA as ``inject`` does; while the same GPA exits again within
        ``retry_window`` of its last exit, inject again, up to ``max_retries`` times; the
        next such exit restarts the VM (its reset maps fresh memory at the GPA). An exit
        without a GPA is injected and not followed."""
        if arm_sea.flags & KVM_EXIT_ARM_SEA_FLAG_GPA_VALID:
            now = self.env.now
            retries, until = self.retries.get(arm_sea.gpa, (-1, -1))
            retries = retries + 1 if now <= until else 0
            if retries > self.max_retries:
                detail = f"inject_retry: GPA exited again after {self.max_retries} retries"
                self.ledger.crash_vm(error, Outcome.VM_RESTARTED, detail, False)
                return
            self.retries[arm_sea.gpa] = (retries, now + self.retry_window)
        self._inject_sea(error, arm_sea)

    # What the VMM does with KVM_EXIT_ARM_SEA, by vmm.sea_exit.
    SEA_EXIT: ClassVar[dict[SeaExit, SeaExitStrategy]] = {
        "unhandled": _unhandled,
        "inject": _inject_sea,
        "inject_cper": _inject_sea,
        "inject_retry": _inject_retry,
    }

    def _restart_after(self, error: ErrorEvent, gpa: int) -> bool:
        """restart_after: restart the VM once N distinct GPAs were poisoned (if set)."""
        if not self.restart_after:
            return False
        self.poisoned_gpas.add(gpa & _PAGE_MASK)
        if len(self.poisoned_gpas) >= self.restart_after:
            self.ledger.crash_vm(error, Outcome.VM_RESTARTED, "restart_after reached", False)
            return True
        return False
