"""A host and its VMs: the layers built, wired through timed channels, and their lifecycles.

The component tree has dotted names (``host0.kvm``, ``host0.vm1.guest``) that key each
component's random stream and label every hop.
"""

from __future__ import annotations

import simpy

from rassim.model.cpu import Cpu
from rassim.model.firmware import El3Firmware
from rassim.model.guest import GuestKernel
from rassim.model.hypervisor import Hypervisor
from rassim.model.memory import MemoryNode, Ue
from rassim.model.messages import PoisonRead, ScrubReport, Stage2Fault
from rassim.model.outcomes import Context, ErrorEvent, EventKind, Ledger, Outcome
from rassim.model.vmm import Vmm
from rassim.model.workload import Workload
from rassim.scenario import Scenario
from rassim.sim.channel import Network
from rassim.sim.distributions import Fixed, Sum


class Vm:
    """One VM: its VMM and guest kernel, and whether it is running."""

    def __init__(self, host: Host, index: int, scenario: Scenario) -> None:
        self.host = host
        self.env = host.env
        self.index = index
        self.name = f"{host.name}.vm{index}"
        self.up = True
        self.epoch = 0
        self.crashes = 0
        self.restarts = 0
        self.reboot_time = scenario.guest.reboot_time
        self.restart_time = scenario.vmm.restart_time
        streams = host.network.streams
        guest = scenario.guest
        self.workload = Workload(
            self.env, guest.processes, guest.work_unit, guest.process_restart, host.horizon_ns
        )
        self.vmm = Vmm(self, scenario)
        self.guest = GuestKernel(self, scenario, streams.draws(f"{self.name}.guest"))

    def crash(self, event: ErrorEvent, outcome: Outcome, detail: str, vmm_dies: bool) -> None:
        """The VM goes down (guest panic, VMM death, hang, or a planned restart) and every
        event still in flight on it ends with it."""
        self.host.resolve(event, outcome, detail)
        for other in self.host.ledger.open_events(self.host.index, self.index):
            self.host.resolve(other, outcome, f"in flight when the VM went down ({detail})")
        self.stop()
        planned = outcome is Outcome.VM_RESTARTED
        if planned:
            self.restarts += 1
        else:
            self.crashes += 1
        self.env.process(self._reboot(self.restart_time if planned else self.reboot_time, vmm_dies))

    def _reboot(self, delay: int, vmm_dies: bool):
        epoch = self.epoch
        yield self.env.timeout(delay)
        if epoch != self.epoch or not self.host.up:
            return  # the host went down meanwhile: its reboot brings this VM back
        remapped = self.start(new_vmm=vmm_dies)
        self.host.memory.reset_vm(self.index, vmm_dies, remapped)

    def stop(self) -> None:
        """The VM stops running; a pending reboot of an earlier boot becomes stale."""
        self.up = False
        self.epoch += 1
        self.workload.vm_down()

    def start(self, new_vmm: bool) -> set[int]:
        """The VM boots again (with a new VMM process or not); returns the GPAs the VMM
        remapped with fresh memory."""
        self.up = True
        self.guest.oopses = 0
        self.workload.vm_up_again()
        return self.vmm.reset(new_process=new_vmm)


class Host:
    """One host: memory node, CPU, EL3 firmware, hypervisor, and its VMs, wired."""

    def __init__(
        self,
        env: simpy.Environment,
        index: int,
        scenario: Scenario,
        network: Network,
        ledger: Ledger,
        horizon_ns: int,
    ) -> None:
        self.env = env
        self.index = index
        self.name = f"host{index}"
        self.network = network
        self.ledger = ledger
        self.horizon_ns = horizon_ns
        self.up = True
        self.panics = 0
        self.reboot_time = scenario.platform.host_reboot_time
        self.firmware_first = scenario.firmware.first
        streams = network.streams
        self.memory = MemoryNode(self, scenario, streams.draws(f"{self.name}.memory"), horizon_ns)
        self.cpu = Cpu(scenario, streams.draws(f"{self.name}.cpu"))
        self.el3 = El3Firmware(scenario, streams.draws(f"{self.name}.el3"))
        self.kvm = Hypervisor(self, scenario, streams.draws(f"{self.name}.kvm"))
        self.vms = [Vm(self, i, scenario) for i in range(scenario.fleet.vms_per_host)]
        self.memory.on_event = self.on_memory_event
        self._wire(scenario)

    def _wire(self, s: Scenario) -> None:
        net, h = self.network, self.name
        mem, cpu, el3, kvm = f"{h}.memory", f"{h}.cpu", f"{h}.el3", f"{h}.kvm"
        self._to_cpu = net.channel(mem, cpu, s.cpu.access_latency)
        self._to_cpu.connect(self.cpu.on_poison_read, drop_resolved=True)
        self._retouch = net.channel(mem, kvm, s.hypervisor.exit_in_kernel)
        self._retouch.connect(self.kvm.on_stage2_fault, drop_resolved=True)
        self.cpu.to_el3 = net.channel(cpu, el3, s.cpu.access_latency)
        self.cpu.to_el3.connect(self.el3.on_external_abort, drop_resolved=True)
        exit_in_kernel = Sum((s.hypervisor.exit_in_kernel, s.hypervisor.asi_overhead))
        self.cpu.to_el2 = net.channel(cpu, kvm, exit_in_kernel)
        self.cpu.to_el2.connect(self.kvm.on_external_abort, drop_resolved=True)
        self.el3.to_el2 = net.channel(el3, kvm, s.firmware.latency)
        self.el3.to_el2.connect(self.kvm.on_firmware_notification, drop_resolved=True)
        if self.firmware_first:
            self._scrub = net.channel(mem, el3, Fixed(0))
            self._scrub.connect(self.el3.on_scrub_report, drop_resolved=True)
            self.el3.scrub_to_el2 = net.channel(el3, kvm, s.firmware.latency, label="ao")
            self.el3.scrub_to_el2.connect(self.kvm.on_scrub_report, drop_resolved=True)
        else:
            self._scrub = net.channel(mem, kvm, Fixed(0))
            self._scrub.connect(self.kvm.on_scrub_report, drop_resolved=True)
        self.cpu.guest_channels = []
        for vm in self.vms:
            vmm, guest = f"{vm.name}.vmm", f"{vm.name}.guest"
            direct = net.channel(cpu, guest, s.cpu.access_latency)
            direct.connect(vm.guest.on_external_abort, drop_resolved=True)
            self.cpu.guest_channels.append(direct)
            sigbus = net.channel(kvm, vmm, s.hypervisor.memory_failure, label="sigbus")
            sigbus.connect(vm.vmm.on_sigbus, drop_resolved=True)
            self.kvm.sigbus.append(sigbus)
            exit_to_user = Sum((s.hypervisor.exit_to_user, s.hypervisor.asi_overhead))
            exit_ = net.channel(kvm, vmm, exit_to_user, label="exit")
            exit_.connect(vm.vmm.on_kvm_exit, drop_resolved=True)
            self.kvm.exits.append(exit_)
            serror = net.channel(kvm, guest, s.hypervisor.exit_in_kernel)
            serror.connect(vm.guest.on_virtual_serror, drop_resolved=True)
            self.kvm.serror.append(serror)
            vm.vmm.to_guest = net.channel(vmm, guest, s.vmm.latency)
            vm.vmm.to_guest.connect(vm.guest.on_injected_sea, drop_resolved=True)
            vm.vmm.notify_guest = net.channel(vmm, guest, s.vmm.latency, label="ao")
            vm.vmm.notify_guest.connect(vm.guest.on_ghes_notify, drop_resolved=True)
            vm.guest.to_vmm = net.channel(guest, vmm, s.guest.ack)
            vm.guest.to_vmm.connect(vm.vmm.on_read_ack)

    # -- events ----------------------------------------------------------------------------
    def on_memory_event(self, ue: Ue, kind: EventKind) -> None:
        """The memory node says a UE was read, re-touched or scrubbed: open an error event."""
        process = ue.process
        if kind is EventKind.SCRUB:
            context, el = Context.SCRUBBER, None
        else:
            context, el = self.memory.draw_context(ue)
            if process is None and context.in_guest:
                process = self.memory.draw_running_process()
        event = self.ledger.new_event(
            kind=kind,
            ue=ue,
            context=context,
            el=el,
            started_ns=self.env.now,
            host=self.index,
            vm=ue.vm,
            process=process,
        )
        if kind is EventKind.SCRUB:
            self._scrub.send(ScrubReport(event))
        elif kind is EventKind.RETOUCH:
            self._retouch.send(Stage2Fault(event))
        else:
            self._to_cpu.send(PoisonRead(event))

    def resolve(self, event: ErrorEvent, outcome: Outcome, detail: str = "") -> None:
        """Record the outcome; a guest process it killed or stalled pays in lost work."""
        self.ledger.resolve(event, outcome, self.env.now, detail)
        if event.vm is None or not event.context.in_guest or event.process is None:
            return
        workload = self.vms[event.vm].workload
        if outcome is Outcome.PROCESS_KILLED:
            workload.kill(event.process)
        elif outcome is Outcome.RECOVERED:
            workload.stall(event.process, event.started_ns)

    def panic(self, event: ErrorEvent, detail: str) -> None:
        """Host panic: every VM on the host is lost until the host has rebooted."""
        self.resolve(event, Outcome.HOST_PANICKED, detail)
        self.panics += 1
        event.ue.logged = True  # the panic message names it
        for other in self.ledger.open_events(self.index):
            self.resolve(other, Outcome.HOST_PANICKED, f"in flight at host panic ({detail})")
        self.up = False
        for vm in self.vms:
            vm.stop()
        self.env.process(self._reboot())

    def _reboot(self):
        yield self.env.timeout(self.reboot_time)
        self.up = True
        for vm in self.vms:
            vm.start(new_vmm=True)
        self.memory.reset_host()
