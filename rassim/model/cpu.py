"""The CPU: a poisoned read becomes an SEA or an SError, with its syndrome, routed (MODEL 4)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rassim.arch.esr import SErrorSeverity, data_abort, serror
from rassim.model.interfaces import Ledger
from rassim.model.messages import ErrorEvent, ExternalAbort, PoisonRead
from rassim.model.outcomes import Context
from rassim.scenario import CpuConfig
from rassim.sim.channel import Channel, Inbox, Reader
from rassim.sim.draws import Draws

_WALKS = (Context.GUEST_STAGE1_WALK, Context.HOST_STAGE2_WALK)
_GUEST_DIRECT = (Context.GUEST_USER, Context.GUEST_KERNEL, Context.GUEST_STAGE1_WALK)


def far_for(context: Context, el: int | None, gpa: int | None) -> int:
    """A plausible faulting VA: the linear map for kernel reads, a user VA otherwise."""
    offset = (gpa or 0) & 0xFFFF_FFFF
    return (0xFFFF_0000_0000_0000 if el else 0x0000_AAAA_0000_0000) | offset


class Cpu:
    """Builds ESR_EL2 for the consuming access and routes the exception.

    Routing follows TF-A docs/components/ras.rst: with firmware-first (SCR_EL3.EA=1) every
    external abort goes to EL3; otherwise, with FEAT_RAS, KVM sets HCR_EL2.TEA and guest
    aborts go to EL2; without FEAT_RAS a guest's own data-access SEA goes straight to the
    guest's EL1 and only host-imposed accesses (stage-2 walks) reach EL2.

    An SEA on a stage-2 table walk carries S1PTW=1 only when that walk translated the IPA
    of a guest stage-1 descriptor (``cpu.s2_walk_for_s1_share``); when it served the data
    access itself S1PTW=0, and the ESR cannot be told from an SEA on the guest's own
    stage-1 walk (host_owns_sea() review, seed 002).
    """

    def __init__(
        self,
        config: CpuConfig,
        feat_ras: bool,
        rng: Draws,
        ledger: Ledger,
        reads: Inbox[PoisonRead],
        to_el2: Channel[ExternalAbort],
        to_guest: Sequence[Channel[ExternalAbort]],
    ) -> None:
        """``to_el2`` goes to EL3 under firmware-first, to KVM otherwise; ``to_guest``
        holds each VM's own EL1, for a guest abort without FEAT_RAS and firmware-first."""
        self.rng = rng
        self.ledger = ledger
        self.reads = reads
        self.to_el2 = to_el2
        self.to_guest = to_guest
        self.p_sync = config.p_sync
        self.p_fnv = config.p_fnv
        self.s2_walk_for_s1_share = config.s2_walk_for_s1_share
        self.feat_ras = feat_ras
        names = list(config.serror_aet)
        weights = np.asarray([config.serror_aet[n] for n in names], dtype=np.float64)
        self._aet = [SErrorSeverity[n] for n in names]
        self._aet_cumulative = np.cumsum(weights / weights.sum()).tolist()

    def consume(self) -> Reader[PoisonRead]:
        """Each poisoned read raises an external abort: synchronous (SEA) or an SError."""
        while True:
            read = yield self.reads.get()
            if self.rng.random() < self.p_sync:
                self._sea(read.error)
            else:
                esr = self._serror()
                self.ledger.syndrome(read.error, False, esr)
                self.to_el2.send(ExternalAbort(read.error, esr, None))

    def _sea(self, error: ErrorEvent) -> None:
        context, el = error.context, error.el
        fnv = self.rng.random() < self.p_fnv
        level = self.rng.below(4) if context in _WALKS else None
        far = None if fnv else far_for(context, el, error.gpa)
        if self.to_guest and context in _GUEST_DIRECT:
            # HCR_EL2.TEA is RES0: the guest's EL1 takes its own abort.
            esr = data_abort(lower=el == 0, fnv=fnv, ttw_level=level)
            self.ledger.syndrome(error, True, esr)
            self.to_guest[error.vm].send(ExternalAbort(error, esr, far))  # type: ignore[index]
            return
        s1ptw = (
            context is Context.HOST_STAGE2_WALK and self.rng.random() < self.s2_walk_for_s1_share
        )
        esr = data_abort(lower=not context.in_host_kernel, fnv=fnv, s1ptw=s1ptw, ttw_level=level)
        self.ledger.syndrome(error, True, esr)
        self.to_el2.send(ExternalAbort(error, esr, far))

    def _serror(self) -> int:
        """A RAS SError with a drawn AET, or an IMPDEF one (IDS) without FEAT_RAS."""
        if not self.feat_ras:
            return serror(ids=True)
        return serror(self._aet[self.rng.index(self._aet_cumulative)])
