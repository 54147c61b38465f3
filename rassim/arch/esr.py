"""ESR_ELx syndrome encodings for aborts and SErrors, both ways.

Constant names and values mirror torvalds/linux arch/arm64/include/asm/esr.h (v6.x). Like the
header, the ``ESR_ELx_AET_*`` constants are in place (shifted to bit 10); the enums hold the
field values. esr.h names no SET encodings; ``ESR_ELx_SET_*`` below follow the ARM ARM and the
AET style (shifted to bit 11).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any

ESR_ELx_EC_SHIFT = 26
ESR_ELx_EC_WIDTH = 6
ESR_ELx_EC_MASK = 0x3F << ESR_ELx_EC_SHIFT
ESR_ELx_IL_SHIFT = 25
ESR_ELx_IL = 1 << ESR_ELx_IL_SHIFT
ESR_ELx_ISS_MASK = (1 << 25) - 1
ESR_ELx_ISS2_SHIFT = 32
ESR_ELx_ISS2_MASK = 0xFFFFFF << ESR_ELx_ISS2_SHIFT

# Data/instruction abort ISS
ESR_ELx_ISV = 1 << 24
ESR_ELx_SAS_SHIFT = 22
ESR_ELx_SAS = 3 << ESR_ELx_SAS_SHIFT
ESR_ELx_SSE = 1 << 21
ESR_ELx_SRT_SHIFT = 16
ESR_ELx_SRT_MASK = 0x1F << ESR_ELx_SRT_SHIFT
ESR_ELx_SF = 1 << 15
ESR_ELx_AR = 1 << 14
ESR_ELx_VNCR = 1 << 13
ESR_ELx_SET_SHIFT = 11
ESR_ELx_SET_MASK = 3 << ESR_ELx_SET_SHIFT
ESR_ELx_SET_UER = 0 << ESR_ELx_SET_SHIFT
ESR_ELx_SET_UC = 2 << ESR_ELx_SET_SHIFT
ESR_ELx_SET_UEO = 3 << ESR_ELx_SET_SHIFT
ESR_ELx_FnV = 1 << 10
ESR_ELx_EA = 1 << 9
ESR_ELx_CM = 1 << 8
ESR_ELx_S1PTW = 1 << 7
ESR_ELx_WNR = 1 << 6
ESR_ELx_FSC = 0x3F
ESR_ELx_FSC_TYPE = 0x3C
ESR_ELx_FSC_LEVEL = 0x03
ESR_ELx_FSC_EXTABT = 0x10
ESR_ELx_FSC_SERROR = 0x11
ESR_ELx_FSC_SECC = 0x18

# SError ISS
ESR_ELx_IDS = 1 << 24
ESR_ELx_IESB = 1 << 13  # ARM ARM name; esr.h does not define it
ESR_ELx_AET_SHIFT = 10
ESR_ELx_AET = 0x7 << ESR_ELx_AET_SHIFT
ESR_ELx_AET_UC = 0 << ESR_ELx_AET_SHIFT
ESR_ELx_AET_UEU = 1 << ESR_ELx_AET_SHIFT
ESR_ELx_AET_UEO = 2 << ESR_ELx_AET_SHIFT
ESR_ELx_AET_UER = 3 << ESR_ELx_AET_SHIFT
ESR_ELx_AET_CE = 6 << ESR_ELx_AET_SHIFT

_ESR_MAX = (1 << 56) - 1  # bits 63:56 are RES0
_TTW_LEVELS = range(-1, 4)


def ESR_ELx_FSC_SEA_TTW(level: int) -> int:
    """SEA on a translation table walk at ``level`` (-1..3): ``0x14 + level``."""
    return 0x14 + _ttw_level(level)


def ESR_ELx_FSC_SECC_TTW(level: int) -> int:
    """Parity/ECC error on a translation table walk at ``level`` (-1..3): ``0x1c + level``."""
    return 0x1C + _ttw_level(level)


def _ttw_level(level: int) -> int:
    if level not in _TTW_LEVELS:
        raise ValueError(f"ttw_level must be in -1..3, got {level!r}")
    return level


class ExceptionClass(enum.IntEnum):
    """ESR_ELx.EC values (esr.h ``ESR_ELx_EC_*``)."""

    UNKNOWN = 0x00
    WFx = 0x01
    SVC64 = 0x15
    HVC64 = 0x16
    SMC64 = 0x17
    SYS64 = 0x18
    IABT_LOW = 0x20
    IABT_CUR = 0x21
    PC_ALIGN = 0x22
    DABT_LOW = 0x24
    DABT_CUR = 0x25
    SP_ALIGN = 0x26
    SERROR = 0x2F
    BRK64 = 0x3C


class AbortSeverity(enum.IntEnum):
    """Abort ISS SET[12:11] (FEAT_RAS). 0b01 is reserved."""

    UER = 0
    UC = 2
    UEO = 3


class SErrorSeverity(enum.IntEnum):
    """SError ISS AET[12:10] (esr.h ``ESR_ELx_AET_*`` >> 10). Other values are reserved."""

    UC = 0
    UEU = 1
    UEO = 2
    UER = 3
    CE = 6


def _member(cls: type[enum.IntEnum], name: str, value: int) -> enum.IntEnum:
    try:
        return cls(value)
    except ValueError:
        raise ValueError(f"{name} must be a {cls.__name__}, got {value!r}") from None


def _label(cls: type[enum.IntEnum], value: int) -> str:
    return cls(value).name if value in cls._value2member_map_ else f"reserved ({value})"


def _check(name: str, value: int, width: int) -> None:
    if isinstance(value, bool) and width == 1:
        return
    if not isinstance(value, int) or not 0 <= value < (1 << width):
        raise ValueError(f"{name} must fit in {width} bit(s), got {value!r}")


def _encode(obj: object, layout: tuple[tuple[str, int, int], ...]) -> int:
    return sum(int(getattr(obj, name)) << shift for name, shift, _ in layout)


def _decode_fields(value: int, layout: tuple[tuple[str, int, int], ...]) -> dict[str, Any]:
    if not isinstance(value, int) or not 0 <= value <= _ESR_MAX:
        raise ValueError(f"esr must be an integer in 0..2**56-1, got {value!r}")
    out: dict[str, Any] = {}
    for name, shift, width in layout:
        raw = (value >> shift) & ((1 << width) - 1)
        out[name] = bool(raw) if width == 1 else raw
    return out


@dataclass(frozen=True)
class Esr:
    """ESR_ELx with the data-abort ISS layout (covers every ISS bit, so any value round-trips)."""

    ec: int
    il: bool = True
    iss2: int = 0
    isv: bool = False
    sas: int = 0
    sse: bool = False
    srt: int = 0
    sf: bool = False
    ar: bool = False
    vncr: bool = False
    set: int = AbortSeverity.UER
    fnv: bool = False
    ea: bool = False
    cm: bool = False
    s1ptw: bool = False
    wnr: bool = False
    dfsc: int = ESR_ELx_FSC_EXTABT

    _LAYOUT = (
        ("ec", 26, 6), ("il", 25, 1), ("isv", 24, 1), ("sas", 22, 2), ("sse", 21, 1),
        ("srt", 16, 5), ("sf", 15, 1), ("ar", 14, 1), ("vncr", 13, 1), ("set", 11, 2),
        ("fnv", 10, 1), ("ea", 9, 1), ("cm", 8, 1), ("s1ptw", 7, 1), ("wnr", 6, 1),
        ("dfsc", 0, 6), ("iss2", 32, 24),
    )  # fmt: skip

    def __post_init__(self) -> None:
        for name, _, width in self._LAYOUT:
            _check(name, getattr(self, name), width)

    def encode(self) -> int:
        return _encode(self, self._LAYOUT)

    @classmethod
    def decode(cls, value: int) -> Esr:
        return cls(**_decode_fields(value, cls._LAYOUT))


@dataclass(frozen=True)
class SErrorEsr:
    """ESR_ELx for EC=SERROR: IDS[24], IESB[13], AET[12:10], EA[9], DFSC[5:0]; other bits RES0.

    With IDS=1 the low bits are IMPLEMENTATION DEFINED; only the all-zero form KVM injects
    (``kvm_inject_serror()``: ISS = ESR_ELx_ISV only) is modelled.
    """

    ids: bool = False
    aet: int = SErrorSeverity.UC
    dfsc: int = ESR_ELx_FSC_SERROR
    iesb: bool = False
    ea: bool = False
    il: bool = True

    _LAYOUT = (
        ("il", 25, 1), ("ids", 24, 1), ("iesb", 13, 1), ("aet", 10, 3), ("ea", 9, 1),
        ("dfsc", 0, 6),
    )  # fmt: skip
    _EC = ExceptionClass.SERROR << ESR_ELx_EC_SHIFT

    def __post_init__(self) -> None:
        for name, _, width in self._LAYOUT:
            _check(name, getattr(self, name), width)

    def encode(self) -> int:
        return self._EC | _encode(self, self._LAYOUT)

    @classmethod
    def decode(cls, value: int) -> SErrorEsr:
        sev = cls(**_decode_fields(value, cls._LAYOUT))
        if value & ESR_ELx_EC_MASK != cls._EC:
            raise ValueError(f"ec must be SERROR (0x2f), got {value:#x}")
        if sev.encode() != value:
            raise ValueError(f"reserved bits set in SError esr {value:#x}")
        return sev


@functools.cache  # pure, and built once per error event
def data_abort(
    lower: bool = True,
    *,
    fnv: bool = False,
    s1ptw: bool = False,
    wnr: bool = False,
    ttw_level: int | None = None,
    parity: bool = False,
    set_: AbortSeverity = AbortSeverity.UER,
    il: bool = True,
) -> int:
    """ESR of an external data abort: DFSC 0x10/0x18, or SEA/SECC_TTW(level) on a walk."""
    ec = ExceptionClass.DABT_LOW if lower else ExceptionClass.DABT_CUR
    return _abort(ec, fnv, s1ptw, wnr, ttw_level, parity, set_, il)


@functools.cache  # pure, and built once per error event
def instruction_abort(
    lower: bool = True,
    *,
    fnv: bool = False,
    s1ptw: bool = False,
    ttw_level: int | None = None,
    parity: bool = False,
    set_: AbortSeverity = AbortSeverity.UER,
    il: bool = True,
) -> int:
    """ESR of an external instruction abort (WnR is RES0 for IABT)."""
    ec = ExceptionClass.IABT_LOW if lower else ExceptionClass.IABT_CUR
    return _abort(ec, fnv, s1ptw, False, ttw_level, parity, set_, il)


def _abort(
    ec: ExceptionClass,
    fnv: bool,
    s1ptw: bool,
    wnr: bool,
    ttw_level: int | None,
    parity: bool,
    set_: AbortSeverity,
    il: bool,
) -> int:
    if ttw_level is None:
        dfsc = ESR_ELx_FSC_SECC if parity else ESR_ELx_FSC_EXTABT
    else:
        dfsc = ESR_ELx_FSC_SECC_TTW(ttw_level) if parity else ESR_ELx_FSC_SEA_TTW(ttw_level)
    _member(AbortSeverity, "set", set_)
    return Esr(ec=ec, il=il, fnv=fnv, s1ptw=s1ptw, wnr=wnr, set=set_, dfsc=dfsc).encode()


@functools.cache  # pure, and built once per error event
def serror(aet: SErrorSeverity = SErrorSeverity.UC, *, ids: bool = False) -> int:
    """ESR of an SError: a RAS one with ``aet``, or (``ids``) the IDS-only one KVM injects."""
    if ids:
        return SErrorEsr(ids=True, aet=0, dfsc=0).encode()
    return SErrorEsr(aet=_member(SErrorSeverity, "aet", aet)).encode()


def esr_ec(esr: int) -> int:
    """``ESR_ELx_EC(esr)``."""
    return (esr & ESR_ELx_EC_MASK) >> ESR_ELx_EC_SHIFT


def is_data_abort(esr: int) -> bool:
    """``esr_is_data_abort()``: EC is DABT_LOW or DABT_CUR."""
    return esr_ec(esr) in (ExceptionClass.DABT_LOW, ExceptionClass.DABT_CUR)


def is_instruction_abort(esr: int) -> bool:
    return esr_ec(esr) in (ExceptionClass.IABT_LOW, ExceptionClass.IABT_CUR)


_EC_SERROR = ExceptionClass.SERROR << ESR_ELx_EC_SHIFT


def is_serror(esr: int) -> bool:
    """``ESR_ELx_EC(esr) == ESR_ELx_EC_SERROR``, the EC compared in place (asked per abort)."""
    return esr & ESR_ELx_EC_MASK == _EC_SERROR


_FSC_SEA_TTW = frozenset(ESR_ELx_FSC_SEA_TTW(n) for n in _TTW_LEVELS)
_FSC_SECC_TTW = frozenset(ESR_ELx_FSC_SECC_TTW(n) for n in _TTW_LEVELS)


def esr_fsc_is_sea_ttw(esr: int) -> bool:
    """esr.h ``esr_fsc_is_sea_ttw()``: FSC is SEA_TTW(-1..3)."""
    return esr & ESR_ELx_FSC in _FSC_SEA_TTW


def esr_fsc_is_secc_ttw(esr: int) -> bool:
    """esr.h ``esr_fsc_is_secc_ttw()``: FSC is SECC_TTW(-1..3)."""
    return esr & ESR_ELx_FSC in _FSC_SECC_TTW


def sea_ttw_level(esr: int) -> int | None:
    """Walk level of a SEA_TTW or SECC_TTW fault, None when the abort was not on a walk."""
    fsc = esr & ESR_ELx_FSC
    if esr_fsc_is_sea_ttw(esr):
        return fsc - 0x14
    if esr_fsc_is_secc_ttw(esr):
        return fsc - 0x1C
    return None


def is_sea(esr: int) -> bool:
    """kvm_emulate.h ``kvm_vcpu_abt_issea()``: FSC is EXTABT, SEA_TTW, SECC or SECC_TTW.

    The kernel only asks this of abort exits, so non-abort ECs answer False here.
    """
    if not (is_data_abort(esr) or is_instruction_abort(esr)):
        return False
    fsc = esr & ESR_ELx_FSC
    return fsc in (ESR_ELx_FSC_EXTABT, ESR_ELx_FSC_SECC) or sea_ttw_level(esr) is not None


_SEVERITIES = {int(s): s for s in SErrorSeverity}  # by AET (no SErrorSeverity() call per SError)


def arm64_is_ras_serror(esr: int, has_ras: bool = True) -> bool:
    """asm/traps.h ``arm64_is_ras_serror()``: IDS set -> not RAS; else RAS iff the CPU has it."""
    return not esr & ESR_ELx_IDS and has_ras


def arm64_ras_serror_get_severity(esr: int, has_ras: bool = True) -> SErrorSeverity:
    """asm/traps.h ``arm64_ras_serror_get_severity()``.

    Not RAS, or DFSC != ESR_ELx_FSC_SERROR (AET is then RES0) -> UC. Reserved AET encodings are
    returned as UC: ``arm64_is_fatal_ras_serror()`` handles them in the UC (default) branch.
    """
    if not arm64_is_ras_serror(esr, has_ras) or esr & ESR_ELx_FSC != ESR_ELx_FSC_SERROR:
        return SErrorSeverity.UC
    return _SEVERITIES.get((esr & ESR_ELx_AET) >> ESR_ELx_AET_SHIFT, SErrorSeverity.UC)


def _ec_name(ec: int) -> str:
    return ExceptionClass(ec).name if ec in ExceptionClass._value2member_map_ else f"EC {ec:#04x}"


def describe(esr: int) -> str:
    """One readable line, e.g. ``DABT_LOW, FnV, SEA (not on walk)`` or ``SERROR, AET UER``."""
    view = Esr.decode(esr)
    parts = [_ec_name(view.ec)]
    if is_serror(esr):
        if view.isv:
            parts.append("IDS (not a RAS syndrome)")
        elif view.dfsc == ESR_ELx_FSC_SERROR:
            parts.append(f"AET {_label(SErrorSeverity, (esr & ESR_ELx_AET) >> ESR_ELx_AET_SHIFT)}")
        else:
            parts.append(f"uncategorized (DFSC {view.dfsc:#04x})")
        return ", ".join(parts)
    if not (is_data_abort(esr) or is_instruction_abort(esr)):
        return f"{parts[0]}, ISS {esr & ESR_ELx_ISS_MASK:#x}"
    flags = {"fnv": "FnV", "ea": "EA", "cm": "CM", "s1ptw": "S1PTW", "wnr": "WnR", "vncr": "VNCR"}
    parts += [label for name, label in flags.items() if getattr(view, name)]
    level = sea_ttw_level(esr)
    kind = "parity/ECC" if view.dfsc == ESR_ELx_FSC_SECC or esr_fsc_is_secc_ttw(esr) else "SEA"
    if level is not None:
        parts.append(f"{kind} on walk level {level}")
    elif is_sea(esr):
        parts.append(f"{kind} (not on walk)")
    else:
        parts.append(f"FSC {view.dfsc:#04x}")
    if view.set:
        parts.append(f"SET {_label(AbortSeverity, view.set)}")
    return ", ".join(parts)


__all__ = [
    "AbortSeverity",
    "ESR_ELx_AET",
    "ESR_ELx_AET_CE",
    "ESR_ELx_AET_SHIFT",
    "ESR_ELx_AET_UC",
    "ESR_ELx_AET_UEO",
    "ESR_ELx_AET_UER",
    "ESR_ELx_AET_UEU",
    "ESR_ELx_AR",
    "ESR_ELx_CM",
    "ESR_ELx_EA",
    "ESR_ELx_EC_MASK",
    "ESR_ELx_EC_SHIFT",
    "ESR_ELx_EC_WIDTH",
    "ESR_ELx_FSC",
    "ESR_ELx_FSC_EXTABT",
    "ESR_ELx_FSC_LEVEL",
    "ESR_ELx_FSC_SEA_TTW",
    "ESR_ELx_FSC_SECC",
    "ESR_ELx_FSC_SECC_TTW",
    "ESR_ELx_FSC_SERROR",
    "ESR_ELx_FSC_TYPE",
    "ESR_ELx_FnV",
    "ESR_ELx_IDS",
    "ESR_ELx_IESB",
    "ESR_ELx_IL",
    "ESR_ELx_IL_SHIFT",
    "ESR_ELx_ISS2_MASK",
    "ESR_ELx_ISS2_SHIFT",
    "ESR_ELx_ISS_MASK",
    "ESR_ELx_ISV",
    "ESR_ELx_S1PTW",
    "ESR_ELx_SAS",
    "ESR_ELx_SAS_SHIFT",
    "ESR_ELx_SET_MASK",
    "ESR_ELx_SET_SHIFT",
    "ESR_ELx_SET_UC",
    "ESR_ELx_SET_UEO",
    "ESR_ELx_SET_UER",
    "ESR_ELx_SF",
    "ESR_ELx_SRT_MASK",
    "ESR_ELx_SRT_SHIFT",
    "ESR_ELx_SSE",
    "ESR_ELx_VNCR",
    "ESR_ELx_WNR",
    "Esr",
    "ExceptionClass",
    "SErrorEsr",
    "SErrorSeverity",
    "arm64_is_ras_serror",
    "arm64_ras_serror_get_severity",
    "data_abort",
    "describe",
    "esr_ec",
    "esr_fsc_is_sea_ttw",
    "esr_fsc_is_secc_ttw",
    "instruction_abort",
    "is_data_abort",
    "is_instruction_abort",
    "is_sea",
    "is_serror",
    "sea_ttw_level",
    "serror",
]
