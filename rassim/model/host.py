"""A host and its VMs: the layers built, wired through timed channels and run as SimPy
processes, and what happens when a VM or the host goes down and comes back.

The component tree has dotted names (``host0.kvm``, ``host0.vm1.guest``) that key each
component's random stream and label every hop. Each layer is handed its own config
section, its inbox, the channels it sends on, and the ledger and page interfaces; none
of them holds a reference to this module's classes or to another layer.

When a VM goes down every wait it owns ends with it: messages in flight to, from or on
behalf of it are cancelled, its pages' clocks are cancelled, a hang being timed by its
VMM is interrupted. When the host goes down, every wait on the host ends, including a
VM's reboot (cancelled: the host's boot starts every VM). A reboot is a
:class:`~rassim.sim.events.Timer`, one event on SimPy's queue, not a process (which would
cost three: its start, its timeout and its end).
"""

from __future__ import annotations

from rassim.model.cpu import Cpu
from rassim.model.firmware import El3Firmware
from rassim.model.guest import GuestKernel
from rassim.model.hypervisor import Hypervisor
from rassim.model.ledger import HostLedger, RunLedger
from rassim.model.memory import MemoryMap, MemoryNode
from rassim.model.vmm import Vmm
from rassim.model.workload import Workload
from rassim.scenario import Scenario
from rassim.sim.channel import Channel, Inbox, Network
from rassim.sim.distributions import Fixed, Sum
from rassim.sim.environment import Environment
from rassim.sim.events import Timer


class Vm:
    """One VM: its VMM, its guest kernel and its processes' work, and whether it runs."""

    def __init__(
        self,
        index: int,
        name: str,
        vmm: Vmm,
        guest: GuestKernel,
        workload: Workload,
        links: list[Channel],
        inboxes: list[Inbox],
    ) -> None:
        self.index = index
        self.name = name
        self.vmm = vmm
        self.guest = guest
        self.workload = workload
        self.links = links  # every channel to, from or within the VM
        self.inboxes = inboxes
        self.up = True
        self.crashes = 0
        self.restarts = 0
        self.rebooting: Timer[tuple[Vm, bool]] | None = None  # itself, and with a new VMM

    def stop(self) -> None:
        """The VM stops running: its messages in flight and its VMM's waits end."""
        self.up = False
        self.workload.vm_down()
        self.vmm.stop()
        for link in self.links:
            if link.in_flight:
                link.cancel()
        for inbox in self.inboxes:
            if inbox.arrived:
                inbox.cancel(lambda message: True)

    def boot(self, new_vmm: bool) -> set[int]:
        """The VM runs again (with a new VMM process or not); returns the GPAs the VMM
        remapped with fresh memory."""
        self.up = True
        self.guest.boot()
        self.workload.vm_up_again()
        return self.vmm.reset(new_process=new_vmm)


class Host:
    """One host: memory node, CPU, EL3 firmware, hypervisor and VMs, wired and running.

    It is the :class:`~rassim.model.ledger.Lifecycle` behind its layers' ledger.
    """

    def __init__(
        self,
        env: Environment,
        index: int,
        scenario: Scenario,
        memory_map: MemoryMap,
        network: Network,
        ledger: RunLedger,
        horizon_ns: int,
    ) -> None:
        """``memory_map``: the scenario's, shared by the hosts built from it."""
        self.env = env
        self.index = index
        self.name = h = f"host{index}"
        self.up = True
        self.panics = 0
        self.reboot_time = scenario.platform.host_reboot_time
        self.guest_reboot_time = scenario.guest.reboot_time
        self.vmm_restart_time = scenario.vmm.restart_time
        s, net, streams = scenario, network, network.streams
        hv = s.hypervisor
        firmware_first = s.firmware.first
        exit_in_kernel = Sum((hv.exit_in_kernel, hv.asi_overhead))

        # Inboxes of the host's layers.
        cpu_reads = net.inbox(f"{h}.cpu")
        el3_inbox = net.inbox(f"{h}.el3")
        kvm_aborts, kvm_faults, kvm_deferred = (net.inbox(f"{h}.kvm") for _ in range(3))
        self.inboxes = [cpu_reads, el3_inbox, kvm_aborts, kvm_faults, kvm_deferred]

        mem = f"{h}.memory"
        reads = net.channel(mem, cpu_reads, s.cpu.access_latency)
        retouches = net.channel(mem, kvm_faults, hv.exit_in_kernel)
        scrubs = net.channel(mem, el3_inbox if firmware_first else kvm_deferred, Fixed(0))
        self.memory = MemoryNode(
            env,
            index,
            s.memory,
            memory_map,
            s.platform.retire_logged_on_boot,
            s.platform.stage2_fwb,
            streams.draws(mem),
            horizon_ns,
            ledger,
            reads,
            retouches,
            scrubs,
        )
        g = s.guest
        workloads = [
            Workload(env, g.processes, g.work_unit, g.process_restart, horizon_ns)
            for _ in range(s.fleet.vms_per_host)
        ]
        self.ledger = HostLedger(env, index, ledger, self, self.memory, workloads)
        self.vms = [self._vm(i, scenario, network, w) for i, w in enumerate(workloads)]

        cpu = f"{h}.cpu"
        direct = not firmware_first and not s.platform.feat_ras
        to_guest = [net.channel(cpu, vm.guest.inbox, s.cpu.access_latency) for vm in self.vms]
        if firmware_first:
            to_el2 = net.channel(cpu, el3_inbox, s.cpu.access_latency)
        else:
            to_el2 = net.channel(cpu, kvm_aborts, exit_in_kernel)
        self.cpu = Cpu(
            s.cpu,
            s.platform.feat_ras,
            streams.draws(cpu),
            self.ledger,
            cpu_reads,
            to_el2,
            to_guest if direct else [],
        )
        el3 = f"{h}.el3"
        self.el3 = El3Firmware(
            s.firmware,
            streams.draws(el3),
            el3_inbox,
            net.channel(el3, kvm_aborts, s.firmware.latency),
            net.channel(el3, kvm_deferred, s.firmware.latency, label="ao"),
        )
        kvm = f"{h}.kvm"
        exit_to_user = Sum((hv.exit_to_user, hv.asi_overhead))
        sigbus = [net.channel(kvm, vm.vmm.inbox, hv.memory_failure, "sigbus") for vm in self.vms]
        exits = [net.channel(kvm, vm.vmm.inbox, exit_to_user, "exit") for vm in self.vms]
        serrors = [net.channel(kvm, vm.guest.inbox, hv.exit_in_kernel) for vm in self.vms]
        self.kvm = Hypervisor(
            hv,
            s.platform.feat_ras,
            s.platform.host_panic_on_oops,
            memory_map.backing_page,
            streams.draws(kvm),
            self.ledger,
            self.memory,
            kvm_aborts,
            kvm_faults,
            kvm_deferred,
            sigbus,
            exits,
            serrors,
        )
        for vm, links in zip(
            self.vms, zip(to_guest, sigbus, exits, serrors, strict=True), strict=True
        ):
            vm.links += links
        self.links = [reads, retouches, scrubs, to_el2, self.el3.to_el2, self.el3.deferred_to_el2]

        env.process(self.cpu.consume())
        env.process(self.el3.handle_external_aborts())
        env.process(self.kvm.handle_aborts())
        env.process(self.kvm.handle_stage2_faults())
        env.process(self.kvm.handle_deferred_errors())
        for vm in self.vms:
            env.process(vm.vmm.handle_vcpu())
            env.process(vm.guest.take_exceptions())

    def _vm(self, index: int, scenario: Scenario, net: Network, workload: Workload) -> Vm:
        """VM ``index``: its VMM and guest kernel, and the links between them."""
        name = f"{self.name}.vm{index}"
        vmm_name, guest_name = f"{name}.vmm", f"{name}.guest"
        vmm_inbox, guest_inbox = net.inbox(vmm_name), net.inbox(guest_name)
        to_guest = net.channel(vmm_name, guest_inbox, scenario.vmm.latency)
        notify = net.channel(vmm_name, guest_inbox, scenario.vmm.latency, label="ao")
        ack = net.channel(guest_name, vmm_inbox, scenario.guest.ack)
        vmm = Vmm(self.env, scenario.vmm, self.ledger, self.memory, vmm_inbox, to_guest, notify)
        guest = GuestKernel(
            scenario.guest,
            net.streams.draws(guest_name),
            self.ledger,
            self.memory,
            guest_inbox,
            ack,
        )
        return Vm(
            index, name, vmm, guest, workload, [to_guest, notify, ack], [vmm_inbox, guest_inbox]
        )

    # -- the Lifecycle behind the ledger -----------------------------------------------------
    def vm_down(self, vm: int, planned: bool, vmm_dies: bool) -> None:
        """VM ``vm`` went down (guest panic, VMM death, hang, or a planned restart)."""
        machine = self.vms[vm]
        if not machine.up:
            raise RuntimeError(f"{machine.name} went down twice")
        machine.stop()
        for link in self.links:
            if link.in_flight:
                link.cancel(lambda message: message.error.vm == vm)
        for inbox in self.inboxes:
            if inbox.arrived:
                inbox.cancel(lambda message: message.error.vm == vm)
        self.memory.vm_stopped(vm, vmm_dies)
        if planned:
            machine.restarts += 1
        else:
            machine.crashes += 1
        delay = self.vmm_restart_time if planned else self.guest_reboot_time
        machine.rebooting = Timer(self.env, delay, (machine, vmm_dies), self._vm_back)

    def _vm_back(self, reboot: Timer[tuple[Vm, bool]]) -> None:
        """The VM is back after its reboot (or planned restart) time."""
        vm, new_vmm = reboot.payload
        vm.rebooting = None
        remapped = vm.boot(new_vmm)
        self.memory.vm_booted(vm.index, new_vmm, remapped)

    def host_down(self) -> None:
        """The host panicked: every VM on it is down until the host has rebooted."""
        self.up = False
        self.panics += 1
        for vm in self.vms:
            if vm.rebooting is not None:
                vm.rebooting.cancel()
                vm.rebooting = None
            vm.stop()
        for link in self.links:
            if link.in_flight:
                link.cancel()
        for inbox in self.inboxes:
            if inbox.arrived:
                inbox.cancel(lambda message: True)
        self.memory.host_stopped()
        Timer(self.env, self.reboot_time, None, self._host_back)

    def _host_back(self, _: Timer[None]) -> None:
        """The host boots after its reboot time, with every VM on a new VMM process."""
        self.up = True
        for vm in self.vms:
            vm.boot(new_vmm=True)
        self.memory.host_booted()
