"""Conservation and determinism over busy runs (MODEL 9: "Nothing may be lost").

Poisson UE arrivals at a rate high enough for hundreds of error events per run, for both
KVM policies, kernel-first and firmware-first, and several VMM strategies. Every run is
checked table against table: each error event has exactly one outcome and the blast
radius that outcome implies, each UE one final state, the per-UE counters match the
events, the summary agrees with the tables, and every hop belongs to a known event and
happens while that event is open. Then: the same scenario and seed give identical
tables, another seed does not, and adding a host leaves the other hosts' runs unchanged
(random streams are keyed by component name).
"""

from __future__ import annotations

import math
from functools import cache
from typing import Any

import numpy as np
import pandas as pd
import pytest

import rassim
from rassim.arch.esr import ESR_ELx_FnV, esr_ec
from rassim.arch.kvm import KVM_EXIT_ARM_SEA_FLAG_GPA_VALID
from rassim.model.ledger import LedgerError
from rassim.run.hosts import check_ues as _check_ues

RADIUS = {
    "recovered": "none",
    "offlined": "none",
    "process_killed": "process",
    "vm_restarted": "vm",
    "vm_crashed": "vm",
    "host_panicked": "host",
}
OUTCOMES = set(RADIUS)
UE_STATES = {"latent", "offlined", "cleared", "live"}
KINDS = {"consumption", "retouch", "scrub"}
GUEST_CONTEXTS = {"guest_user", "guest_kernel", "guest_stage1_walk", "host_stage2_walk"}
HOST_ONLY_OWNERS = {"host_kernel", "host_free"}  # pages that belong to no VM
ARM_SEA_ESR_MASK_RAS = 0xFE001F7F
HOSTS, VMS = 2, 4

BUSY: dict[str, Any] = {
    "duration": "5d",
    "fleet": {"hosts": HOSTS, "vms_per_host": VMS},
    "memory": {"ue_rate": 2e-3, "scrub_period": "12h"},  # ~120 UEs per host
    "firmware": {"p_record": 0.7},
    "guest": {"reboot_time": "1min"},
    "platform": {"host_reboot_time": "5min"},
}

CASES = {
    "exit_to_user/inject/ff": ("exit_to_user", {"sea_exit": "inject"}, True),
    "exit_to_user/inject/kf": ("exit_to_user", {"sea_exit": "inject"}, False),
    "serror_fallback/ff": ("serror_fallback", {}, True),
    "serror_fallback/kf": ("serror_fallback", {}, False),
    "exit_to_user/unhandled/kf": (
        "exit_to_user",
        {"sea_exit": "unhandled", "hang_detect": "2min"},
        False,
    ),
    "exit_to_user/inject_cper+unmap/kf": (
        "exit_to_user",
        {"sea_exit": "inject_cper", "unmap": True},
        False,
    ),
    "exit_to_user/restart_after+notify/ff": (
        "exit_to_user",
        {"sea_exit": "inject", "restart_after": 2, "ao_action": "notify"},
        True,
    ),
}


def busy_scenario(policy: str, vmm: dict, firmware_first: bool, **extra: Any) -> rassim.Scenario:
    data = {
        **BUSY,
        "hypervisor": {"policy": policy},
        "vmm": vmm,
        "firmware": {**BUSY["firmware"], "first": firmware_first},
        **extra,
    }
    return rassim.Scenario.model_validate(data)


@cache
def busy_run(case: str, seed: int = 1):
    return rassim.simulate(busy_scenario(*CASES[case]), seed=seed)


def _is_first_resolution(detail: pd.Series) -> pd.Series:
    """The event that brought a VM or host down, not one that was in flight with it."""
    return ~detail.str.startswith("in flight")


@pytest.mark.parametrize("case", CASES)
def test_every_event_has_exactly_one_outcome(case: str) -> None:
    result = busy_run(case)
    errors = result.errors
    n = len(errors)
    assert n >= 300, f"only {n} events: not a busy run"
    assert errors["error_id"].is_unique
    assert errors["error_id"].to_list() == list(range(n))
    assert errors["outcome"].notna().all()
    assert set(errors["outcome"]) <= OUTCOMES
    assert (errors["blast_radius"] == errors["outcome"].map(RADIUS)).all()
    assert set(errors["kind"]) <= KINDS
    # Timing of each event.
    duration = result.scenario.duration
    assert (errors["consumed_ns"] >= 0).all() and (errors["consumed_ns"] < duration).all()
    assert (errors["resolved_ns"] >= errors["consumed_ns"]).all()
    assert (errors["latency_ns"] == errors["resolved_ns"] - errors["consumed_ns"]).all()
    # Where each event happened.
    assert errors["host"].between(0, HOSTS - 1).all()
    vm = errors["vm"]
    assert vm.dropna().between(0, VMS - 1).all()
    # A VM's stage-2 table page read by KVM's walk freeing them is the host's event: the
    # VM is already down.
    freeing = errors["context"] == "host_stage2_free"
    assert errors.loc[vm.isna() & ~freeing, "owner"].isin(HOST_ONLY_OWNERS).all()
    assert (errors.loc[freeing, "owner"] == "host_stage2").all() and vm[freeing].isna().all()
    assert vm[errors["context"].isin(GUEST_CONTEXTS)].notna().all()
    # Only a consumption goes through the CPU (SEA or SError); a retouch or scrub does not.
    assert (errors["sync"].notna() == (errors["kind"] == "consumption")).all()
    assert (errors["context"] == "scrubber").eq(errors["kind"] == "scrub").all()
    # "offlined" is the outcome of a scrub (detected before use), nothing else.
    assert (errors.loc[errors["outcome"] == "offlined", "kind"] == "scrub").all()
    # The exception level follows the context (MODEL 4).
    el = errors["el"]
    assert (el[errors["context"] == "guest_user"] == 0).all()
    assert (el[errors["context"] == "guest_kernel"] == 1).all()
    assert (el[errors["context"] == "host_kernel"] == 1).all()
    assert (el[errors["context"] == "vmm"] == 0).all()
    assert el[errors["context"] == "scrubber"].isna().all()
    # An abort the guest took has the EC of the guest's mode: DABT_LOW from EL0, DABT_CUR
    # from EL1; anything else the guest saw is the virtual SError (IDS).
    seen = errors[errors["guest_esr"].notna()]
    ec = seen["guest_esr"].astype("int64").map(esr_ec)
    aborts = ec != 0x2F
    assert (ec[aborts] == seen.loc[aborts, "el"].map({0: 0x24, 1: 0x25})).all()
    assert (seen.loc[~aborts, "outcome"] == "vm_crashed").all()
    # A guest that found a CPER handled the error itself: it did not go down with it.
    cper = errors[errors["guest_cper"]]
    assert cper["outcome"].isin({"recovered", "process_killed", "offlined"}).all()


@pytest.mark.parametrize("case", CASES)
def test_every_ue_has_a_final_state_matching_its_events(case: str) -> None:
    result = busy_run(case)
    errors, ues = result.errors, result.ues
    assert len(ues) >= 100
    assert ues["ue_id"].to_list() == list(range(len(ues)))
    assert ues["state"].notna().all() and set(ues["state"]) <= UE_STATES
    assert set(errors["ue_id"]) <= set(ues["ue_id"])
    per_ue = errors.groupby("ue_id").size().reindex(ues["ue_id"], fill_value=0)
    assert (per_ue.to_numpy() == ues["events"].to_numpy()).all()
    consumed = errors[errors["kind"] == "consumption"].groupby("ue_id").size()
    consumed = consumed.reindex(ues["ue_id"], fill_value=0)
    assert (consumed.to_numpy() == ues["consumptions"].to_numpy()).all()
    # latent = never touched; live = touched and still poisoned and mapped.
    assert (ues.loc[ues["state"] == "latent", "events"] == 0).all()
    assert (ues.loc[ues["state"] == "live", "events"] > 0).all()
    assert (ues["created_ns"] < result.scenario.duration).all()
    assert ues["host"].between(0, HOSTS - 1).all()


def _no_final_state(errors: pd.DataFrame, ues: pd.DataFrame) -> None:
    ues.loc[3, "state"] = None


def _ue_twice(errors: pd.DataFrame, ues: pd.DataFrame) -> None:
    ues.loc[3, "ue_id"] = ues.loc[4, "ue_id"]


def _event_of_unknown_ue(errors: pd.DataFrame, ues: pd.DataFrame) -> None:
    errors.loc[0, "ue_id"] = len(ues) + 7


def _events_miscounted(errors: pd.DataFrame, ues: pd.DataFrame) -> None:
    ues.loc[3, "events"] += 1


@pytest.mark.parametrize(
    ("break_tables", "message"),
    [
        (_no_final_state, "no final state"),
        (_ue_twice, "recorded twice"),
        (_event_of_unknown_ue, r"unknown UEs: \[\d+\]"),
        (_events_miscounted, "per UE do not match"),
    ],
)
def test_the_run_refuses_tables_that_lose_track_of_a_ue(break_tables, message: str) -> None:
    result = busy_run("exit_to_user/inject/kf")
    errors, ues = result.errors.copy(), result.ues.copy()
    _check_ues(ues, errors)  # the run's own tables pass
    break_tables(errors, ues)
    with pytest.raises(LedgerError, match=message):
        _check_ues(ues, errors)


@pytest.mark.parametrize("case", CASES)
def test_summary_agrees_with_the_tables(case: str) -> None:
    result = busy_run(case)
    errors, ues, s = result.errors, result.ues, result.summary
    assert s["error_events"] == len(errors)
    assert s["ues"] == len(ues)
    assert s["ues_consumed"] == int((ues["consumptions"] > 0).sum())
    outcomes = errors["outcome"].value_counts()
    for outcome in OUTCOMES:
        assert s[f"outcome_{outcome}"] == outcomes.get(outcome, 0), outcome
    assert sum(s[f"outcome_{o}"] for o in OUTCOMES) == len(errors)
    for state in UE_STATES:
        assert s[f"ues_{state}"] == int((ues["state"] == state).sum()), state
    assert s["process_kills"] == s["outcome_process_killed"]
    assert s["exits_to_vmm"] == int(errors["exit_to_vmm"].sum())
    # Crashes, restarts and panics count occurrences: one per event that set one off.
    first = errors[_is_first_resolution(errors["detail"])]
    assert s["vm_crashes"] == int((first["outcome"] == "vm_crashed").sum())
    assert s["vm_restarts"] == int((first["outcome"] == "vm_restarted").sum())
    assert s["host_panics"] == int((first["outcome"] == "host_panicked").sum())
    touched = errors[(errors["kind"] != "scrub") & errors["context"].isin(GUEST_CONTEXTS)]
    survived = touched["outcome"].isin({"recovered", "process_killed"}).mean()
    assert math.isclose(s["event_survival_rate"], survived)
    assert math.isclose(s["handling_latency_mean_ns"], errors["latency_ns"].mean())


@pytest.mark.parametrize("case", CASES)
def test_hops_follow_their_events(case: str) -> None:
    result = busy_run(case)
    errors, hops = result.errors.set_index("error_id"), result.hops
    assert len(hops) >= len(errors)
    assert set(hops["error_id"]) == set(errors.index)  # every event left at least one hop
    assert (hops["delivered_ns"] >= hops["sent_ns"]).all()
    first_sent = hops.groupby("error_id")["sent_ns"].min()
    assert (first_sent == errors.loc[first_sent.index, "consumed_ns"]).all()
    # Nothing is sent on behalf of an event after it was resolved.
    resolved = errors.loc[hops["error_id"], "resolved_ns"].to_numpy()
    assert (hops["sent_ns"].to_numpy() <= resolved).all()
    assert (np.diff(hops["delivered_ns"].to_numpy()) >= 0).all()  # logged in time order


@pytest.mark.parametrize("case", CASES)
def test_policy_and_firmware_show_in_the_paths(case: str) -> None:
    policy, _vmm, firmware_first = CASES[case]
    result = busy_run(case)
    errors, hops = result.errors, result.hops
    if not firmware_first:
        assert not errors["claimed"].any()  # no EL3, no GHES record
        assert not hops["destination"].str.endswith(".el3").any()
    else:
        assert errors["claimed"].any()
    exits = errors[errors["exit_to_vmm"] & (errors["kind"] == "consumption")]
    if policy == "serror_fallback":
        assert not errors["exit_to_vmm"].any()
        assert errors["arm_sea_esr"].isna().all()
        assert "KvmExit" not in set(hops["kind"])
        return
    assert len(exits) > 0
    assert not exits["claimed"].any()  # KVM exits only when APEI did not claim
    esr, exit_esr = exits["esr"].astype("int64"), exits["arm_sea_esr"].astype("int64")
    assert (exit_esr == (esr & ARM_SEA_ESR_MASK_RAS)).all()
    assert (exit_esr.map(esr_ec) == 0x24).all()
    flags = exits["arm_sea_flags"]
    assert flags.isin([0, KVM_EXIT_ARM_SEA_FLAG_GPA_VALID]).all()
    valid = exits[flags == KVM_EXIT_ARM_SEA_FLAG_GPA_VALID]
    assert len(valid) > 0 and (valid["arm_sea_gpa"] % 4096 == 0).all()
    assert (exits.loc[flags == 0, "arm_sea_gpa"] == 0).all()
    fnv = (exit_esr & ESR_ELx_FnV) != 0
    assert (exits.loc[fnv, "arm_sea_gva"] == 0).all()
    assert (exits.loc[~fnv, "arm_sea_gva"] != 0).all()  # FAR_EL2 when FnV=0


# -- determinism ------------------------------------------------------------------------------
DETERMINISM_CASE = "exit_to_user/restart_after+notify/ff"


def test_same_seed_gives_identical_tables() -> None:
    first = busy_run(DETERMINISM_CASE)
    again = rassim.simulate(busy_scenario(*CASES[DETERMINISM_CASE]), seed=1)
    pd.testing.assert_frame_equal(first.errors, again.errors)
    pd.testing.assert_frame_equal(first.hops, again.hops)
    pd.testing.assert_frame_equal(first.ues, again.ues)
    assert first.summary.keys() == again.summary.keys()
    for key, value in first.summary.items():
        other = again.summary[key]
        assert value == other or (value != value and other != other), key  # NaN == NaN


def test_workers_and_host_groups_change_nothing() -> None:
    """Hosts run on their own queues in groups, in one process or several; ids are
    numbered in time order at the end, so the tables do not depend on either."""
    case = "exit_to_user/inject/ff"
    scenario = busy_scenario(*CASES[case], fleet={"hosts": 5, "vms_per_host": VMS})
    alone = rassim.simulate(scenario, seed=1)
    shared = rassim.simulate(scenario, seed=1, workers=2)
    assert [len(rassim.run.host_groups(5, w)) for w in (1, 2)] == [1, 5]
    for table in ("errors", "ues", "hops", "vms", "faults"):
        pd.testing.assert_frame_equal(getattr(alone, table), getattr(shared, table))
    assert alone.summary.keys() == shared.summary.keys()
    assert alone.errors["error_id"].is_monotonic_increasing
    assert alone.errors["consumed_ns"].is_monotonic_increasing  # ids follow time
    assert alone.ues["created_ns"].is_monotonic_increasing


def test_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="workers must be >= 1"):
        rassim.simulate(busy_scenario(*CASES[DETERMINISM_CASE]), seed=1, workers=0)


def test_different_seed_gives_different_tables() -> None:
    first = busy_run(DETERMINISM_CASE)
    other = rassim.simulate(busy_scenario(*CASES[DETERMINISM_CASE]), seed=2)
    assert not first.errors.equals(other.errors)
    assert not first.ues.equals(other.ues)
    assert not first.ues["created_ns"].equals(other.ues["created_ns"])


def test_adding_a_host_leaves_the_other_hosts_unchanged() -> None:
    """Streams are keyed by component name: host2 draws from its own streams, so hosts 0
    and 1 replay exactly (only the global error and UE ids interleave differently)."""
    case = "exit_to_user/inject/ff"
    two = busy_run(case)
    three = rassim.simulate(busy_scenario(*CASES[case], fleet={"hosts": 3, "vms_per_host": VMS}), 1)
    ids = ["error_id", "ue_id"]
    for host in range(HOSTS):
        mine = two.errors[two.errors["host"] == host].drop(columns=ids).reset_index(drop=True)
        theirs = three.errors[three.errors["host"] == host].drop(columns=ids)
        pd.testing.assert_frame_equal(mine, theirs.reset_index(drop=True))
    assert (three.errors["host"] == 2).any()
