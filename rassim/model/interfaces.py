"""The two narrow interfaces a layer is given besides its channels (MODEL 2).

- :class:`Ledger`: where a layer records what it decided about an error event and how
  the event ended: resolved, its VM crashed or restarted, its host panicked. Whoever
  implements it (:class:`rassim.model.ledger.HostLedger`) applies the consequences: a
  VM or host goes down, and every other event in flight on it ends with it.
- :class:`Pages`: what a layer may do to a poisoned page, through the memory node that
  owns it (the only writer of UE state). A page is named by the ``page`` of the error
  event that touched it: its UE's id, or for a subpage of a huge page the host poisoned
  whole, a key of its own; :meth:`Pages.log` takes the UE's id.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Protocol

from rassim.arch.kvm import KvmRunArmSea
from rassim.model.messages import ErrorEvent
from rassim.model.outcomes import Outcome


class Ledger(Protocol):
    """Outcomes and recorded decisions of error events (one row per event at the end)."""

    def resolve(self, error: ErrorEvent, outcome: Outcome, detail: str) -> None:
        """``error`` ends with ``outcome``; ``detail`` names the deciding step."""

    def crash_vm(self, error: ErrorEvent, outcome: Outcome, detail: str, vmm_dies: bool) -> None:
        """``error`` takes its VM down (``VM_CRASHED``, or ``VM_RESTARTED`` when the VMM
        planned it); ``vmm_dies``: the VMM process goes too (the VM gets fresh memory)."""

    def panic_host(self, error: ErrorEvent, detail: str) -> None:
        """``error`` panics its host: every VM on it goes down."""

    def syndrome(self, error: ErrorEvent, sync: bool, esr: int) -> None:
        """The CPU raised an SEA (``sync``) or an SError with this ESR."""

    def claimed(self, error: ErrorEvent) -> None:
        """Host APEI claimed the SEA (``apei_claim_sea()`` returned 0)."""

    def exited(self, error: ErrorEvent, arm_sea: KvmRunArmSea | None) -> None:
        """KVM returned to the VMM: ``KVM_EXIT_ARM_SEA`` with ``arm_sea``, or a userfault."""

    def guest_took(self, error: ErrorEvent, esr: int | None, cper: bool) -> None:
        """The guest kernel took an abort with ``esr`` (none for a GHES notification), with
        or without a CPER record."""

    def step(self, error: ErrorEvent, detail: str) -> None:
        """A deciding step that does not end the event (kept in its ``detail``)."""


class Retirer(StrEnum):
    """Who took a poisoned page out of use."""

    HOST = "host"  # host memory_failure(): the host page is hwpoisoned
    VMM = "vmm"  # the VMM unmapped the GPA from stage 2
    GUEST = "guest"  # the guest's memory_failure() retired the GPA
    LEAK = "leak"  # the host task freeing it died half way: it is never freed


class Pages(Protocol):
    """A layer's access to poisoned pages (owned by the memory node), by page key."""

    def rearm(self, page: int) -> None:
        """The reader survived and the page stays poisoned and in use: its next touch or
        scrub is scheduled (a page KVM's walk was freeing goes on to the free pool)."""

    def retire(self, page: int, by: Retirer) -> None:
        """``by`` took the page out of use."""

    def reuse_gpa(self, page: int) -> None:
        """The guest freed the GPA (its process died) and will allocate it again."""

    def mark_hwpoison(self, page: int) -> None:
        """memory_failure() set PG_hwpoison but could not isolate the page (a kernel page):
        it stays in use, and is never returned to the free pool."""

    def log(self, ue_id: int) -> None:
        """The host holds a record of the error (a CPER, or the panic it caused)."""

    def leave_reported(self, page: int) -> None:
        """The scrubber's report could not retire the page: it stays in use, and the
        scrubber does not report it again."""
