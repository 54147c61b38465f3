"""ESR_ELx encodings: values from arch/arm64/include/asm/esr.h and the seeds."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rassim.arch import esr as E
from rassim.arch.esr import AbortSeverity, Esr, ExceptionClass, SErrorEsr, SErrorSeverity

bits = st.booleans()
abort_esrs = st.builds(
    Esr,
    ec=st.integers(0, 63),
    il=bits,
    iss2=st.integers(0, 2**24 - 1),
    isv=bits,
    sas=st.integers(0, 3),
    sse=bits,
    srt=st.integers(0, 31),
    sf=bits,
    ar=bits,
    vncr=bits,
    set=st.integers(0, 3),
    fnv=bits,
    ea=bits,
    cm=bits,
    s1ptw=bits,
    wnr=bits,
    dfsc=st.integers(0, 63),
)
serror_esrs = st.builds(
    SErrorEsr,
    ids=bits,
    aet=st.integers(0, 7),
    dfsc=st.integers(0, 63),
    iesb=bits,
    ea=bits,
    il=bits,
)


def test_header_values():
    assert (E.ESR_ELx_EC_SHIFT, E.ESR_ELx_EC_MASK) == (26, 0xFC000000)
    assert (E.ESR_ELx_IL, E.ESR_ELx_ISV, E.ESR_ELx_IDS) == (0x2000000, 0x1000000, 0x1000000)
    assert (E.ESR_ELx_SAS, E.ESR_ELx_SSE, E.ESR_ELx_SRT_MASK) == (0xC00000, 0x200000, 0x1F0000)
    assert (E.ESR_ELx_SF, E.ESR_ELx_AR, E.ESR_ELx_VNCR) == (0x8000, 0x4000, 0x2000)
    assert (E.ESR_ELx_SET_MASK, E.ESR_ELx_FnV, E.ESR_ELx_EA) == (0x1800, 0x400, 0x200)
    assert (E.ESR_ELx_CM, E.ESR_ELx_S1PTW, E.ESR_ELx_WNR, E.ESR_ELx_FSC) == (
        0x100,
        0x80,
        0x40,
        0x3F,
    )
    assert E.ESR_ELx_ISS2_MASK == 0x00FFFFFF00000000
    assert (E.ESR_ELx_AET, E.ESR_ELx_AET_UER, E.ESR_ELx_AET_CE) == (0x1C00, 0xC00, 0x1800)
    assert [E.ESR_ELx_FSC_SEA_TTW(n) for n in range(-1, 4)] == [0x13, 0x14, 0x15, 0x16, 0x17]
    assert [E.ESR_ELx_FSC_SECC_TTW(n) for n in range(-1, 4)] == [0x1B, 0x1C, 0x1D, 0x1E, 0x1F]
    assert (ExceptionClass.IABT_LOW, ExceptionClass.DABT_CUR, ExceptionClass.SERROR) == (
        0x20,
        0x25,
        0x2F,
    )


@pytest.mark.parametrize(
    ("field", "mask"),
    [
        ("il", E.ESR_ELx_IL),
        ("isv", E.ESR_ELx_ISV),
        ("sse", E.ESR_ELx_SSE),
        ("sf", E.ESR_ELx_SF),
        ("ar", E.ESR_ELx_AR),
        ("vncr", E.ESR_ELx_VNCR),
        ("fnv", E.ESR_ELx_FnV),
        ("ea", E.ESR_ELx_EA),
        ("cm", E.ESR_ELx_CM),
        ("s1ptw", E.ESR_ELx_S1PTW),
        ("wnr", E.ESR_ELx_WNR),
    ],
)
def test_each_flag_lands_on_its_kernel_bit(field, mask):
    assert Esr(**{"ec": 0, "il": False, "dfsc": 0, field: True}).encode() == mask


@given(abort_esrs)
def test_esr_round_trip(value):
    assert Esr.decode(value.encode()) == value


@given(st.integers(0, 2**56 - 1))
def test_any_esr_value_round_trips(raw):
    assert Esr.decode(raw).encode() == raw


@given(serror_esrs)
def test_serror_round_trip(value):
    raw = value.encode()
    assert E.is_serror(raw)
    assert SErrorEsr.decode(raw) == value


def test_seed_guest_esr_from_el0():
    view = Esr.decode(0x92000410)
    assert view.ec == ExceptionClass.DABT_LOW
    assert view.il and view.fnv and view.dfsc == 0x10
    assert not (view.isv or view.s1ptw or view.wnr or view.set)
    assert E.is_sea(0x92000410) and E.is_data_abort(0x92000410)
    assert E.data_abort(lower=True, fnv=True) == 0x92000410


def test_seed_guest_esr_from_el1():
    assert Esr.decode(0x96000410).ec == ExceptionClass.DABT_CUR
    assert E.data_abort(lower=False, fnv=True) == 0x96000410


def test_builders():
    assert E.data_abort(s1ptw=True, ttw_level=1) == 0x92000095
    assert E.data_abort(ttw_level=-1, wnr=True) == 0x92000053
    assert E.data_abort(parity=True, set_=AbortSeverity.UEO) == 0x92001818
    assert E.data_abort(parity=True, ttw_level=-1) == 0x9200001B
    assert E.instruction_abort() == 0x82000010
    assert E.instruction_abort(lower=False, ttw_level=3) == 0x86000017
    assert E.data_abort(il=False) == 0x90000010


def test_serror_builder():
    assert E.serror(SErrorSeverity.UC) == 0xBE000011
    assert E.serror(SErrorSeverity.UER) == 0xBE000C11
    assert E.serror(SErrorSeverity.CE) == 0xBE001811
    # kvm_inject_serror(): ISS = ESR_ELx_ISV (IDS) only
    assert E.serror(ids=True) == 0xBF000000


def test_is_sea_matches_kvm_vcpu_abt_issea_for_every_fsc():
    expected = {0x10, 0x13, 0x14, 0x15, 0x16, 0x17, 0x18, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F}
    for ec in (0x20, 0x21, 0x24, 0x25):
        got = {fsc for fsc in range(64) if E.is_sea(ec << 26 | fsc)}
        assert got == expected
    assert not E.is_sea(E.serror(SErrorSeverity.UER) & ~0x3F | 0x10)


def test_walk_predicates():
    assert [E.sea_ttw_level(E.data_abort(ttw_level=n)) for n in range(-1, 4)] == [-1, 0, 1, 2, 3]
    assert E.sea_ttw_level(E.data_abort(parity=True, ttw_level=2)) == 2
    assert E.sea_ttw_level(0x92000410) is None
    assert E.sea_ttw_level(E.data_abort(parity=True)) is None
    assert E.esr_fsc_is_sea_ttw(0x13) and not E.esr_fsc_is_sea_ttw(0x18)
    assert E.esr_fsc_is_secc_ttw(0x1B) and not E.esr_fsc_is_secc_ttw(0x17)
    assert E.is_instruction_abort(E.instruction_abort()) and not E.is_data_abort(0x82000010)


def test_ras_serror_severity():
    get = E.arm64_ras_serror_get_severity
    for sev in SErrorSeverity:
        assert get(E.serror(sev)) == sev
    assert not E.arm64_is_ras_serror(E.serror(ids=True))
    assert get(E.serror(ids=True)) == SErrorSeverity.UC
    assert get(E.serror(SErrorSeverity.UER), has_ras=False) == SErrorSeverity.UC
    # AET is RES0 unless DFSC == ESR_ELx_FSC_SERROR
    assert get(E.serror(SErrorSeverity.UER) & ~0x3F) == SErrorSeverity.UC
    assert get(SErrorEsr(aet=5).encode()) == SErrorSeverity.UC


@pytest.mark.parametrize(
    ("esr", "text"),
    [
        (0x92000410, "DABT_LOW, FnV, SEA (not on walk)"),
        (0x96000410, "DABT_CUR, FnV, SEA (not on walk)"),
        (E.data_abort(s1ptw=True, ttw_level=1), "DABT_LOW, S1PTW, SEA on walk level 1"),
        (E.data_abort(wnr=True, parity=True), "DABT_LOW, WnR, parity/ECC (not on walk)"),
        (E.instruction_abort(set_=AbortSeverity.UEO), "IABT_LOW, SEA (not on walk), SET UEO"),
        (E.data_abort() | 1 << 11, "DABT_LOW, SEA (not on walk), SET reserved (1)"),
        (E.serror(SErrorSeverity.UER), "SERROR, AET UER"),
        (E.serror(SErrorSeverity.UC), "SERROR, AET UC"),
        (E.serror(ids=True), "SERROR, IDS (not a RAS syndrome)"),
        (SErrorEsr(aet=7).encode(), "SERROR, AET reserved (7)"),
        (0xBE000000, "SERROR, uncategorized (DFSC 0x00)"),
        (0x92000004, "DABT_LOW, FSC 0x04"),
        (0x5A000000, "HVC64, ISS 0x0"),
        (0x0C000001, "EC 0x03, ISS 0x1"),
    ],
)
def test_describe(esr, text):
    assert E.describe(esr) == text


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Esr(ec=64), "ec"),
        (lambda: Esr(ec=0x24, srt=32), "srt"),
        (lambda: Esr(ec=0x24, iss2=1 << 24), "iss2"),
        (lambda: Esr(ec=0x24, fnv=2), "fnv"),
        (lambda: Esr(ec=0x24, dfsc=-1), "dfsc"),
        (lambda: SErrorEsr(aet=8), "aet"),
        (lambda: E.data_abort(ttw_level=4), "ttw_level"),
        (lambda: E.data_abort(set_=1), "set"),
        (lambda: E.serror(5), "aet"),
        (lambda: Esr.decode(1 << 56), "esr"),
        (lambda: Esr.decode(-1), "esr"),
        (lambda: SErrorEsr.decode(0x92000410), "ec"),
        (lambda: SErrorEsr.decode(0xBE000011 | 1 << 20), "reserved"),
        (lambda: SErrorEsr.decode(0xBE000011 | 1 << 32), "reserved"),
    ],
)
def test_bad_input_names_the_field(make, field):
    with pytest.raises(ValueError, match=field):
        make()
