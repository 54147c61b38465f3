"""kvm_run.arm_sea and the ESR sanitising of kvm_handle_guest_sea() (Linux 6.19 UAPI)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rassim.arch import esr as E
from rassim.arch.kvm import (
    KVM_CAP_ARM_SEA_TO_USER,
    KVM_EXIT_ARM_SEA,
    KVM_EXIT_ARM_SEA_FLAG_GPA_VALID,
    KvmRunArmSea,
    arm_sea_esr_mask,
    arm_sea_exit,
)

u64 = st.integers(0, 2**64 - 1)
# tools/testing/selftests/kvm/arm64/sea_to_user.c: "Group ISV and ISS[23:14]"
ESR_ELx_INST_SYNDROME = (
    E.ESR_ELx_ISV | E.ESR_ELx_SAS | E.ESR_ELx_SSE | E.ESR_ELx_SRT_MASK | E.ESR_ELx_SF | E.ESR_ELx_AR
)


def test_uapi_numbers():
    assert (KVM_EXIT_ARM_SEA, KVM_CAP_ARM_SEA_TO_USER, KVM_EXIT_ARM_SEA_FLAG_GPA_VALID) == (
        41,
        245,
        1,
    )


def test_esr_mask():
    assert arm_sea_esr_mask(feat_ras=False) == 0xFE00077F
    assert arm_sea_esr_mask(feat_ras=True) == 0xFE001F7F


def test_pack_layout_is_flags_esr_gva_gpa_little_endian():
    run = KvmRunArmSea(esr=0x92000410, flags=1, gva=0x80000000 + 0x01234BAD, gpa=0x7F000000)
    assert run.pack() == bytes.fromhex(
        "01000000000000001004009200000000ad4b2381000000000000007f00000000"
    )
    assert KvmRunArmSea.SIZE == 32


@given(u64, u64, u64, u64)
def test_pack_round_trip(esr, flags, gva, gpa):
    run = KvmRunArmSea(esr=esr, flags=flags, gva=gva, gpa=gpa)
    assert KvmRunArmSea.unpack(run.pack()) == run
    assert run.gpa_valid == bool(flags & 1)


@given(st.binary(min_size=32, max_size=32))
def test_unpack_round_trip(raw):
    assert KvmRunArmSea.unpack(raw).pack() == raw


@given(st.integers(0, 2**56 - 1), st.booleans())
def test_sanitised_esr_meets_the_selftest(raw, feat_ras):
    """sea_to_user.c asserts ISS2 == 0, ISV/ISS[23:14] == 0 and VNCR == 0 on the exit."""
    esr = arm_sea_exit(raw, far=0, ipa=None, feat_ras=feat_ras).esr
    assert esr & E.ESR_ELx_ISS2_MASK == 0
    assert esr & ESR_ELx_INST_SYNDROME == 0
    assert esr & (E.ESR_ELx_VNCR | E.ESR_ELx_S1PTW) == 0
    kept = 0xFE00077F | (0x1800 if feat_ras else 0)
    assert esr == raw & kept
    assert (esr & E.ESR_ELx_SET_MASK == 0) or feat_ras


def test_selftest_exit_for_a_dabt_low_sea():
    raw = E.data_abort(fnv=False, wnr=False) | E.ESR_ELx_ISV | 5 << 16 | 0x3 << 32
    run = arm_sea_exit(raw, far=0x81234BAD, ipa=0x41234000, feat_ras=True)
    assert E.esr_ec(run.esr) == E.ExceptionClass.DABT_LOW
    assert run.esr & E.ESR_ELx_FSC_TYPE == E.ESR_ELx_FSC_EXTABT
    assert run.esr == 0x92000010
    assert (run.gva, run.gpa, run.flags, run.gpa_valid) == (0x81234BAD, 0x41234000, 1, True)


def test_exit_hides_gva_when_fnv_and_gpa_when_unknown():
    run = arm_sea_exit(0x92000410, far=0xDEAD, ipa=None, feat_ras=False)
    assert run == KvmRunArmSea(esr=0x92000410, flags=0, gva=0, gpa=0)
    assert not run.gpa_valid


def test_keyword_only():
    with pytest.raises(TypeError):
        KvmRunArmSea(0x92000410, 1, 2, 3)  # type: ignore[misc]


@pytest.mark.parametrize("field", ["esr", "flags", "gva", "gpa"])
def test_out_of_range_names_the_field(field):
    kwargs = {"esr": 0, field: 1 << 64}
    with pytest.raises(ValueError, match=field):
        KvmRunArmSea(**kwargs)
    kwargs = {"esr": 0, field: -1}
    with pytest.raises(ValueError, match=field):
        KvmRunArmSea(**kwargs)


@pytest.mark.parametrize("size", [0, 31, 33, 256])
def test_unpack_wrong_size(size):
    with pytest.raises(ValueError, match="32 bytes"):
        KvmRunArmSea.unpack(bytes(size))
