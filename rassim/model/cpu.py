"""The CPU: a poisoned read becomes an SEA or an SError, with its syndrome, routed (MODEL 4)."""

from __future__ import annotations

import numpy as np

from rassim.arch.esr import SErrorSeverity, data_abort, serror
from rassim.model.messages import ExternalAbort, PoisonRead
from rassim.model.outcomes import Context
from rassim.scenario import Scenario
from rassim.sim.channel import Channel
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
    """

    def __init__(self, scenario: Scenario, rng: Draws) -> None:
        self.rng = rng
        self.p_sync = scenario.cpu.p_sync
        self.p_fnv = scenario.cpu.p_fnv
        self.feat_ras = scenario.platform.feat_ras
        self.firmware_first = scenario.firmware.first
        names = list(scenario.cpu.serror_aet)
        weights = np.asarray([scenario.cpu.serror_aet[n] for n in names], dtype=np.float64)
        self._aet = [SErrorSeverity[n] for n in names]
        self._aet_cumulative = np.cumsum(weights / weights.sum()).tolist()
        self.to_el3: Channel
        self.to_el2: Channel
        self.guest_channels: list[Channel]  # per VM: the guest's own EL1

    def on_poison_read(self, message: PoisonRead) -> None:
        event = message.event
        context, el = event.context, event.el
        event.sync = self.rng.random() < self.p_sync
        if not event.sync:
            event.esr = self._serror()
            (self.to_el3 if self.firmware_first else self.to_el2).send(
                ExternalAbort(event, event.esr, None)
            )
            return
        fnv = self.rng.random() < self.p_fnv
        level = self.rng.below(4) if context in _WALKS else None
        far = None if fnv else far_for(context, el, event.ue.gpa)
        if not self.firmware_first and not self.feat_ras and context in _GUEST_DIRECT:
            # HCR_EL2.TEA is RES0: the guest's EL1 takes its own abort.
            event.esr = event.guest_esr = data_abort(lower=el == 0, fnv=fnv, ttw_level=level)
            self.guest_channels[event.vm].send(ExternalAbort(event, event.esr, far))
            return
        event.esr = data_abort(
            lower=context is not Context.HOST_KERNEL,
            fnv=fnv,
            s1ptw=context is Context.HOST_STAGE2_WALK,
            ttw_level=level,
        )
        (self.to_el3 if self.firmware_first else self.to_el2).send(
            ExternalAbort(event, event.esr, far)
        )

    def _serror(self) -> int:
        """A RAS SError with a drawn AET, or an IMPDEF one (IDS) without FEAT_RAS."""
        if not self.feat_ras:
            return serror(ids=True)
        return serror(self._aet[self.rng.index(self._aet_cumulative)])
