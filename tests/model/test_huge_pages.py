"""Huge pages as the kernel treats them: a hugetlb page the host poisons is lost whole.

The host's memory_failure() unmaps the whole hugetlb folio from the VMM and stage 2; every
later guest touch of any of its 4 KiB subpages faults (VM_FAULT_HWPOISON_LARGE), KVM sends
SIGBUS BUS_MCEERR_AR, and QEMU records a CPER for the touched GPA. With a guest map of
anonymous memory only, each such touch kills the process that owns the subpage and the
guest retires that subpage: with N = backing page / 4 KiB subpages, each touched first
at rate a, the UE makes 1 + Binomial(N - 1, 1 - exp(-a T)) events in time T after the
host poisoned it (E = 1 + (N - 1)(1 - e^{-aT})).

Scenario: firmware-first with a record (APEI claims the SEA, so the host poisons the
page), one anonymous EINJ UE per host, all consumed at the same instant, no guest panic;
the VMM and the guest's Read Ack act in no time so that a record is never refused while
the previous one is being acknowledged (a storm of touches would otherwise collide with
QEMU's single record, section 10.4 of docs/sources.md).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from test_closed_forms import (  # the Bonferroni budget fixture applies here too
    Z,
    _check_budget,  # noqa: F401
    _checks,
)

from rassim.model.hugepages import PoisonedHugePage, apportion
from rassim.run import simulate
from rassim.scenario import Scenario
from rassim.sim.draws import Draws
from rassim.sim.units import parse_size

AT_S, T_S = 10, 10  # injection time and the time that follows it
PAGE = 4096


def huge_page_scenario(
    backing: str, ues: int, rates: dict[str, float], owner: str = "guest_anon", **sections: dict
) -> Scenario:
    """One UE per host (an ``owner`` page, anonymous by default), consumed 1 ms after AT_S;
    ``rates``: reads per page-hour of the guest owner classes, which share guest memory
    equally; every read at EL0."""
    scenario: dict = {
        "duration": f"{AT_S * 1000 + 1 + T_S * 1000}ms",
        "record_hops": False,
        "fleet": {"hosts": ues, "vms_per_host": 1},
        "memory": {
            "ue_rate": 0.0,
            "scrub_period": "0s",
            "access": {
                owner: {"access_rate": rate, "p_kernel": 0.0} for owner, rate in rates.items()
            },
            "injections": [
                {"at": f"{AT_S}s", "host": h, "owner": owner, "consume_after": "1ms"}
                for h in range(ues)
            ],
        },
        "cpu": {"p_sync": 1.0, "p_fnv": 0.0},
        "firmware": {"first": True, "ghes_sea": True, "p_record": 1.0, "p_fatal": 0.0},
        "hypervisor": {"policy": "exit_to_user", "p_mf_failed": 0.0},
        "vmm": {"sea_exit": "inject_cper", "guest_ghes": True, "latency": "0ns"},
        "guest": {
            "memory": "4GiB",
            "backing_page": backing,
            "memory_map": {owner: 1.0 for owner in rates},
            "p_handles_sigbus": 0.0,
            "ack": "0ns",
        },
    }
    for section, values in sections.items():
        scenario[section] = {**scenario.get(section, {}), **values}
    return Scenario.model_validate(scenario)


def touched(p_rate_per_h: float) -> float:
    """P(a subpage is touched within T_S): 1 - exp(-a T)."""
    return 1 - math.exp(-p_rate_per_h * T_S / 3600)


def assert_binomial(count: int, n: int, p: float, what: str) -> None:
    """``count`` agrees with Binomial(n, p) within Z standard deviations (one check)."""
    _checks[0] += 1
    mean, sd = n * p, math.sqrt(n * p * (1 - p))
    assert abs(count - mean) <= Z * sd, f"{what}: {count}, expected {mean:.1f} +- {Z * sd:.1f}"


def amplified(scenario: Scenario, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The events after each UE's first, and the UEs; every UE's first event killed its
    process and the guest retired its page."""
    result = simulate(scenario, seed=seed)
    errors, ues = result.errors.sort_values("consumed_ns"), result.ues
    first = errors.groupby("ue_id").head(1)
    assert len(first) == len(ues) == scenario.fleet.hosts
    assert (first["kind"] == "consumption").all() and first["claimed"].all()
    assert (first["outcome"] == "process_killed").all()
    assert (ues["events"] == errors.groupby("ue_id").size().reindex(ues["ue_id"]).to_numpy()).all()
    return errors.drop(first.index), ues


BACKINGS = {
    # backing page, reads per page-hour of anonymous memory
    "4KiB": ("4KiB", 360.0),
    "2MiB": ("2MiB", 360.0),
    "1GiB": ("1GiB", 3.6),
}


@pytest.mark.parametrize(("backing", "rate"), BACKINGS.values(), ids=BACKINGS.keys())
def test_a_poisoned_huge_page_faults_at_every_subpage(backing: str, rate: float) -> None:
    """E[events after the first] = u (N - 1)(1 - e^{-aT}) over u UEs: 4 KiB, N = 1: none;
    2 MiB, a = 360/h (aT = 1): 10 x 511 x 0.632 = 3230 +- 155; 1 GiB, a = 3.6/h
    (aT = 0.01): 2 x 262143 x 0.00995 = 5217 +- 324. Each is a SIGBUS AR for a subpage
    GPA of the huge page, killing its process; the UE costs the whole huge page."""
    ues = 10 if backing != "1GiB" else 2
    scenario = huge_page_scenario(backing, ues, {"guest_anon": rate})
    later, ue_rows = amplified(scenario, seed=601)
    size = parse_size(backing)
    assert_binomial(len(later), ues * (size // PAGE - 1), touched(rate), "subpage faults")
    assert (later["kind"] == "retouch").all() and later["guest_cper"].all()
    detail = "kvm_send_hwpoison_signal() -> guest memory_failure(): BUS_MCEERR_AR"
    assert (later["outcome"] == "process_killed").all() and (later["detail"] == detail).all()
    assert (ue_rows["lost_bytes"] == size).all()


def test_subpage_touches_follow_each_owner_class_rate() -> None:
    """Half anonymous (a = 360/h), half clean page cache (a = 36/h): the 511 other
    subpages of a 2 MiB page are 256 and 255 (apportioned); E[anonymous touches] =
    10 x 256 x (1 - e^{-1}) = 1618 (each kills its process), E[page-cache touches] =
    10 x 255 x (1 - e^{-0.1}) = 243 (each dropped, recovered)."""
    rates = {"guest_anon": 360.0, "guest_page_cache_clean": 36.0}
    later, _ = amplified(huge_page_scenario("2MiB", 10, rates), seed=602)
    by_owner = later["owner"].value_counts()
    assert_binomial(int(by_owner["guest_anon"]), 10 * 256, touched(360.0), "anonymous")
    clean = int(by_owner["guest_page_cache_clean"])
    assert_binomial(clean, 10 * 255, touched(36.0), "clean page cache")
    outcome = later.groupby("owner")["outcome"].unique()
    assert list(outcome["guest_anon"]) == ["process_killed"]
    assert list(outcome["guest_page_cache_clean"]) == ["recovered"]


KEEP = {
    # hypervisor.hugetlb_keep_ue_mapped, vmm.unmap: whether the huge page is lost whole
    "mainline-unmap": (False, True, True),
    "keep_ue_mapped": (True, False, False),
    "keep_ue_mapped-unmap": (True, True, False),
}


@pytest.mark.parametrize(("keep", "unmap", "whole"), KEEP.values(), ids=KEEP.keys())
def test_only_keeping_the_huge_page_mapped_saves_it(keep: bool, unmap: bool, whole: bool) -> None:
    """The VMM's 4 KiB unmap (KVM Userfault) marks only the GPAs it learns: in mainline
    the hole is in the VMM's own mapping, the whole huge page, so the other subpages fault
    as before (10 x 511 x 0.632 = 3230 +- 155). With MFD_MF_KEEP_UE_MAPPED only the
    poisoned 4 KiB is out (the guest retired it): no other event, 4 KiB lost."""
    scenario = huge_page_scenario(
        "2MiB",
        10,
        {"guest_anon": 360.0},
        hypervisor={"hugetlb_keep_ue_mapped": keep},
        vmm={"unmap": unmap},
    )
    later, ue_rows = amplified(scenario, seed=603)
    if whole:
        assert_binomial(len(later), 10 * 511, touched(360.0), "subpage faults")
        assert (ue_rows["lost_bytes"] == 2 * 2**20).all()
    else:
        assert later.empty
        assert (ue_rows["lost_bytes"] == PAGE).all()


@pytest.mark.parametrize("unmap", [False, True], ids=["keep", "keep-unmap"])
def test_a_kept_poisoned_subpage_is_read_again_unless_the_vmm_unmapped_it(unmap: bool) -> None:
    """A guest kernel page read from EL0 (the guest cannot retire it: MF_IGNORED). Its
    huge page kept mapped, the poisoned 4 KiB stays in stage 2 and each later touch reads
    the poison again (a claimed consumption); unmapped by the VMM, a touch exits to it
    (KVM Userfault) instead."""
    scenario = huge_page_scenario(
        "2MiB",
        10,
        {"guest_kernel": 360.0},
        owner="guest_kernel",
        hypervisor={"hugetlb_keep_ue_mapped": True},
        vmm={"unmap": unmap},
    )
    later, _ = amplified(scenario, seed=605)
    assert len(later) > 0 and (later["outcome"] == "process_killed").all()
    if unmap:
        assert (later["kind"] == "retouch").all() and later["exit_to_vmm"].all()
    else:
        assert (later["kind"] == "consumption").all() and later["claimed"].all()


def test_an_unclaimed_sea_poisons_no_huge_page() -> None:
    """Kernel-first: APEI never claims, the host never poisons the page, the exit to the
    VMM carries the 4 KiB GPA and only that page is retired (by the guest)."""
    scenario = huge_page_scenario("2MiB", 10, {"guest_anon": 360.0}, firmware={"first": False})
    result = simulate(scenario, seed=604)
    assert len(result.errors) == 10 and result.errors["exit_to_vmm"].all()
    assert (result.ues["lost_bytes"] == PAGE).all()


def test_subpages_are_counted_not_made() -> None:
    """A 1 GiB page's 262,143 other subpages are counts by owner class (apportioned to the
    guest map), and the touched ones get distinct GPAs inside the huge page, never the
    poisoned one's."""
    assert apportion(262_143, [0.05, 0.01, 0.25, 0.05, 0.44, 0.2]) == [
        13107,
        2621,
        65536,
        13107,
        115343,
        52429,
    ]
    huge = PoisonedHugePage(1 << 30, 1 << 18, 5, [3, 0, 2], [1.0, 1.0, 2.0])
    gpas = [huge.touch(Draws(lambda: np.random.default_rng(0)))[1] for _ in range(5)]
    assert len(set(gpas)) == 5 and (1 << 30) + 5 * PAGE not in gpas
    assert all(1 << 30 <= gpa < 2 << 30 for gpa in gpas)
    assert huge.untouched == [0, 0, 0] and huge.rate() == 0
