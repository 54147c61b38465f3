"""What an error costs: contexts, outcomes, blast radii, and the ledger that records them.

MODEL 9: every error event (a consumption, a re-touch of a poisoned page, or a scrubber
detection) ends in exactly one outcome; every UE ends in one final state. The ledger
enforces the first as the run goes and :meth:`Ledger.check` both at the end.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import partial
from typing import TYPE_CHECKING

import pandas as pd

from rassim.sim import columns

if TYPE_CHECKING:
    from rassim.model.memory import Ue


class Context(StrEnum):
    """Who was reading the poisoned line when it was consumed (MODEL 4)."""

    GUEST_USER = "guest_user"
    GUEST_KERNEL = "guest_kernel"
    GUEST_STAGE1_WALK = "guest_stage1_walk"
    HOST_STAGE2_WALK = "host_stage2_walk"
    VMM = "vmm"
    HOST_KERNEL = "host_kernel"
    SCRUBBER = "scrubber"

    @property
    def in_guest(self) -> bool:
        return self in _GUEST_CONTEXTS


_GUEST_CONTEXTS = {
    Context.GUEST_USER,
    Context.GUEST_KERNEL,
    Context.GUEST_STAGE1_WALK,
    Context.HOST_STAGE2_WALK,
}


class EventKind(StrEnum):
    CONSUMPTION = "consumption"  # a CPU read the poisoned line
    RETOUCH = "retouch"  # the guest touched a GPA whose host page is retired or unmapped
    SCRUB = "scrub"  # the patrol scrubber found the line first


class Outcome(StrEnum):
    RECOVERED = "recovered"
    OFFLINED = "offlined"
    PROCESS_KILLED = "process_killed"
    VM_RESTARTED = "vm_restarted"
    VM_CRASHED = "vm_crashed"
    HOST_PANICKED = "host_panicked"

    @property
    def blast_radius(self) -> BlastRadius:
        return _RADIUS[self]


class BlastRadius(StrEnum):
    NONE = "none"
    PROCESS = "process"
    VM = "vm"
    HOST = "host"


_RADIUS = {
    Outcome.RECOVERED: BlastRadius.NONE,
    Outcome.OFFLINED: BlastRadius.NONE,
    Outcome.PROCESS_KILLED: BlastRadius.PROCESS,
    Outcome.VM_RESTARTED: BlastRadius.VM,
    Outcome.VM_CRASHED: BlastRadius.VM,
    Outcome.HOST_PANICKED: BlastRadius.HOST,
}


class UeState(StrEnum):
    LATENT = "latent"  # never touched by the end
    OFFLINED = "offlined"  # page retired by the host, the VMM or the guest
    CLEARED = "cleared"  # transient, rewritten
    LIVE = "live"  # touched, still poisoned and mapped at the end


@dataclass(slots=True, eq=False)
class ErrorEvent:
    """One error event as it crosses the layers; each layer fills in what it decided."""

    error_id: int
    kind: EventKind
    ue: Ue
    context: Context
    el: int | None  # exception level of the consuming access in the guest/host, if any
    started_ns: int
    host: int
    vm: int | None
    process: int | None
    sync: bool | None = None
    esr: int | None = None  # ESR_EL2 (or ESR_EL1 when the guest took it directly)
    claimed: bool = False  # host APEI claimed the SEA
    exit_to_vmm: bool = False  # KVM_EXIT_ARM_SEA
    arm_sea_flags: int | None = None
    arm_sea_esr: int | None = None
    arm_sea_gva: int | None = None
    arm_sea_gpa: int | None = None
    guest_esr: int | None = None  # ESR the guest kernel saw
    guest_cper: bool = False  # the guest found a CPER record for it
    detail: str = ""  # the deciding step, e.g. "kvm_inject_serror"
    outcome: Outcome | None = field(default=None)
    resolved_ns: int | None = None


ERROR_COLUMNS = (
    "error_id",
    "ue_id",
    "kind",
    "host",
    "vm",
    "process",
    "owner",
    "context",
    "el",
    "sync",
    "esr",
    "claimed",
    "exit_to_vmm",
    "arm_sea_flags",
    "arm_sea_esr",
    "arm_sea_gva",
    "arm_sea_gpa",
    "guest_esr",
    "guest_cper",
    "detail",
    "outcome",
    "blast_radius",
    "consumed_ns",
    "resolved_ns",
    "latency_ns",
)


_NULLABLE_INTS = (
    "vm",
    "process",
    "el",
    "esr",
    "arm_sea_flags",
    "arm_sea_esr",
    "arm_sea_gpa",
    "guest_esr",
)


class LedgerError(RuntimeError):
    """Conservation broken: an event without an outcome, or one with two."""


class Ledger:
    """Opens error events, resolves each exactly once, and turns them into a table."""

    def __init__(self) -> None:
        self.open: dict[int, ErrorEvent] = {}
        self.rows: list[tuple] = []
        self._next_id = 0

    def new_event(self, **fields: object) -> ErrorEvent:
        event = ErrorEvent(error_id=self._next_id, **fields)  # type: ignore[arg-type]
        self._next_id += 1
        self.open[event.error_id] = event
        event.ue.events += 1
        return event

    def resolve(self, event: ErrorEvent, outcome: Outcome, now: int, detail: str = "") -> None:
        if event.outcome is not None or event.error_id not in self.open:
            raise LedgerError(
                f"error {event.error_id} resolved twice ({event.outcome} then {outcome})"
            )
        del self.open[event.error_id]
        event.outcome = outcome
        event.resolved_ns = now
        if detail:
            event.detail = detail
        self.rows.append(
            (
                event.error_id,
                event.ue.ue_id,
                event.kind,
                event.host,
                event.vm,
                event.process,
                event.ue.owner,
                event.context,
                event.el,
                event.sync,
                event.esr,
                event.claimed,
                event.exit_to_vmm,
                event.arm_sea_flags,
                event.arm_sea_esr,
                event.arm_sea_gva,
                event.arm_sea_gpa,
                event.guest_esr,
                event.guest_cper,
                event.detail,
                outcome,
                _RADIUS[outcome],
                event.started_ns,
                now,
                now - event.started_ns,
            )
        )

    def open_events(self, host: int, vm: int | None = None) -> list[ErrorEvent]:
        """Events still in flight on ``host`` (and on ``vm`` when given), oldest first."""
        return [e for e in self.open.values() if e.host == host and (vm is None or e.vm == vm)]

    def check(self) -> None:
        """Fail loudly if any event has no outcome (nothing may be silently lost)."""
        if self.open:
            ids = ", ".join(str(i) for i in sorted(self.open)[:10])
            raise LedgerError(f"{len(self.open)} error events have no outcome: {ids}")
        if len(self.rows) != self._next_id:
            raise LedgerError(f"{self._next_id} events opened but {len(self.rows)} recorded")

    def to_frame(self) -> pd.DataFrame:
        values = list(zip(*self.rows, strict=True)) or [()] * len(ERROR_COLUMNS)
        data = dict(zip(ERROR_COLUMNS, values, strict=True))
        # In resolution order: the run numbers and orders the events of the whole fleet.
        return pd.DataFrame(
            {name: _COLUMN_TYPES.get(name, columns.ints)(column) for name, column in data.items()}
        )


_STRINGS = ("kind", "owner", "context", "detail", "outcome", "blast_radius")
_COLUMN_TYPES: dict[str, Callable[[Sequence], object]] = {
    **dict.fromkeys(_STRINGS, columns.strings),
    **dict.fromkeys(_NULLABLE_INTS, columns.nullable_ints),
    "arm_sea_gva": partial(columns.nullable_ints, unsigned=True),  # kernel VAs use bit 63
    "sync": columns.nullable_flags,
    **dict.fromkeys(("claimed", "exit_to_vmm", "guest_cper"), columns.flags),
}
