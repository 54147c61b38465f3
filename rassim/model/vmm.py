"""The VMM, QEMU-like (MODEL 6; target/arm/kvm.c, hw/acpi/ghes.c)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rassim.arch.esr import data_abort
from rassim.arch.kvm import KVM_EXIT_ARM_SEA_FLAG_GPA_VALID, KvmRunArmSea
from rassim.arch.signals import SigbusCode
from rassim.model.messages import GhesNotify, InjectedSea, KvmExit, ReadAck, Sigbus
from rassim.model.outcomes import ErrorEvent, Outcome
from rassim.scenario import Scenario
from rassim.sim.channel import Channel

if TYPE_CHECKING:
    from rassim.model.host import Vm

_PAGE_MASK = ~0xFFF


def qemu_sea_esr(el: int) -> int:
    """kvm_inject_arm_sea(): syn_data_abort_no_iss() with FnV=1 and DFSC 0x10, EC by the
    guest's current EL: 0x92000410 from EL0, 0x96000410 from EL1 (seed 003)."""
    return data_abort(lower=el == 0, fnv=True)


def kvm_sea_esr(el: int) -> int:
    """inject_abt64() for KVM_SET_VCPU_EVENTS ext_dabt_pending: EC by the guest's mode,
    IL, DFSC 0x10 and no FnV (FAR_EL1 = the exit's FAR): 0x92000010 / 0x96000010."""
    return data_abort(lower=el == 0)


class Vmm:
    """One VM's VMM: SIGBUS handling, KVM_EXIT_ARM_SEA strategies, the guest's GHES."""

    def __init__(self, vm: Vm, scenario: Scenario) -> None:
        self.vm = vm
        config = scenario.vmm
        self.strategy = config.sea_exit
        self.unmap = config.unmap
        self.restart_after = config.restart_after
        self.ao_action = config.ao_action
        self.guest_ghes = config.guest_ghes
        self.hang_detect = config.hang_detect
        self.ghes_pending = False  # a record is written and Read Ack is still 0
        self.hwpoison: set[int] = set()  # kvm_hwpoison_page_add(): remapped on reset
        self.poisoned_gpas: set[int] = set()  # distinct GPAs seen, for restart_after
        self.to_guest: Channel  # injected SEAs
        self.notify_guest: Channel  # action-optional GHES notifications

    def reset(self, new_process: bool) -> set[int]:
        """VM reset (or a new VMM process): the GHES is rebuilt and known-bad pages are
        remapped fresh (kvm_unpoison_all()); returns the pages that were remapped."""
        remapped = set() if new_process else self.hwpoison
        self.ghes_pending = False
        self.hwpoison = set()
        self.poisoned_gpas = set()
        return remapped

    # -- SIGBUS --------------------------------------------------------------------------
    def on_sigbus(self, message: Sigbus) -> None:
        """Mirrors kvm_arch_on_sigbus_vcpu(): AR in guest RAM with GHES -> record a CPER and
        inject an SEA; AR elsewhere -> exit(1); AO -> remember the page, tell nobody."""
        event, code = message.event, message.code
        if code is None or code not in (SigbusCode.BUS_MCEERR_AR, SigbusCode.BUS_MCEERR_AO):
            self.vm.crash(event, Outcome.VM_CRASHED, "SIGBUS re-raised: VMM killed", True)
            return
        gpa = event.ue.gpa
        if code is SigbusCode.BUS_MCEERR_AO:
            self._action_optional(event, message.in_guest_ram)
            return
        if not (self.guest_ghes and message.in_guest_ram):
            self.vm.crash(event, Outcome.VM_CRASHED, "Hardware memory error!: exit(1)", True)
            return
        self.hwpoison.add(gpa & _PAGE_MASK)
        if self._count_poisoned(event, gpa):
            return
        self._inject(event, qemu_sea_esr(event.el or 0), cper=True)

    def _action_optional(self, event: ErrorEvent, in_guest_ram: bool) -> None:
        if not (in_guest_ram and self.guest_ghes):
            self.vm.host.resolve(event, Outcome.OFFLINED, "SIGBUS AO outside guest RAM: ignored")
            return
        self.hwpoison.add(event.ue.gpa & _PAGE_MASK)
        if self.ao_action == "notify" and not self.ghes_pending:
            self.ghes_pending = True
            self.notify_guest.send(GhesNotify(event))
        else:
            self.vm.host.resolve(event, Outcome.OFFLINED, "SIGBUS AO: guest not told")

    # -- KVM_EXIT_ARM_SEA ------------------------------------------------------------------
    def on_kvm_exit(self, message: KvmExit) -> None:
        """The exit-to-user strategies of MODEL 6 (no public QEMU handles this exit)."""
        event, arm_sea = message.event, message.arm_sea
        if arm_sea is None:  # a touch of a GPA this VMM unmapped (KVM userfault)
            cper = self.strategy == "inject_cper" and self.guest_ghes
            self._inject(event, kvm_sea_esr(event.el or 0), cper=cper)
            return
        assert isinstance(arm_sea, KvmRunArmSea)
        if self.strategy == "unhandled":
            # "un-handled exit reason", re-enter: the guest re-takes the SEA forever.
            self.vm.env.process(self._hang(event))
            return
        gpa_valid = bool(arm_sea.flags & KVM_EXIT_ARM_SEA_FLAG_GPA_VALID)
        if gpa_valid:
            # Remembered like a SIGBUS page, so a VM reset maps fresh memory there.
            self.hwpoison.add(arm_sea.gpa)
            if self.unmap:
                self.vm.host.memory.retire(event.ue, vmm=True)
            if self._count_poisoned(event, arm_sea.gpa):
                return
        cper = self.strategy == "inject_cper" and gpa_valid and self.guest_ghes
        self._inject(event, kvm_sea_esr(event.el or 0), cper=cper)

    def _hang(self, event: ErrorEvent):
        yield self.vm.env.timeout(self.hang_detect)
        if event.outcome is None:
            self.vm.crash(event, Outcome.VM_CRASHED, "VM hung: SEA exit re-entered", True)

    def _count_poisoned(self, event: ErrorEvent, gpa: int) -> bool:
        """restart_after: restart the VM once N distinct GPAs were poisoned."""
        self.poisoned_gpas.add(gpa & _PAGE_MASK)
        if self.restart_after is not None and len(self.poisoned_gpas) >= self.restart_after:
            self.vm.crash(event, Outcome.VM_RESTARTED, "restart_after reached", False)
            return True
        return False

    def _inject(self, event: ErrorEvent, esr: int, cper: bool) -> None:
        """KVM_SET_VCPU_EVENTS; a CPER needs the previous record acknowledged
        (ghes_record_cper_errors(): "OSPM does not acknowledge previous error")."""
        if cper:
            if self.ghes_pending:
                self.vm.crash(event, Outcome.VM_CRASHED, "GHES Read Ack still 0: abort()", True)
                return
            self.ghes_pending = True
        self.to_guest.send(InjectedSea(event, esr, cper))

    def on_read_ack(self, message: ReadAck) -> None:
        if message.epoch == self.vm.epoch:
            self.ghes_pending = False
