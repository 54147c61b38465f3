"""EL3 firmware, firmware-first (MODEL 5.1, seed 004; TF-A docs/components/ras.rst)."""

from __future__ import annotations

from rassim.arch.esr import (
    SErrorSeverity,
    arm64_is_ras_serror,
    arm64_ras_serror_get_severity,
    is_serror,
)
from rassim.model.messages import ExternalAbort, FirmwareNotification, ScrubReport
from rassim.scenario import FirmwareConfig
from rassim.sim.channel import Channel, Inbox, Reader
from rassim.sim.draws import Draws


class El3Firmware:
    """Takes the external abort (SCR_EL3.EA=1), writes a CPER into the host's GHES, and
    re-delivers the exception to EL2 with ESR_EL2/FAR_EL2 set.

    The record can be missing: the platform may have no SEA GHES source
    (``firmware.ghes_sea``) or EL3 may fail to write a usable one (``firmware.p_record``);
    host APEI then cannot claim the SEA. An uncontainable SError (AET UC) or a record
    marked fatal (``firmware.p_fatal``) is fatal severity: host APEI will panic.
    """

    def __init__(
        self,
        config: FirmwareConfig,
        rng: Draws,
        inbox: Inbox[ExternalAbort | ScrubReport],
        to_el2: Channel[FirmwareNotification],
        deferred_to_el2: Channel[ScrubReport],
    ) -> None:
        self.rng = rng
        self.inbox = inbox
        self.to_el2 = to_el2
        self.deferred_to_el2 = deferred_to_el2  # action-optional records
        self.ghes_sea = config.ghes_sea
        self.p_record = config.p_record
        self.p_fatal = config.p_fatal

    def handle_external_aborts(self) -> Reader[ExternalAbort | ScrubReport]:
        """Each external abort is recorded and re-delivered to EL2; a deferred error the
        patrol scrubber found becomes an action-optional record."""
        while True:
            message = yield self.inbox.get()
            if isinstance(message, ScrubReport):
                self.deferred_to_el2.send(message)
                continue
            esr = message.esr
            record = self.ghes_sea and self.rng.random() < self.p_record
            fatal = self.rng.random() < self.p_fatal or (
                is_serror(esr)
                and arm64_is_ras_serror(esr)
                and arm64_ras_serror_get_severity(esr) is SErrorSeverity.UC
            )
            self.to_el2.send(FirmwareNotification(message.error, esr, message.far, record, fatal))
