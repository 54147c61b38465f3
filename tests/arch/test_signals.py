"""SIGBUS codes, memory_failure() flags/results and si_addr_lsb."""

import pytest

from rassim.arch.signals import (
    MF_ACTION_REQUIRED,
    SIGBUS,
    SIGKILL,
    MfFlags,
    MfResult,
    SigbusCode,
    lsb_for_page_size,
)


def test_uapi_values():
    assert (SIGBUS, SIGKILL) == (7, 9)
    assert [(c.name, c.value) for c in SigbusCode] == [
        ("BUS_ADRALN", 1),
        ("BUS_ADRERR", 2),
        ("BUS_OBJERR", 3),
        ("BUS_MCEERR_AR", 4),
        ("BUS_MCEERR_AO", 5),
    ]


def test_mm_h_values():
    assert MF_ACTION_REQUIRED == 2
    assert MfFlags.MF_MUST_KILL | MF_ACTION_REQUIRED == 6
    assert [r.name for r in sorted(MfResult)] == [
        "MF_IGNORED",
        "MF_FAILED",
        "MF_DELAYED",
        "MF_RECOVERED",
    ]
    # seed 003: "recovery action for dirty LRU page: Recovered"
    assert MfResult.MF_RECOVERED.action_name == "Recovered"
    assert MfResult.MF_IGNORED.action_name == "Ignored"


@pytest.mark.parametrize(
    ("size", "lsb"),
    [(4096, 12), (16384, 14), (65536, 16), (2 << 20, 21), (32 << 20, 25), (1 << 30, 30)],
)
def test_lsb(size, lsb):
    assert lsb_for_page_size(size) == lsb


@pytest.mark.parametrize("size", [0, 2048, 3000, 8191, (2 << 20) + 4096, -4096, 4096.0])
def test_lsb_rejects(size):
    with pytest.raises(ValueError, match="page_size"):
        lsb_for_page_size(size)
