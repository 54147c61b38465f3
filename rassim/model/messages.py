"""Typed messages the layers exchange over timed channels (one class per message kind).

Every message carries the :class:`ErrorEvent` it belongs to, so each hop is recorded
against that event's ``error_id`` and the event can be followed end to end. Messages
are not mutated after sending; they are plain slotted classes because frozen ones cost
more to build than the hop they travel on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rassim.arch.signals import SigbusCode
from rassim.model.outcomes import ErrorEvent


@dataclass(slots=True)
class _Message:
    event: ErrorEvent
    kind: ClassVar[str] = "_Message"

    def __init_subclass__(cls) -> None:
        cls.kind = cls.__name__  # no super(): @dataclass(slots=True) rebuilds the class


@dataclass(slots=True)
class PoisonRead(_Message):
    """Memory node -> CPU: a load hit a poisoned line."""


@dataclass(slots=True)
class ExternalAbort(_Message):
    """CPU -> EL3 / EL2 / guest EL1: an SEA or SError with its syndrome (ESR, FAR)."""

    esr: int
    far: int | None


@dataclass(slots=True)
class FirmwareNotification(_Message):
    """EL3 -> EL2: the abort re-delivered, with or without a CPER in the host's GHES."""

    esr: int
    far: int | None
    record: bool  # an active record sits in the SEA GHES source
    fatal: bool


@dataclass(slots=True)
class ScrubReport(_Message):
    """Memory node -> EL3 or host: the patrol scrubber found a deferred (UEO) error."""


@dataclass(slots=True)
class Stage2Fault(_Message):
    """Memory node -> KVM: the guest touched a GPA whose host page is poisoned or unmapped."""


@dataclass(slots=True)
class Sigbus(_Message):
    """Host kernel -> VMM: SIGBUS with its si_code and, for MCEERR codes, the address lsb."""

    code: SigbusCode | None  # None: a plain force_sig(SIGBUS)
    in_guest_ram: bool
    lsb: int


@dataclass(slots=True)
class KvmExit(_Message):
    """KVM -> VMM: KVM_RUN returned KVM_EXIT_ARM_SEA, or a userfault on an unmapped GPA."""

    arm_sea: object | None  # KvmRunArmSea, or None for a userfault exit


@dataclass(slots=True)
class VirtualSError(_Message):
    """KVM -> guest: kvm_inject_serror(), ISS = IDS only."""

    esr: int


@dataclass(slots=True)
class InjectedSea(_Message):
    """VMM -> guest: an SEA injected with KVM_SET_VCPU_EVENTS, maybe with a CPER record."""

    esr: int
    cper: bool


@dataclass(slots=True)
class GhesNotify(_Message):
    """VMM -> guest: an action-optional CPER record (vmm.ao_action = "notify")."""


@dataclass(slots=True)
class ReadAck(_Message):
    """Guest -> VMM: the guest acknowledged the GHES record (Read Ack register = 1).

    Sent after the event is resolved; ``epoch`` says which boot of the VM sent it.
    """

    epoch: int
