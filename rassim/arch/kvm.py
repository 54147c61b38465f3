"""KVM_EXIT_ARM_SEA: the exit KVM takes when host APEI does not claim a guest SEA.

Merged for Linux 6.19 as ad9c62bd8946 ("KVM: arm64: VM exit to userspace to handle SEA");
values and layout from include/uapi/linux/kvm.h as synced to tools/include and QEMU
linux-headers::

    #define KVM_EXIT_ARM_SEA          41
    struct { /* KVM_EXIT_ARM_SEA */
    #define KVM_EXIT_ARM_SEA_FLAG_GPA_VALID  (1ULL << 0)
            __u64 flags; __u64 esr; __u64 gva; __u64 gpa;
    } arm_sea;
    #define KVM_CAP_ARM_SEA_TO_USER 245

The v1 patch (seed 000) used exit 40 and cap 240 with two flags (GVA_VALID, GPA_VALID); one
intermediate revision used cap 244 and an ESR mask without IL, and one draft of api.rst listed
``esr`` before ``flags``. Only the merged form is modelled.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from rassim.arch.esr import (
    ESR_ELx_CM,
    ESR_ELx_EA,
    ESR_ELx_EC_MASK,
    ESR_ELx_FnV,
    ESR_ELx_FSC,
    ESR_ELx_IL,
    ESR_ELx_SET_MASK,
    ESR_ELx_WNR,
)

KVM_EXIT_ARM_SEA = 41
KVM_CAP_ARM_SEA_TO_USER = 245
KVM_EXIT_ARM_SEA_FLAG_GPA_VALID = 1 << 0

_ARM_SEA = struct.Struct("<4Q")  # flags, esr, gva, gpa
_U64 = (1 << 64) - 1


def arm_sea_esr_mask(feat_ras: bool) -> int:
    """The ``esr_mask`` of mmu.c ``kvm_handle_guest_sea()``: EC|IL|FnV|EA|CM|WnR|FSC = 0xFE00077F,
    plus ESR_ELx_SET_MASK when the VM has FEAT_RAS ("ESR_ELx.SET is RES0 when FEAT_RAS isn't
    implemented")."""
    mask = ESR_ELx_EC_MASK | ESR_ELx_IL | ESR_ELx_FnV | ESR_ELx_EA | ESR_ELx_CM | ESR_ELx_WNR
    mask |= ESR_ELx_FSC
    return mask | ESR_ELx_SET_MASK if feat_ras else mask


_ESR_MASKS = (arm_sea_esr_mask(False), arm_sea_esr_mask(True))


@dataclass(slots=True, init=False)
class KvmRunArmSea:
    """``kvm_run.arm_sea``; keyword-only because the UAPI order (flags first) differs from the
    order fields are usually named in. Not changed once built; not frozen, and checked in
    its own ``__init__``, because one is built per KVM exit and a frozen dataclass's
    ``__init__`` (or a ``__post_init__`` call) costs as much as the rest of the exit."""

    esr: int
    flags: int
    gva: int
    gpa: int

    SIZE = _ARM_SEA.size

    def __init__(self, *, esr: int, flags: int = 0, gva: int = 0, gpa: int = 0) -> None:
        # The common case in one test: four ints (not bools), none negative or above 64 bits.
        if not (
            type(flags) is type(esr) is type(gva) is type(gpa) is int
            and not (flags | esr | gva | gpa) >> 64
        ):
            for name, value in (("flags", flags), ("esr", esr), ("gva", gva), ("gpa", gpa)):
                if not isinstance(value, int) or not 0 <= value <= _U64:
                    raise ValueError(f"{name} must be a u64, got {value!r}")
        self.esr = esr
        self.flags = flags
        self.gva = gva
        self.gpa = gpa

    @property
    def gpa_valid(self) -> bool:
        return bool(self.flags & KVM_EXIT_ARM_SEA_FLAG_GPA_VALID)

    def pack(self) -> bytes:
        return _ARM_SEA.pack(self.flags, self.esr, self.gva, self.gpa)

    @classmethod
    def unpack(cls, data: bytes) -> KvmRunArmSea:
        if len(data) != cls.SIZE:
            raise ValueError(f"arm_sea must be {cls.SIZE} bytes, got {len(data)}")
        flags, esr, gva, gpa = _ARM_SEA.unpack(data)
        return cls(flags=flags, esr=esr, gva=gva, gpa=gpa)


def arm_sea_exit(esr: int, far: int, ipa: int | None, feat_ras: bool) -> KvmRunArmSea:
    """What ``kvm_handle_guest_sea()`` writes after memset(0): ``esr & esr_mask`` (no ISS2,
    ISV/SAS/SSE/SRT/SF/AR, VNCR or S1PTW); gva = FAR_EL2 unless FnV; gpa and GPA_VALID only
    when the fault IPA is known (``ipa != INVALID_GPA``)."""
    return KvmRunArmSea(
        esr=esr & _ESR_MASKS[feat_ras],
        flags=0 if ipa is None else KVM_EXIT_ARM_SEA_FLAG_GPA_VALID,
        gva=0 if esr & ESR_ELx_FnV else far,
        gpa=0 if ipa is None else ipa,
    )


__all__ = [
    "KVM_CAP_ARM_SEA_TO_USER",
    "KVM_EXIT_ARM_SEA",
    "KVM_EXIT_ARM_SEA_FLAG_GPA_VALID",
    "KvmRunArmSea",
    "arm_sea_esr_mask",
    "arm_sea_exit",
]
