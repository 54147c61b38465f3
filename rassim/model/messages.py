"""The error event and the typed messages the layers exchange over timed channels.

An :class:`ErrorEvent` is created once, by the memory node, when a poisoned page is read,
re-touched or scrubbed; it holds the facts of that moment (who read what, where) and is
never changed. Every message carries its error event, so each hop is recorded against
its ``error_id`` and the layers downstream know which VM, process and page it concerns;
what a layer decides travels in the message fields it sends on, and what it records goes
to the ledger (:mod:`rassim.model.ledger`). Messages are not changed after sending; they
are plain slotted classes because frozen ones cost more to build than the hop they
travel on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from rassim.arch.kvm import KvmRunArmSea
from rassim.arch.signals import SigbusCode
from rassim.model.outcomes import Context, EventKind
from rassim.scenario import Owner


class ErrorEvent:
    """One error event: a read, re-touch or scrub of one poisoned page, as it began."""

    __slots__ = (
        "context",
        "el",
        "error_id",
        "gpa",
        "host",
        "kind",
        "owner",
        "page",
        "process",
        "started_ns",
        "ue_id",
        "vm",
    )

    def __init__(
        self,
        error_id: int,
        kind: EventKind,
        ue_id: int,
        host: int,
        vm: int | None,
        process: int | None,
        owner: Owner,
        gpa: int | None,
        context: Context,
        el: int | None,
        started_ns: int,
        page: int | None = None,
    ) -> None:
        self.error_id = error_id
        self.kind = kind
        self.ue_id = ue_id  # the UE it belongs to
        # The page the layers act on (rassim.model.interfaces.Pages): the UE's own, or a
        # subpage of the huge page the host's poisoning of it took out of use.
        self.page = ue_id if page is None else page
        self.host = host
        self.vm = vm
        self.process = process  # the guest process that read it (or ran when it was read)
        self.owner = owner  # what the page held
        self.gpa = gpa  # its guest-physical address, if it is guest RAM
        self.context = context
        self.el = el  # exception level of the reading access, if any
        self.started_ns = started_ns

    def __repr__(self) -> str:
        return f"ErrorEvent({self.error_id}, {self.kind}, {self.owner}, vm={self.vm})"


@dataclass(slots=True)
class _Message:
    error: ErrorEvent
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
    """Memory node -> KVM: the guest touched a GPA whose host page is retired or unmapped."""

    hwpoisoned: bool  # memory_failure() retired the host page (else the VMM unmapped it)


@dataclass(slots=True)
class Sigbus(_Message):
    """Host kernel -> VMM: SIGBUS with its si_code and, for MCEERR codes, the address lsb."""

    code: SigbusCode | None  # None: a plain force_sig(SIGBUS)
    in_guest_ram: bool  # a RAMBlock mapped into the guest (guest RAM, or a device BAR)
    lsb: int


@dataclass(slots=True)
class KvmExit(_Message):
    """KVM -> VMM: KVM_RUN returned KVM_EXIT_ARM_SEA, or a userfault on an unmapped GPA."""

    arm_sea: KvmRunArmSea | None  # None: a userfault exit


@dataclass(slots=True)
class KvmLoop(_Message):
    """KVM -> VMM: KVM_RUN does not return: the vCPU takes the same SEA again and again,
    and host APEI claims and drops it each time; the VMM's watchdog will see a hung VM."""

    why: str


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

    Sent as the error is resolved; a VM going down cancels it in flight."""
