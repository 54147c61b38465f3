"""The ledger: every error event opened, what the layers decided about it, and its outcome.

MODEL 9: every error event ends in exactly one outcome. :class:`RunLedger` keeps the
events of a group of hosts (open ones, and one row per resolved one, ``ERROR_COLUMNS``)
and enforces that as the run goes and at the end (:meth:`RunLedger.check`).
:class:`HostLedger` is the :class:`~rassim.model.interfaces.Ledger` the layers of one
host are given: it records into the run's ledger and applies what an outcome implies
through the host's :class:`Lifecycle` (a VM or the host goes down, and every other event
in flight on it ends with it).
"""

from __future__ import annotations

from typing import Protocol

from rassim.arch.kvm import KvmRunArmSea
from rassim.model.interfaces import Pages
from rassim.model.messages import ErrorEvent
from rassim.model.outcomes import Context, EventKind, Outcome
from rassim.scenario import Owner
from rassim.sim.environment import Environment

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


class LedgerError(RuntimeError):
    """Conservation broken: an event without an outcome, or one with two."""


class _Open:
    """What the layers decided about an event still in flight."""

    __slots__ = (
        "arm_sea",
        "claimed",
        "error",
        "esr",
        "exit_to_vmm",
        "guest_cper",
        "guest_esr",
        "steps",
        "sync",
    )

    def __init__(self, error: ErrorEvent) -> None:
        self.error = error
        self.sync: bool | None = None
        self.esr: int | None = None
        self.claimed = False
        self.exit_to_vmm = False
        self.arm_sea: KvmRunArmSea | None = None
        self.guest_esr: int | None = None
        self.guest_cper = False
        self.steps = ""


class RunLedger:
    """Opens error events, records the layers' decisions, resolves each exactly once."""

    def __init__(self) -> None:
        self.open: dict[int, _Open] = {}
        self.rows: list[tuple] = []
        self._next_id = 0

    def open_event(
        self,
        kind: EventKind,
        ue_id: int,
        host: int,
        vm: int | None,
        process: int | None,
        owner: Owner,
        gpa: int | None,
        context: Context,
        el: int | None,
        now: int,
        page: int | None = None,
    ) -> ErrorEvent:
        error = ErrorEvent(
            self._next_id, kind, ue_id, host, vm, process, owner, gpa, context, el, now, page
        )
        self._next_id += 1
        self.open[error.error_id] = _Open(error)
        return error

    # -- what the layers decided (see rassim.model.interfaces.Ledger) ---------------------
    def syndrome(self, error: ErrorEvent, sync: bool, esr: int) -> None:
        record = self.open[error.error_id]
        record.sync = sync
        record.esr = esr

    def claimed(self, error: ErrorEvent) -> None:
        self.open[error.error_id].claimed = True

    def exited(self, error: ErrorEvent, arm_sea: KvmRunArmSea | None) -> None:
        record = self.open[error.error_id]
        record.exit_to_vmm = True
        record.arm_sea = arm_sea

    def guest_took(self, error: ErrorEvent, esr: int | None, cper: bool) -> None:
        record = self.open[error.error_id]
        record.guest_esr = esr
        record.guest_cper = cper

    def step(self, error: ErrorEvent, detail: str) -> None:
        self.open[error.error_id].steps += f"{detail} -> "

    # -- outcomes -------------------------------------------------------------------------
    def close(
        self, error: ErrorEvent, outcome: Outcome, now: int, detail: str, in_flight: bool = False
    ) -> None:
        """Record ``error``'s outcome; an event ends once. Its ``detail`` is the path of
        deciding steps, or only ``detail`` if it ended ``in_flight`` with its VM or host."""
        record = self.open.pop(error.error_id, None)
        if record is None:
            raise LedgerError(f"error {error.error_id} resolved twice (then {outcome})")
        arm_sea = record.arm_sea
        self.rows.append(
            (
                error.error_id,
                error.ue_id,
                error.kind,
                error.host,
                error.vm,
                error.process,
                error.owner,
                error.context,
                error.el,
                record.sync,
                record.esr,
                record.claimed,
                record.exit_to_vmm,
                None if arm_sea is None else arm_sea.flags,
                None if arm_sea is None else arm_sea.esr,
                None if arm_sea is None else arm_sea.gva,
                None if arm_sea is None else arm_sea.gpa,
                record.guest_esr,
                record.guest_cper,
                detail if in_flight else record.steps + detail,
                outcome,
                outcome.blast_radius,
                error.started_ns,
                now,
                now - error.started_ns,
            )
        )

    def open_events(self, host: int, vm: int | None = None) -> list[ErrorEvent]:
        """Events still in flight on ``host`` (and on ``vm`` when given), oldest first."""
        return [
            r.error
            for r in self.open.values()
            if r.error.host == host and (vm is None or r.error.vm == vm)
        ]

    def check(self) -> None:
        """Fail loudly if any event has no outcome (nothing may be silently lost)."""
        if self.open:
            ids = ", ".join(str(i) for i in sorted(self.open)[:10])
            raise LedgerError(f"{len(self.open)} error events have no outcome: {ids}")
        if len(self.rows) != self._next_id:
            raise LedgerError(f"{self._next_id} events opened but {len(self.rows)} recorded")


class Lifecycle(Protocol):
    """What an outcome does to the host (implemented by :class:`rassim.model.host.Host`)."""

    def charge(self, error: ErrorEvent, outcome: Outcome) -> None:
        """The guest work ``error``'s outcome cost its process (a kill, a stall)."""

    def vm_down(self, vm: int, planned: bool, vmm_dies: bool) -> None:
        """VM ``vm`` stops; it boots again after its reboot or restart time."""

    def host_down(self) -> None:
        """The host stops; it boots again, with every VM, after its reboot time."""


class HostLedger:
    """The ledger the layers of one host report to (:class:`~rassim.model.interfaces.Ledger`)."""

    def __init__(
        self,
        env: Environment,
        host: int,
        ledger: RunLedger,
        lifecycle: Lifecycle,
        pages: Pages,
    ) -> None:
        self.env = env
        self.host = host
        self.ledger = ledger
        self.lifecycle = lifecycle
        self.pages = pages
        # Decisions go straight to the run's ledger.
        self.syndrome = ledger.syndrome
        self.claimed = ledger.claimed
        self.exited = ledger.exited
        self.guest_took = ledger.guest_took
        self.step = ledger.step

    def resolve(self, error: ErrorEvent, outcome: Outcome, detail: str) -> None:
        self.ledger.close(error, outcome, self.env.now, detail)
        self.lifecycle.charge(error, outcome)

    def _end_in_flight(self, vm: int | None, outcome: Outcome, detail: str) -> None:
        """Every other event still open on ``vm`` (or on the whole host) ends too."""
        for other in self.ledger.open_events(self.host, vm):
            self.ledger.close(other, outcome, self.env.now, detail, in_flight=True)

    def crash_vm(self, error: ErrorEvent, outcome: Outcome, detail: str, vmm_dies: bool) -> None:
        if error.vm is None:
            raise LedgerError(f"error {error.error_id} belongs to no VM: it cannot crash one")
        self.resolve(error, outcome, detail)
        self._end_in_flight(error.vm, outcome, f"in flight when the VM went down ({detail})")
        self.lifecycle.vm_down(error.vm, outcome is Outcome.VM_RESTARTED, vmm_dies)

    def panic_host(self, error: ErrorEvent, detail: str) -> None:
        self.resolve(error, Outcome.HOST_PANICKED, detail)
        self.pages.log(error.ue_id)  # the panic message names it
        self._end_in_flight(None, Outcome.HOST_PANICKED, f"in flight at host panic ({detail})")
        self.lifecycle.host_down()
