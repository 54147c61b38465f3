"""What an error costs: contexts, kinds, outcomes, blast radii and UE final states (MODEL 9).

Every error event (a consumption, a re-touch of a poisoned page, or a scrubber
detection) ends in exactly one :class:`Outcome`; every UE ends in one :class:`UeState`.
"""

from __future__ import annotations

from enum import StrEnum

_GUEST_CONTEXTS = ("guest_user", "guest_kernel", "guest_stage1_walk", "host_stage2_walk")
_HOST_KERNEL_CONTEXTS = ("host_kernel", "host_stage2_free")


class Context(StrEnum):
    """Who was reading the poisoned line when it was consumed (MODEL 4)."""

    GUEST_USER = "guest_user"
    GUEST_KERNEL = "guest_kernel"
    GUEST_STAGE1_WALK = "guest_stage1_walk"
    HOST_STAGE2_WALK = "host_stage2_walk"
    VMM = "vmm"
    HOST_KERNEL = "host_kernel"
    HOST_STAGE2_FREE = "host_stage2_free"  # KVM's walk freeing a VM's stage-2 tables
    SCRUBBER = "scrubber"

    in_guest: bool  # a plain attribute: the ledger asks it for every event
    in_host_kernel: bool  # the host kernel itself read it (EL2): die() on an SEA

    def __init__(self, value: str) -> None:
        self.in_guest = value in _GUEST_CONTEXTS
        self.in_host_kernel = value in _HOST_KERNEL_CONTEXTS


class EventKind(StrEnum):
    CONSUMPTION = "consumption"  # a CPU read the poisoned line
    RETOUCH = "retouch"  # the guest touched a GPA whose host page is retired or unmapped
    SCRUB = "scrub"  # the patrol scrubber found the line first


class BlastRadius(StrEnum):
    NONE = "none"
    PROCESS = "process"
    VM = "vm"
    HOST = "host"


_RADIUS = {  # by outcome value
    "recovered": BlastRadius.NONE,
    "offlined": BlastRadius.NONE,
    "process_killed": BlastRadius.PROCESS,
    "vm_restarted": BlastRadius.VM,
    "vm_crashed": BlastRadius.VM,
    "host_panicked": BlastRadius.HOST,
}


class Outcome(StrEnum):
    RECOVERED = "recovered"
    OFFLINED = "offlined"
    PROCESS_KILLED = "process_killed"
    VM_RESTARTED = "vm_restarted"
    VM_CRASHED = "vm_crashed"
    HOST_PANICKED = "host_panicked"

    blast_radius: BlastRadius  # a plain attribute: asked for every event

    def __init__(self, value: str) -> None:
        self.blast_radius = _RADIUS[value]


class UeState(StrEnum):
    LATENT = "latent"  # never touched by the end
    OFFLINED = "offlined"  # page retired by the host, the VMM or the guest
    CLEARED = "cleared"  # transient, rewritten
    LIVE = "live"  # touched, still poisoned and mapped at the end
