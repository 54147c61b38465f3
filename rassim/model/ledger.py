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

from collections.abc import Sequence
from typing import Any, Protocol

from rassim.arch.kvm import KvmRunArmSea
from rassim.model.interfaces import Pages
from rassim.model.messages import ErrorEvent
from rassim.model.outcomes import Context, EventKind, Outcome
from rassim.model.workload import Workload
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


# What the layers decided about an event in flight: a list per open event (building one
# costs no call), indexed by these names.
_ERROR, _SYNC, _ESR, _CLAIMED, _EXIT, _ARM_SEA, _GUEST_ESR, _GUEST_CPER, _STEPS = range(9)


class RunLedger:
    """Opens error events, records the layers' decisions, resolves each exactly once."""

    def __init__(self) -> None:
        self.open: dict[int, list[Any]] = {}  # by error id: see _ERROR .. _STEPS
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
        self.open[error.error_id] = [error, None, None, False, False, None, None, False, ""]
        return error

    # -- what the layers decided (see rassim.model.interfaces.Ledger) ---------------------
    def syndrome(self, error: ErrorEvent, sync: bool, esr: int) -> None:
        record = self.open[error.error_id]
        record[_SYNC] = sync
        record[_ESR] = esr

    def claimed(self, error: ErrorEvent) -> None:
        self.open[error.error_id][_CLAIMED] = True

    def exited(self, error: ErrorEvent, arm_sea: KvmRunArmSea | None) -> None:
        record = self.open[error.error_id]
        record[_EXIT] = True
        record[_ARM_SEA] = arm_sea

    def guest_took(self, error: ErrorEvent, esr: int | None, cper: bool) -> None:
        record = self.open[error.error_id]
        record[_GUEST_ESR] = esr
        record[_GUEST_CPER] = cper

    def step(self, error: ErrorEvent, detail: str) -> None:
        self.open[error.error_id][_STEPS] += f"{detail} -> "

    # -- outcomes -------------------------------------------------------------------------
    def close(
        self, error: ErrorEvent, outcome: Outcome, now: int, detail: str, in_flight: bool = False
    ) -> None:
        """Record ``error``'s outcome; an event ends once. Its ``detail`` is the path of
        deciding steps, or only ``detail`` if it ended ``in_flight`` with its VM or host."""
        record = self.open.pop(error.error_id, None)
        if record is None:
            raise LedgerError(f"error {error.error_id} resolved twice (then {outcome})")
        arm_sea = record[_ARM_SEA]
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
                record[_SYNC],
                record[_ESR],
                record[_CLAIMED],
                record[_EXIT],
                None if arm_sea is None else arm_sea.flags,
                None if arm_sea is None else arm_sea.esr,
                None if arm_sea is None else arm_sea.gva,
                None if arm_sea is None else arm_sea.gpa,
                record[_GUEST_ESR],
                record[_GUEST_CPER],
                detail if in_flight else record[_STEPS] + detail,
                outcome,
                outcome.blast_radius,
                error.started_ns,
                now,
                now - error.started_ns,
            )
        )

    def open_events(self, host: int, vm: int | None = None) -> list[ErrorEvent]:
        """Events still in flight on ``host`` (and on ``vm`` when given), oldest first."""
        errors = (record[_ERROR] for record in self.open.values())
        return [e for e in errors if e.host == host and (vm is None or e.vm == vm)]

    def check(self) -> None:
        """Fail loudly if any event has no outcome (nothing may be silently lost)."""
        if self.open:
            ids = ", ".join(str(i) for i in sorted(self.open)[:10])
            raise LedgerError(f"{len(self.open)} error events have no outcome: {ids}")
        if len(self.rows) != self._next_id:
            raise LedgerError(f"{self._next_id} events opened but {len(self.rows)} recorded")


class Lifecycle(Protocol):
    """What an outcome does to the host (implemented by :class:`rassim.model.host.Host`)."""

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
        workloads: Sequence[Workload],
    ) -> None:
        """``workloads``: each VM's processes, which pay for kills and stalls."""
        self.env = env
        self.host = host
        self.ledger = ledger
        self.lifecycle = lifecycle
        self.pages = pages
        self.workloads = workloads
        # Decisions go straight to the run's ledger.
        self.syndrome = ledger.syndrome
        self.claimed = ledger.claimed
        self.exited = ledger.exited
        self.guest_took = ledger.guest_took
        self.step = ledger.step

    def resolve(self, error: ErrorEvent, outcome: Outcome, detail: str) -> None:
        """Record the outcome; a guest process it killed or stalled pays in lost work."""
        now = self.env.now
        self.ledger.close(error, outcome, now, detail)
        if error.process is None or error.vm is None or not error.context.in_guest:
            return
        if outcome is Outcome.PROCESS_KILLED:
            self.workloads[error.vm].kill(error.process, now)
        elif outcome is Outcome.RECOVERED:
            self.workloads[error.vm].stall(error.process, error.started_ns, now)

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
