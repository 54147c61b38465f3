"""A VM's stage-2 table pages leave with it, and the walk that frees them reads them.

KVM frees a VM's stage-2 tables at teardown (its VMM process exits:
kvm_pgtable_stage2_destroy()) and, on CPUs without FEAT_S2FWB, when the guest resets
(KVM_ARM_VCPU_INIT -> stage2_unmap_vm()). Both walks read every descriptor, so a poisoned
table page is consumed by the host kernel: die(), which panics the host under
panic_on_oops and otherwise kills the task half way through the walk, leaking the page.
A walk that survives (an SError the CPU can make progress from) frees the page, unless
memory_failure() had flagged it PG_hwpoison (free_pages_prepare() keeps it out).

The scenarios reuse the EINJ design of test_closed_forms.py: one permanent stage-2 UE per
VM, consumed once 1 ms after injection (its walk rate is 0 afterwards), so each UE has
its first event and, when its VM's tables are freed, exactly one teardown event.
"""

from __future__ import annotations

import pandas as pd
import pytest
from test_closed_forms import (  # the Bonferroni budget fixture applies here too
    _check_budget,  # noqa: F401
    assert_share,
    assert_shares,
    einj_scenario,
)

from rassim.run import simulate
from rassim.scenario import Scenario

TEARDOWN = "host_stage2_free"


def stage2_scenario(
    n: int, hosts: int, vms: int, p_kernel: float = 0.0, **sections: dict
) -> Scenario:
    """n permanent stage-2 UEs, one per VM, consumed once each."""
    scenario = einj_scenario(n, ("host_stage2",), p_kernel, hosts, vms, one_per_vm=True, **sections)
    injections = [i.model_copy(update={"permanent": True}) for i in scenario.memory.injections]
    memory = scenario.memory.model_copy(update={"injections": tuple(injections)})
    return scenario.model_copy(update={"memory": memory})


def run(scenario: Scenario, seed: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The first event of each UE, its teardown events, and the UEs (by ue_id)."""
    result = simulate(scenario, seed=seed)
    errors, ues = result.errors, result.ues.set_index("ue_id")
    assert len(ues) == len(scenario.memory.injections)
    assert (ues["events"] <= 2).all() and errors.groupby("ue_id").size().le(2).all()
    first = errors.sort_values("consumed_ns").groupby("ue_id").head(1).set_index("ue_id")
    assert (first["context"] == "host_stage2_walk").all()
    teardown = errors[errors["context"] == TEARDOWN].set_index("ue_id")
    assert teardown.index.is_unique and (ues.loc[teardown.index, "events"] == 2).all()
    return first, teardown, ues


R, S, K, Q = 0.4, 0.5, 0.3, 0.5
CRASH = R + (1 - R) * (S + (1 - S) * K * Q)  # the first consumption takes the VM down


@pytest.mark.parametrize("fwb", [True, False], ids=["fwb", "no-fwb"])
def test_teardown_walk_consumes_the_table_page(fwb: bool) -> None:
    """Firmware-first with a record with probability r: claimed -> memory_failure()
    MF_IGNORED -> plain SIGBUS -> the VMM dies -> teardown. Not claimed (exit_to_user +
    inject): S1PTW (s) -> guest panic, else an exit -> die() at EL1 (k) panics with q; a
    guest panic resets the VM in the same VMM, which frees the tables only without FWB.
    P(first event vm_crashed) = r + (1 - r)(s + (1 - s) k q) = 0.745; P(teardown) = r with
    FWB, 0.745 without. A teardown dies (panic_on_oops off): the host task is killed and
    the page leaked (offlined); the other pages stay live with their VM. n = 600:
    tolerance <= 0.091."""
    n = 600
    scenario = stage2_scenario(
        n,
        hosts=20,
        vms=30,
        platform={"stage2_fwb": fwb, "host_panic_on_oops": False},
        p_kernel=K,
        cpu={"s2_walk_for_s1_share": S},
        firmware={"first": True, "ghes_sea": True, "p_record": R},
        hypervisor={"policy": "exit_to_user"},
        vmm={"sea_exit": "inject"},
        guest={"panic_on_oops": False, "p_interrupt": Q},
    )
    first, teardown, ues = run(scenario, seed=401)
    assert_shares(
        first["outcome"], {"vm_crashed": CRASH, "process_killed": 1 - CRASH}, "first outcome"
    )
    torn = first.index.isin(teardown.index)
    assert_share(pd.Series(torn), R if fwb else CRASH, "P(teardown walk)")
    # Which VMs were torn down follows from the first event: the VMM died (claimed), or
    # the guest reset on a CPU without FEAT_S2FWB.
    vmm_died = first["claimed"].to_numpy()
    reset = (first["outcome"] == "vm_crashed").to_numpy() & ~vmm_died
    assert (torn == (vmm_died | (reset & (not fwb)))).all()
    walks = teardown["detail"].str.split(" -> ").str[0]
    expected_walk = first.loc[teardown.index, "claimed"].map(
        {True: "kvm_pgtable_stage2_destroy()", False: "stage2_unmap_vm()"}
    )
    assert (walks == expected_walk).all()
    assert (teardown["outcome"] == "process_killed").all() and teardown["vm"].isna().all()
    assert teardown["detail"].str.endswith("the page leaked").all()
    assert (teardown["consumed_ns"] == first.loc[teardown.index, "resolved_ns"]).all()
    assert (ues.loc[teardown.index, "state"] == "offlined").all()
    assert (ues.loc[teardown.index, "lost_bytes"] == 4096).all()
    assert (ues.loc[~ues.index.isin(teardown.index), "state"] == "live").all()


def test_a_walk_that_survives_frees_the_page_unless_it_is_pg_hwpoison() -> None:
    """p_sync = 1/2, every SError AET CE. First read: an SEA (1/2) is claimed (r = 1) ->
    memory_failure() flags the table page PG_hwpoison (MF_IGNORED) -> the VMM dies ->
    teardown; an SError CE is survived, no teardown. The teardown read: an SEA dies (the
    page leaked), an SError CE lets the walk go on, and free_pages_prepare() keeps the
    PG_hwpoison page out of the free pool. Either way the page ends offlined, still a
    stage-2 page (a freed page would have been handed to a new owner). n = 400: tolerance
    <= 0.113."""
    n = 400
    scenario = stage2_scenario(
        n,
        hosts=20,
        vms=20,
        platform={"host_panic_on_oops": False},
        cpu={"p_sync": 0.5, "serror_aet": {"CE": 1.0}},
        firmware={"first": True, "ghes_sea": True, "p_record": 1.0},
    )
    first, teardown, ues = run(scenario, seed=402)
    torn = pd.Series(first.index.isin(teardown.index))
    assert_share(torn, 0.5, "P(teardown walk)")
    assert (first.loc[teardown.index, "sync"]).all() and (first["sync"] == torn.to_numpy()).all()
    assert_shares(
        teardown["outcome"], {"process_killed": 0.5, "recovered": 0.5}, "teardown outcome"
    )
    assert (ues.loc[teardown.index, "state"] == "offlined").all()
    assert (ues.loc[teardown.index, "owner"] == "host_stage2").all()


@pytest.mark.parametrize("fwb", [True, False], ids=["fwb", "no-fwb"])
def test_guest_reset_frees_the_tables_only_without_fwb(fwb: bool) -> None:
    """serror_fallback, kernel-first, host panic_on_oops: the first walk crashes the VM
    (virtual SError) and the guest reboots in the same VMM. With FEAT_S2FWB the tables
    stay and nothing else happens; without it stage2_unmap_vm() reads the page and the
    host panics."""
    scenario = stage2_scenario(
        1,
        hosts=1,
        vms=1,
        platform={"stage2_fwb": fwb, "host_panic_on_oops": True},
        hypervisor={"policy": "serror_fallback"},
    )
    errors = simulate(scenario, seed=403).errors
    expected = ["vm_crashed"] if fwb else ["vm_crashed", "host_panicked"]
    assert errors["outcome"].tolist() == expected
    if not fwb:
        assert errors["detail"].iloc[1] == (
            "stage2_unmap_vm() -> die(): host kernel consumed poison"
        )
