"""Signals and memory_failure() codes exchanged between the host kernel, the VMM and guests.

Values from include/uapi/asm-generic/signal.h and siginfo.h (arm64 uses the generic ones) and
include/linux/mm.h (``enum mf_flags``, ``enum mf_result``; names as in mm/memory-failure.c
``action_name[]``).
"""

from __future__ import annotations

import enum

SIGBUS = 7
SIGKILL = 9


class SigbusCode(enum.IntEnum):
    """SIGBUS ``si_code`` values (asm-generic/siginfo.h)."""

    BUS_ADRALN = 1
    BUS_ADRERR = 2
    BUS_OBJERR = 3
    BUS_MCEERR_AR = 4
    BUS_MCEERR_AO = 5


class MfFlags(enum.IntFlag):
    """``enum mf_flags`` (the first four; memory_failure() callers pass these)."""

    MF_COUNT_INCREASED = 1 << 0
    MF_ACTION_REQUIRED = 1 << 1
    MF_MUST_KILL = 1 << 2
    MF_SOFT_OFFLINE = 1 << 3


MF_ACTION_REQUIRED = MfFlags.MF_ACTION_REQUIRED


class MfResult(enum.IntEnum):
    """``enum mf_result``, in kernel order."""

    MF_IGNORED = 0
    MF_FAILED = 1
    MF_DELAYED = 2
    MF_RECOVERED = 3

    @property
    def action_name(self) -> str:
        """As logged: "recovery action for dirty LRU page: Recovered"."""
        return self.name.removeprefix("MF_").capitalize()


def lsb_for_page_size(page_size: int) -> int:
    """``si_addr_lsb`` of a BUS_MCEERR_* SIGBUS: log2 of the poisoned page (12, 21, 30 for
    4 KiB, 2 MiB, 1 GiB), as ``kvm_send_hwpoison_signal()`` / ``kill_proc()`` report it."""
    if not isinstance(page_size, int) or page_size < 4096 or page_size & (page_size - 1):
        raise ValueError(f"page_size must be a power of two >= 4096, got {page_size!r}")
    return page_size.bit_length() - 1


__all__ = [
    "MF_ACTION_REQUIRED",
    "SIGBUS",
    "SIGKILL",
    "MfFlags",
    "MfResult",
    "SigbusCode",
    "lsb_for_page_size",
]
