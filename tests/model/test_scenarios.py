"""Replays of known behaviour: EINJ-style injections followed end to end through the layers.

Each test injects one or a few UEs (``memory.injections``) into an otherwise quiet system
(no Poisson arrivals, no scrubber unless the test is about it) and checks what the
sources say must happen, field by field: the ESR each layer sees, the kvm_run.arm_sea
exit, the SIGBUS/CPER path, the outcome, the UE's final state and the hops the error took.

Sources (docs/sources.md section numbers in brackets):
- Linux tools/testing/selftests/kvm/arm64/sea_to_user.c [2] and kvm_handle_guest_sea() [1];
- KVM inject_abt64() for ext_dabt_pending [4]; QEMU kvm_inject_arm_sea() and the GHES
  Read Ack [8.1, 8.2]; seed 003's guest log (ESR 0x92000410);
- kvm_handle_guest_serror() / arm64_is_fatal_ras_serror() [3]; do_sea() / fault_info[] [7].
"""

from __future__ import annotations

import copy
from typing import Any

import pandas as pd
import pytest

import rassim
from rassim.arch.esr import (
    ESR_ELx_AR,
    ESR_ELx_FnV,
    ESR_ELx_FSC,
    ESR_ELx_FSC_EXTABT,
    ESR_ELx_FSC_TYPE,
    ESR_ELx_IDS,
    ESR_ELx_ISS2_MASK,
    ESR_ELx_ISV,
    ESR_ELx_S1PTW,
    ESR_ELx_SAS,
    ESR_ELx_SF,
    ESR_ELx_SRT_MASK,
    ESR_ELx_SSE,
    ESR_ELx_VNCR,
    esr_ec,
)
from rassim.arch.kvm import KVM_EXIT_ARM_SEA_FLAG_GPA_VALID
from rassim.model.cpu import far_for
from rassim.model.outcomes import Context
from rassim.sim.units import NS_PER_H, NS_PER_MS, NS_PER_S

DABT_LOW, DABT_CUR, SERROR = 0x24, 0x25, 0x2F
ARM_SEA_ESR_MASK_RAS = 0xFE00077F | 0x1800  # EC|IL|FnV|EA|CM|WnR|FSC, plus SET (FEAT_RAS)
AT = NS_PER_S  # every injection below happens at 1 s ...
CONSUME_AFTER = NS_PER_MS  # ... and is consumed 1 ms later
CONSUMED = AT + CONSUME_AFTER

# Quiet base: one host, one VM, no Poisson arrivals, no scrubber, SEAs only.
BASE: dict[str, Any] = {
    "duration": "10s",
    "fleet": {"hosts": 1, "vms_per_host": 1},
    "memory": {"ue_rate": 0, "scrub_period": "0s"},
    "cpu": {"p_sync": 1.0, "p_fnv": 0.0},
}
KERNEL_FIRST = {"firmware": {"first": False}}  # no EL3: host APEI never has a record
FIRMWARE_FIRST = {"firmware": {"first": True, "ghes_sea": True, "p_record": 1.0}}
SEA_TO_USER = {
    **KERNEL_FIRST,
    "hypervisor": {"policy": "exit_to_user"},
    "vmm": {"sea_exit": "inject"},
    "guest": {"panic_on_oops": False, "p_interrupt": 0.0},
}


def _merge(into: dict, update: dict) -> dict:
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = copy.deepcopy(value)
    return into


def injection(at: str = "1s", owner: str = "guest_anon", kernel: bool | None = False, **kw):
    return {"at": at, "owner": owner, "kernel": kernel, "consume_after": "1ms", **kw}


def run(*layers: dict, injections: list[dict] | None = None, seed: int = 0):
    data = copy.deepcopy(BASE)
    for layer in layers:
        _merge(data, layer)
    data["memory"]["injections"] = injections if injections is not None else [injection()]
    return rassim.simulate(rassim.Scenario.model_validate(data), seed=seed)


def only_event(result) -> pd.Series:
    assert len(result.errors) == 1, result.errors
    return result.errors.iloc[0]


def path(result, error_id: int) -> list[tuple[str, str, str]]:
    """The (source, destination, message) hops of one error, in delivery order."""
    hops = result.hops[result.hops["error_id"] == error_id]
    return list(zip(hops["source"], hops["destination"], hops["kind"], strict=True))


def assert_hop_times_chain(result, error_id: int) -> None:
    """Each layer forwards at once: a hop is sent when the previous one was delivered."""
    hops = result.hops[result.hops["error_id"] == error_id].sort_values("sent_ns", kind="stable")
    sent, delivered = hops["sent_ns"].to_list(), hops["delivered_ns"].to_list()
    assert all(d >= s for s, d in zip(sent, delivered, strict=True))
    assert sent == sorted(sent) and delivered == sorted(delivered)
    assert sent[1:] == delivered[:-1]


def assert_vm_survived(result) -> None:
    errors = result.errors
    assert not errors["outcome"].isin(["vm_crashed", "vm_restarted", "host_panicked"]).any()
    assert result.summary["vm_crashes"] == 0
    assert result.summary["host_panics"] == 0


# -- (a) KVM selftest sea_to_user.c ----------------------------------------------------------
@pytest.mark.parametrize("kernel", [True, False], ids=["guest-EL1", "guest-EL0"])
def test_sea_to_user_exit_carries_the_selftest_fields(kernel: bool) -> None:
    # The selftest backs guest memory with 1 GiB hugetlb pages.
    result = run(
        SEA_TO_USER, {"guest": {"backing_page": "1GiB"}}, injections=[injection(kernel=kernel)]
    )
    event, ue = only_event(result), result.ues.iloc[0]
    assert event.kind == "consumption" and event.consumed_ns == CONSUMED
    assert event.context == ("guest_kernel" if kernel else "guest_user")
    assert event.el == int(kernel)
    assert bool(event.sync) and not event.claimed  # kernel-first: APEI has no record
    # Exactly one KVM_EXIT_ARM_SEA.
    assert event.exit_to_vmm
    assert result.summary["exits_to_vmm"] == 1
    # The exit's ESR: the selftest's assertions on run->arm_sea.esr.
    esr, exit_esr = int(event.esr), int(event.arm_sea_esr)
    assert exit_esr == esr & ARM_SEA_ESR_MASK_RAS
    assert esr_ec(exit_esr) == DABT_LOW  # lower EL from EL2's view, even for guest EL1
    assert exit_esr & ESR_ELx_FSC_TYPE == ESR_ELx_FSC_EXTABT
    assert exit_esr & ESR_ELx_ISS2_MASK == 0
    for field in (ESR_ELx_ISV, ESR_ELx_SAS, ESR_ELx_SSE, ESR_ELx_SRT_MASK, ESR_ELx_SF, ESR_ELx_AR):
        assert exit_esr & field == 0
    assert exit_esr & ESR_ELx_VNCR == 0
    assert exit_esr & ESR_ELx_FnV == 0
    # FnV=0: gva is FAR_EL2; the IPA is known: page-aligned gpa of the poisoned page.
    context = Context(event.context)
    assert int(event.arm_sea_gva) == far_for(context, event.el, int(ue.gpa))
    assert (int(event.arm_sea_gva) >> 63) == int(kernel)  # linear map vs user VA
    assert event.arm_sea_flags == KVM_EXIT_ARM_SEA_FLAG_GPA_VALID
    assert event.arm_sea_gpa % 4096 == 0
    assert event.arm_sea_gpa == int(ue.gpa) & ~0xFFF
    # The VMM re-injects with ext_dabt_pending: inject_abt64() -> EC by the guest's mode,
    # DFSC 0x10, no FnV (FAR_EL1 = FAR_EL2), no CPER.
    assert event.guest_esr == (0x96000010 if kernel else 0x92000010)
    assert esr_ec(int(event.guest_esr)) == (DABT_CUR if kernel else DABT_LOW)
    assert not event.guest_cper
    # The VM survives: the guest's current task (EL1 die()) or process (EL0) goes.
    assert event.outcome in ("process_killed", "recovered")
    assert_vm_survived(result)
    # memory -> cpu -> kvm -> vmm -> guest.
    assert path(result, 0) == [
        ("host0.memory", "host0.cpu", "PoisonRead"),
        ("host0.cpu", "host0.kvm", "ExternalAbort"),
        ("host0.kvm", "host0.vm0.vmm", "KvmExit"),
        ("host0.vm0.vmm", "host0.vm0.guest", "InjectedSea"),
    ]
    assert_hop_times_chain(result, 0)
    hops = result.hops
    assert hops["sent_ns"].min() == event.consumed_ns
    assert hops["delivered_ns"].max() == event.resolved_ns


def test_sea_to_user_exit_with_fnv_has_no_gva_and_no_gpa() -> None:
    """FnV=1 with DFSC 0x10: FAR and the IPA are unknown (__fault_safe_to_translate())."""
    result = run(SEA_TO_USER, {"cpu": {"p_fnv": 1.0}}, injections=[injection(kernel=True)])
    event = only_event(result)
    exit_esr = int(event.arm_sea_esr)
    assert exit_esr & ESR_ELx_FnV and exit_esr & ESR_ELx_FSC == ESR_ELx_FSC_EXTABT
    assert exit_esr == int(event.esr) & ARM_SEA_ESR_MASK_RAS
    assert event.arm_sea_gva == 0
    assert event.arm_sea_flags & KVM_EXIT_ARM_SEA_FLAG_GPA_VALID == 0
    assert event.arm_sea_gpa == 0
    assert event.guest_esr == 0x96000010  # inject_abt64() never sets FnV
    assert_vm_survived(result)


def test_sea_to_user_exit_hop_is_timed_by_the_exit_cost() -> None:
    """The KVM_RUN return to the VMM costs hypervisor.exit_to_user (Phytium: 7,214 ns)."""
    result = run(SEA_TO_USER, {"hypervisor": {"exit_to_user": "7214ns"}})
    hops = result.hops
    exit_hop = hops[hops["kind"] == "KvmExit"].iloc[0]
    assert exit_hop.delivered_ns - exit_hop.sent_ns == 7214


# -- (b) seed 003: firmware-first, APEI claims, QEMU records a CPER --------------------------
def test_seed_003_guest_log_el0_guest_anon() -> None:
    result = run(FIRMWARE_FIRST, injections=[injection(kernel=False)])
    event = only_event(result)
    assert event.context == "guest_user"
    assert event.claimed and not event.exit_to_vmm
    assert event.guest_esr == 0x92000410  # the guest log of seed 003
    assert event.guest_cper
    assert event.outcome == "process_killed"
    assert "BUS_MCEERR_AR" in event.detail
    assert_vm_survived(result)
    assert result.ues["state"].to_list() == ["offlined"]
    hops = path(result, 0)
    assert ("host0.kvm", "host0.vm0.vmm", "Sigbus") in hops
    assert ("host0.vm0.vmm", "host0.vm0.guest", "InjectedSea") in hops
    assert ("host0.vm0.guest", "host0.vm0.vmm", "ReadAck") in hops
    kinds = [kind for _, _, kind in hops]
    assert kinds.index("Sigbus") < kinds.index("InjectedSea") < kinds.index("ReadAck")
    assert ("host0.cpu", "host0.el3", "ExternalAbort") in hops  # SCR_EL3.EA=1


def test_seed_003_el1_consumption_gets_0x96000410() -> None:
    result = run(
        FIRMWARE_FIRST,
        {"guest": {"panic_on_oops": False, "p_interrupt": 0.0}},
        injections=[injection(kernel=True)],
    )
    event = only_event(result)
    assert event.claimed and event.guest_esr == 0x96000410
    assert not event.guest_cper  # do_sea() consults APEI for user mode only
    assert event.outcome == "process_killed" and "die()" in event.detail
    assert_vm_survived(result)


# -- (c) serror_fallback with APEI never claiming --------------------------------------------
NEVER_CLAIMED = {
    "kernel-first": KERNEL_FIRST,
    "no-SEA-GHES": {"firmware": {"first": True, "ghes_sea": False}},
}


@pytest.mark.parametrize("firmware", NEVER_CLAIMED.values(), ids=NEVER_CLAIMED.keys())
@pytest.mark.parametrize(
    ("owner", "kernel", "context"),
    [
        ("guest_anon", False, "guest_user"),
        ("guest_anon", True, "guest_kernel"),
        ("guest_kernel", None, "guest_kernel"),
        ("guest_page_table", False, "guest_stage1_walk"),
        ("guest_page_table", True, "guest_stage1_walk"),
    ],
)
def test_serror_fallback_crashes_every_guest_sea(firmware, owner, kernel, context) -> None:
    result = run(
        firmware,
        {"hypervisor": {"policy": "serror_fallback"}},
        injections=[injection(owner=owner, kernel=kernel)],
    )
    event = only_event(result)
    assert event.context == context
    assert not event.claimed and not event.exit_to_vmm
    assert event.outcome == "vm_crashed" and event.blast_radius == "vm"
    assert "kvm_inject_serror" in event.detail or "arm64_serror_panic" in event.detail
    # kvm_inject_serror(): a virtual SError with ISS = IDS only.
    guest_esr = int(event.guest_esr)
    assert esr_ec(guest_esr) == SERROR and guest_esr & ESR_ELx_IDS
    assert path(result, 0)[-1] == ("host0.kvm", "host0.vm0.guest", "VirtualSError")
    assert result.summary["vm_crashes"] == 1
    # The host page is not poisoned (a transient fault is rewritten by the reboot).
    assert result.ues["state"].to_list() in (["live"], ["cleared"])


def test_serror_fallback_permanent_ue_is_consumed_again_after_reboot() -> None:
    reboot = 2 * NS_PER_S
    result = run(
        KERNEL_FIRST,
        {
            "duration": "30s",
            "hypervisor": {"policy": "serror_fallback"},
            "guest": {"reboot_time": "2s", "memory_map": {"guest_anon": 1.0}},
            "memory": {"access": {"guest_anon": {"access_rate": 36000.0}}},  # 10 per second
        },
        injections=[injection(permanent=True)],
    )
    errors, ues = result.errors, result.ues
    assert len(ues) == 1  # one poisoned page (one hpa) ...
    assert len(errors) > 1  # ... consumed again and again
    assert set(errors["ue_id"]) == {ues.ue_id.iloc[0]}
    assert (errors["kind"] == "consumption").all()
    assert (errors["outcome"] == "vm_crashed").all()
    assert result.summary["vm_crashes"] == len(errors)
    assert ues.consumptions.iloc[0] == len(errors)
    # Every later consumption comes after the VM rebooted from the previous crash.
    consumed, resolved = errors["consumed_ns"].to_numpy(), errors["resolved_ns"].to_numpy()
    assert (consumed[1:] >= resolved[:-1] + reboot).all()
    assert ues.state.iloc[0] == "live"  # never retired: still poisoned and mapped


# -- (d) two SEAs faster than the guest acknowledges ----------------------------------------
def _two_seas(gap: str):
    return run(
        FIRMWARE_FIRST,
        {"guest": {"ack": "10ms"}, "vmm": {"latency": "1us"}},
        injections=[injection(at="1s"), injection(at=gap)],
    )


def test_second_record_before_read_ack_aborts_the_vmm() -> None:
    result = _two_seas("1000010us")  # 10 us after the first
    first, second = result.errors.iloc[0], result.errors.iloc[1]
    assert first.outcome == "process_killed" and first.guest_cper
    assert second.claimed
    assert second.outcome == "vm_crashed"
    assert "Read Ack" in second.detail and "abort" in second.detail
    assert second.resolved_ns < first.resolved_ns + 10 * NS_PER_MS  # before the ack
    assert result.summary["vm_crashes"] == 1


def test_records_one_second_apart_are_both_handled() -> None:
    result = _two_seas("2s")
    assert result.errors["outcome"].to_list() == ["process_killed", "process_killed"]
    assert result.errors["guest_cper"].all()
    assert (result.hops["kind"] == "ReadAck").sum() == 2
    assert_vm_survived(result)


# -- (e) SError AET UC taken from a guest -----------------------------------------------------
UC_SERROR = {"cpu": {"p_sync": 0.0, "serror_aet": {"UC": 1.0}}}


@pytest.mark.parametrize(
    ("firmware", "detail"),
    [(KERNEL_FIRST, "arm64_serror_panic"), (FIRMWARE_FIRST, "__ghes_panic")],
    ids=["kernel-first", "firmware-first"],
)
def test_uc_serror_from_a_guest_panics_the_host(firmware, detail) -> None:
    result = run(firmware, UC_SERROR)
    event = only_event(result)
    assert event.context == "guest_user" and not bool(event.sync)
    assert esr_ec(int(event.esr)) == SERROR
    assert event.outcome == "host_panicked" and event.blast_radius == "host"
    assert detail in event.detail
    assert result.summary["host_panics"] == 1
    assert result.summary["vm_crashes"] == 0
    assert "VirtualSError" not in set(result.hops["kind"])


@pytest.mark.parametrize(
    "slow_link",
    [
        {**KERNEL_FIRST, "hypervisor": {"exit_in_kernel": "1ms"}},
        {**FIRMWARE_FIRST, "firmware": {**FIRMWARE_FIRST["firmware"], "latency": "1ms"}},
    ],
    ids=["kernel-first", "firmware-first"],
)
def test_host_panic_ends_every_event_on_the_host(slow_link) -> None:
    """Three UC SErrors on three VMs are in flight together (the abort takes 1 ms to reach
    EL2); the first to arrive panics the host and the other two end with it. The host
    reboots after 2 s: an injection while it is down never fires, one after it does."""
    result = run(
        UC_SERROR,
        slow_link,
        {
            "duration": "20s",
            "fleet": {"vms_per_host": 3},
            "guest": {"memory": "16GiB"},
            "platform": {"host_reboot_time": "2s"},
        },
        injections=[
            injection(at="1s", vm=1),
            injection(at="1000100us", vm=2),
            injection(at="1000200us", vm=0),
            injection(at="2s", vm=1),  # the host is down: rewritten by the reboot
            injection(at="10s", vm=2),  # the host is back: consumed and handled again
        ],
    )
    errors = result.errors
    assert len(errors) == 4
    assert (errors["outcome"] == "host_panicked").all()
    first_panic = errors.iloc[:3]
    assert set(first_panic["vm"]) == {0, 1, 2}
    assert first_panic["resolved_ns"].nunique() == 1  # all at the moment of the panic
    assert first_panic["detail"].str.startswith("in flight at host panic").sum() == 2
    assert (first_panic["resolved_ns"] < first_panic["consumed_ns"].max() + NS_PER_MS).all()
    late = errors.iloc[3]
    assert late.vm == 2 and late.consumed_ns == 10 * NS_PER_S + CONSUME_AFTER
    assert result.summary["host_panics"] == 2
    ues = result.ues.set_index("ue_id")
    assert ues.loc[3, "events"] == 0 and ues.loc[3, "state"] == "cleared"


# -- (f) further cases from docs/sources.md ----------------------------------------------------
@pytest.mark.parametrize("aet", ["UER", "UEU"])
def test_fatal_ras_serror_from_a_guest_injects_a_virtual_serror(aet) -> None:
    """kvm_handle_guest_serror(): UER/UEU -> kvm_inject_vabt(); the guest panics."""
    result = run(KERNEL_FIRST, {"cpu": {"p_sync": 0.0, "serror_aet": {aet: 1.0}}})
    event = only_event(result)
    assert event.outcome == "vm_crashed"
    guest_esr = int(event.guest_esr)
    assert esr_ec(guest_esr) == SERROR and guest_esr & ESR_ELx_IDS
    assert path(result, 0)[-1] == ("host0.kvm", "host0.vm0.guest", "VirtualSError")
    assert result.summary["host_panics"] == 0


@pytest.mark.parametrize("aet", ["UEO", "CE"])
def test_ueo_and_ce_serror_from_a_guest_are_ignored(aet) -> None:
    result = run(KERNEL_FIRST, {"cpu": {"p_sync": 0.0, "serror_aet": {aet: 1.0}}})
    event = only_event(result)
    assert event.outcome == "recovered" and event.blast_radius == "none"
    assert pd.isna(event.guest_esr)
    assert [kind for _, _, kind in path(result, 0)] == ["PoisonRead", "ExternalAbort"]
    assert result.ues["state"].to_list() == ["live"]  # nothing retired the page


def test_non_ras_serror_from_a_guest_does_not_panic_the_host() -> None:
    """Without FEAT_RAS the SError is not a RAS one (IDS): KVM injects a virtual SError."""
    result = run(KERNEL_FIRST, {"platform": {"feat_ras": False}, "cpu": {"p_sync": 0.0}})
    event = only_event(result)
    assert int(event.esr) & ESR_ELx_IDS
    assert event.outcome == "vm_crashed"
    assert result.summary["host_panics"] == 0


def test_fatal_ras_serror_in_the_vmm_panics_the_host() -> None:
    """A host context (the VMM at host EL0) goes through the host's do_serror(): UER is
    fatal there (arm64_is_fatal_ras_serror() -> arm64_serror_panic())."""
    result = run(
        KERNEL_FIRST,
        {"cpu": {"p_sync": 0.0, "serror_aet": {"UER": 1.0}}},
        injections=[injection(owner="vmm", kernel=None)],
    )
    event = only_event(result)
    assert event.context == "vmm" and event.outcome == "host_panicked"


@pytest.mark.parametrize(
    ("owner", "kernel", "guest_esr", "detail"),
    [
        ("guest_anon", False, 0x92000010, "BUS_OBJERR"),
        ("guest_page_cache_clean", False, 0x92000010, "BUS_OBJERR"),
        ("guest_anon", True, 0x96000010, "die()"),
    ],
)
def test_without_feat_ras_a_guest_sea_goes_to_the_guest(owner, kernel, guest_esr, detail):
    """HCR_EL2.TEA is RES0: the guest's EL1 takes its own data abort; KVM never sees it."""
    result = run(
        KERNEL_FIRST,
        {"platform": {"feat_ras": False}, "guest": {"p_interrupt": 0.0}},
        injections=[injection(owner=owner, kernel=kernel)],
    )
    event = only_event(result)
    assert path(result, 0) == [
        ("host0.memory", "host0.cpu", "PoisonRead"),
        ("host0.cpu", "host0.vm0.guest", "ExternalAbort"),
    ]
    assert event.guest_esr == guest_esr and event.esr == guest_esr
    assert not event.exit_to_vmm and not event.claimed and not event.guest_cper
    assert event.outcome == "process_killed" and detail in event.detail


def test_without_feat_ras_a_guest_walk_sea_is_sigkill() -> None:
    """fault_info[] 0x13-0x17: SEA on a translation table walk -> SIGKILL."""
    result = run(
        KERNEL_FIRST,
        {"platform": {"feat_ras": False}},
        injections=[injection(owner="guest_page_table", kernel=False)],
    )
    event = only_event(result)
    assert 0x13 <= int(event.guest_esr) & ESR_ELx_FSC <= 0x17
    assert esr_ec(int(event.guest_esr)) == DABT_LOW
    assert event.outcome == "process_killed" and "SIGKILL" in event.detail


@pytest.mark.parametrize("feat_ras", [True, False], ids=["RAS", "no-RAS"])
def test_stage2_walk_sea_is_host_owned_even_when_the_vm_opted_in(feat_ras) -> None:
    """host_owns_sea(): SEA_TTW with S1PTW (or no FEAT_RAS) -> kvm_inject_serror()."""
    result = run(
        SEA_TO_USER,
        {"platform": {"feat_ras": feat_ras}},
        injections=[injection(owner="host_stage2", kernel=None)],
    )
    event = only_event(result)
    esr = int(event.esr)
    assert event.context == "host_stage2_walk"
    assert esr & ESR_ELx_S1PTW and 0x13 <= esr & ESR_ELx_FSC <= 0x17
    assert not event.exit_to_vmm and pd.isna(event.arm_sea_esr)
    assert event.outcome == "vm_crashed"
    assert path(result, 0)[-1] == ("host0.kvm", "host0.vm0.guest", "VirtualSError")


def test_unhandled_exit_hangs_until_detection() -> None:
    hang = 2 * NS_PER_S
    result = run(SEA_TO_USER, {"vmm": {"sea_exit": "unhandled", "hang_detect": "2s"}})
    event = only_event(result)
    assert event.exit_to_vmm and event.outcome == "vm_crashed"
    assert event.resolved_ns - event.consumed_ns >= hang
    assert event.resolved_ns - event.consumed_ns < hang + NS_PER_MS
    assert "InjectedSea" not in set(result.hops["kind"])  # the guest is never told


def test_restart_after_one_poisoned_gpa_restarts_the_vm() -> None:
    result = run(SEA_TO_USER, {"vmm": {"restart_after": 1}})
    event = only_event(result)
    assert event.outcome == "vm_restarted" and event.blast_radius == "vm"
    assert result.summary["vm_restarts"] == 1 and result.summary["vm_crashes"] == 0


def test_restart_after_two_counts_distinct_gpas() -> None:
    result = run(
        SEA_TO_USER,
        {"vmm": {"restart_after": 2}},
        injections=[injection(at="1s"), injection(at="2s")],
    )
    assert result.errors["outcome"].to_list() == ["process_killed", "vm_restarted"]


def test_unmap_turns_later_touches_into_retouches() -> None:
    """vmm.unmap: the GPA leaves stage 2; later guest touches fault to the VMM (userfault)
    instead of consuming the poison again."""
    result = run(
        SEA_TO_USER,
        {
            "duration": "20s",
            "vmm": {"unmap": True},
            "guest": {"memory_map": {"guest_anon": 1.0}},
            "memory": {"access": {"guest_anon": {"access_rate": 3600.0}}},
        },
        injections=[injection(permanent=True)],
    )
    errors = result.errors
    assert len(errors) > 1
    assert errors["kind"].iloc[0] == "consumption"
    assert (errors["kind"].iloc[1:] == "retouch").all()
    assert result.ues["consumptions"].to_list() == [1]
    assert result.ues["state"].to_list() == ["offlined"]
    retouch = errors.iloc[1]
    assert retouch.exit_to_vmm and pd.isna(retouch.sync)
    assert path(result, int(retouch.error_id))[:2] == [
        ("host0.memory", "host0.kvm", "Stage2Fault"),
        ("host0.kvm", "host0.vm0.vmm", "KvmExit"),
    ]
    assert "PoisonRead" not in {k for _, _, k in path(result, int(retouch.error_id))}
    assert_vm_survived(result)


@pytest.mark.parametrize(
    ("firmware", "detail"),
    [(FIRMWARE_FIRST, "exit(1)"), (KERNEL_FIRST, "SIGBUS")],
    ids=["claimed-AR", "unclaimed-BUS_OBJERR"],
)
def test_vmm_consuming_its_own_memory_loses_the_vm(firmware, detail) -> None:
    """QEMU: AR outside guest RAM -> "Hardware memory error!" exit(1); a plain SIGBUS
    (BUS_OBJERR) is re-raised and kills it."""
    result = run(firmware, injections=[injection(owner="vmm", kernel=None)])
    event = only_event(result)
    assert event.context == "vmm" and event.claimed == (firmware is FIRMWARE_FIRST)
    assert event.outcome == "vm_crashed" and detail in event.detail
    assert path(result, 0)[-1] == ("host0.kvm", "host0.vm0.vmm", "Sigbus")


def test_claimed_sea_without_guest_ghes_exits_the_vmm() -> None:
    """QEMU without ras=on: acpi_ghes_present() is false -> every AR is exit(1)."""
    result = run(FIRMWARE_FIRST, {"vmm": {"guest_ghes": False}})
    event = only_event(result)
    assert event.claimed and event.outcome == "vm_crashed"
    assert "Hardware memory error" in event.detail and "exit(1)" in event.detail
    assert "InjectedSea" not in set(result.hops["kind"])


def test_userfault_retouch_without_guest_ghes_carries_no_cper() -> None:
    """vmm.guest_ghes=false: the VM has no HEST/GHES, so no strategy can hand the guest a
    CPER. The first exit injects without one; a later touch of the unmapped GPA
    (userfault exit) must not either."""
    result = run(
        SEA_TO_USER,
        {
            "duration": "20s",
            "vmm": {"sea_exit": "inject_cper", "unmap": True, "guest_ghes": False},
            "guest": {"memory_map": {"guest_anon": 1.0}},
            "memory": {"access": {"guest_anon": {"access_rate": 3600.0}}},
        },
        injections=[injection(permanent=True)],
    )
    errors = result.errors
    assert errors["kind"].to_list()[:2] == ["consumption", "retouch"]
    assert not errors["guest_cper"].any()
    assert "ReadAck" not in set(result.hops["kind"])


def test_ao_notification_does_not_retire_a_guest_kernel_page() -> None:
    """vmm.ao_action="notify": the guest's memory_failure() cannot retire a kernel page
    (me_kernel -> MF_IGNORED, as GuestKernel._memory_failure() itself models), so the guest
    keeps using it and its next read of the host-retired page is a hwpoison retouch."""
    result = run(
        FIRMWARE_FIRST,
        {
            "duration": "3h",
            "vmm": {"ao_action": "notify"},
            "guest": {"p_interrupt": 0.0},
            "memory": {
                "scrub_period": "1h",
                "access": {"guest_kernel": {"access_rate": 3600.0, "p_kernel": 1.0}},
            },
        },
        injections=[{**injection(owner="guest_kernel", kernel=None), "consume_after": "2h"}],
    )
    errors = result.errors
    assert errors["kind"].iloc[0] == "scrub" and errors["guest_cper"].iloc[0]
    assert (errors["kind"] == "retouch").any()


def test_el1_cper_is_never_acknowledged_so_the_next_record_aborts() -> None:
    """do_sea() consults APEI only for user mode: a CPER delivered with an EL1 abort is
    never processed, Read Ack stays 0, and QEMU cannot record the next error."""
    result = run(
        FIRMWARE_FIRST,
        {"guest": {"panic_on_oops": False, "p_interrupt": 0.0}},
        injections=[injection(at="1s", kernel=True), injection(at="3s", kernel=False)],
    )
    first, second = result.errors.iloc[0], result.errors.iloc[1]
    assert first.outcome == "process_killed" and "die()" in first.detail
    assert "ReadAck" not in {k for _, _, k in path(result, 0)}
    assert second.outcome == "vm_crashed" and "Read Ack" in second.detail


def test_host_kernel_sea_is_not_claimed_by_apei() -> None:
    """arch/arm64/mm/fault.c do_sea(): `if (user_mode(regs) && apei_claim_sea(regs) == 0)`;
    a host-kernel consumption is never claimed, even with a GHES record."""
    result = run(FIRMWARE_FIRST, injections=[injection(owner="host_kernel", kernel=None)])
    event = only_event(result)
    assert event.context == "host_kernel"
    assert esr_ec(int(event.esr)) == DABT_CUR
    assert event.outcome == "host_panicked"  # platform.host_panic_on_oops
    assert not event.claimed


# -- the scrubber first ------------------------------------------------------------------------
def _scrub_first(access_rate: float):
    return run(
        {
            "duration": "3h",
            "memory": {
                "scrub_period": "1h",
                "access": {"guest_anon": {"access_rate": access_rate}},
            },
        },
        FIRMWARE_FIRST,
        # consumed at 2 h at the earliest: the scrubber (phase within 1 h) is always first
        injections=[{**injection(), "consume_after": "2h"}],
    )


def test_scrubber_first_offlines_the_page() -> None:
    result = _scrub_first(0.0)
    event = only_event(result)
    assert event.kind == "scrub" and event.context == "scrubber"
    assert event.outcome == "offlined" and event.blast_radius == "none"
    assert AT < event.consumed_ns <= AT + NS_PER_H
    assert result.ues["state"].to_list() == ["offlined"]
    assert result.ues["consumptions"].to_list() == [0]
    assert ("host0.kvm", "host0.vm0.vmm", "Sigbus") in path(result, 0)  # BUS_MCEERR_AO
    assert "InjectedSea" not in set(result.hops["kind"])  # QEMU does not tell the guest


def test_touch_after_scrub_is_a_hwpoison_retouch() -> None:
    """The guest touches the retired page: KVM finds a hwpoison pfn and sends SIGBUS AR
    (kvm_send_hwpoison_signal()); QEMU records a CPER and injects an SEA."""
    result = _scrub_first(36000.0)
    errors = result.errors
    assert errors["kind"].to_list()[:2] == ["scrub", "retouch"]
    retouch = errors.iloc[1]
    assert retouch.ue_id == errors.iloc[0].ue_id
    assert path(result, int(retouch.error_id))[:3] == [
        ("host0.memory", "host0.kvm", "Stage2Fault"),
        ("host0.kvm", "host0.vm0.vmm", "Sigbus"),
        ("host0.vm0.vmm", "host0.vm0.guest", "InjectedSea"),
    ]
    assert retouch.guest_esr == 0x92000410 and retouch.guest_cper
    assert retouch.outcome == "process_killed"
    assert result.ues["consumptions"].to_list() == [0]
