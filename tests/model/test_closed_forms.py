"""Closed-form agreement (MODEL 10): outcome shares against products of branch probabilities.

Each test drives errors that cannot interact, so every consumption is an independent trial
of the same branch tree and the outcome counts are multinomial with shares that are products
of the branch probabilities read off the model code:

- memory.py ``draw_context``: EL1 with ``memory.access[owner].p_kernel`` (k), else EL0;
- cpu.py: SEA with ``cpu.p_sync`` (s), else an SError whose AET is drawn with the
  ``cpu.serror_aet`` weights; FnV set with ``cpu.p_fnv``;
- firmware.py: with ``firmware.first`` and ``firmware.ghes_sea``, EL3 leaves a GHES record
  with ``firmware.p_record`` (r), and only then does host APEI claim the SEA;
- hypervisor.py: claimed -> ``memory_failure()`` (fails with ``hypervisor.p_mf_failed``)
  -> SIGBUS AR -> the VMM records a CPER and injects an SEA; unclaimed -> virtual SError
  (``serror_fallback``, or a stage-2 walk) or ``KVM_EXIT_ARM_SEA`` (``exit_to_user``);
  SError AET CE/UEO -> recovered, UER/UEU -> virtual SError, UC -> host panic;
- vmm.py: ``vmm.sea_exit`` strategies, ``restart_after``;
- guest.py: EL1 -> ``die()``: panic with probability 1 under ``panic_on_oops``, else
  ``p_interrupt`` (q); EL0 with a CPER -> guest ``memory_failure()`` by owner (anon: kill,
  clean page cache: recovered); EL0 without a CPER -> the process is killed.

How interaction is ruled out (checked after every run by ``_run_einj``):

- EINJ injections (``memory.injections``) of transient UEs, each consumed exactly
  ``consume_after`` = 1 ms after its injection, with the scrubber off and no Poisson
  arrivals. The owner's ``access_rate`` is 0: it only governs touches *after* the first
  (``MemoryNode.arm`` uses ``consume_after`` for the first), so a page that stays poisoned
  and mapped (kernel ``die()`` without panic re-arms the UE) is never consumed again.
  Each UE therefore yields exactly one error event; ``_run_einj`` asserts that.
- Injections are ``GAP_S`` = 10 s apart in simulated time, while everything an error can set
  off ends within ``DOWN`` = 1 s (guest reboot, host reboot, VMM restart, hang detection,
  ~100 us of channel latencies, the 50 us guest Read Ack). A VM or host is back up, and
  its GHES acknowledged, before the next injection.
- One state survives that: a CPER injected into a guest that takes it in kernel mode
  (EL1) is never acknowledged (``do_sea()`` consults APEI for user-mode aborts only), so
  the VMM's GHES stays busy until the VM resets, and the next CPER for that VM aborts the
  VMM. Wherever an EL1 consumption can carry a CPER without panicking the guest (claimed
  SEAs, ``inject_cper``), every injection goes to its own VM (``one_per_vm``).
- The guest counts oopses per boot (``guest.oops_limit``): that count would couple the
  kernel-mode ``die()``s of one VM, so it is disabled (0) unless a test sets it to 1, where
  the first oops already panics and the count cannot carry over.
- A host panic (AET UC) takes every VM of the host down for ``platform.host_reboot_time``
  (1 s) and rewrites its memory; with 10 s between injections it cannot swallow another
  one, and the injections are spread over several hosts anyway.

Tolerances: a share with expectation p in (0, 1) passes when |p_hat - p| <= z * sqrt(p (1 - p)
/ n), with z = 4.50, the two-sided normal quantile for 1e-4 / 15: by Bonferroni, a correct
model fails a test that checks up to 15 shares with probability below 1e-4. No test checks
more than 10 (an autouse fixture counts them; the two shares of a two-way split are one
event): the slack covers the normal approximation's error in the tails (summed exact
binomial tail probabilities stay below 1e-4 for every test). Shares of 0 or 1 must hold
exactly. Seeds are fixed: the tests are deterministic, and the bound says how unlucky a
seed would have to be for a correct model to fail.
"""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import pandas as pd
import pytest

from rassim.arch.esr import (
    ESR_ELx_AET,
    ESR_ELx_AET_SHIFT,
    ESR_ELx_FSC,
    ESR_ELx_FSC_EXTABT,
    ESR_ELx_S1PTW,
    SErrorSeverity,
    serror,
)
from rassim.model.outcomes import Context
from rassim.run import simulate
from rassim.scenario import Scenario

ALPHA = 1e-4  # probability that a correct model fails one test
BONFERRONI_CHECKS = 15
Z = NormalDist().inv_cdf(1 - ALPHA / (2 * BONFERRONI_CHECKS))  # 4.50
CHECKS_PER_TEST = 10  # random shares one test may check
GAP_S = 10  # seconds between injections
DOWN = "1s"  # every reboot, restart and hang detection
CONSUME_AFTER_NS = 1_000_000  # "1ms"

GUEST_CONTEXTS = {c.value for c in Context if c.in_guest}
_checks = [0]


@pytest.fixture(autouse=True)
def _check_budget():
    """Keep the Bonferroni bound honest: no test checks more than CHECKS_PER_TEST shares."""
    _checks[0] = 0
    yield
    assert _checks[0] <= CHECKS_PER_TEST, f"{_checks[0]} random shares checked"


# -- helpers ---------------------------------------------------------------------------------
def assert_shares(values: pd.Series, expected: dict[Any, float], what: str) -> None:
    """The shares of ``values`` agree with ``expected`` (labels not listed must be absent)."""
    n = len(values)
    assert n > 0, f"{what}: no events"
    assert math.isclose(sum(expected.values()), 1.0), f"{what}: expected shares do not sum to 1"
    counts = values.value_counts()
    stray = {k: int(v) for k, v in counts.items() if expected.get(k, 0.0) == 0.0}
    assert not stray, f"{what}: unexpected values {stray} among {n}"
    random = sum(0.0 < p < 1.0 for p in expected.values())
    _checks[0] += 1 if random == 2 else random
    for label, p in expected.items():
        hits = int(counts.get(label, 0))
        if p in (0.0, 1.0):
            assert hits == p * n, f"{what}: {label} {hits}/{n}, expected share {p}"
            continue
        tol = Z * math.sqrt(p * (1 - p) / n)
        p_hat = hits / n
        assert abs(p_hat - p) <= tol, (
            f"{what}: {label} share {p_hat:.4f} ({hits}/{n}), closed form {p:.4f}, "
            f"tolerance {tol:.4f} (z = {Z:.2f})"
        )


def assert_share(flags: pd.Series, p: float, what: str) -> None:
    """The share of true values in ``flags`` is p."""
    assert_shares(flags.astype(bool), {True: p, False: 1 - p}, what)


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(out.get(key), dict) else value
    return out


def einj_scenario(
    n: int,
    owners: tuple[str, ...] = ("guest_anon",),
    p_kernel: float = 0.0,
    hosts: int = 1,
    vms: int = 1,
    one_per_vm: bool = False,
    **sections: dict,
) -> Scenario:
    """n transient EINJ UEs, GAP_S apart, cycling over owners, hosts and VMs."""
    if one_per_vm:
        assert hosts * vms >= n, "one_per_vm needs a VM for every injection"
    injections = [
        {
            "at": f"{(i + 1) * GAP_S}s",
            "host": i % hosts,
            "vm": (i // hosts) % vms,
            "owner": owners[i % len(owners)],
            "permanent": False,
            "consume_after": "1ms",
        }
        for i in range(n)
    ]
    base = {
        "duration": f"{(n + 2) * GAP_S}s",
        "record_hops": False,
        "fleet": {"hosts": hosts, "vms_per_host": vms},
        "platform": {"host_reboot_time": DOWN},
        "memory": {
            "source": "ue_rate",
            "ue_rate": 0.0,
            "acceleration": 1.0,
            "p_permanent": 0.0,
            "scrub_period": "0s",
            "access": {o: {"access_rate": 0.0, "p_kernel": p_kernel} for o in owners},
            "injections": injections,
        },
        "cpu": {"p_sync": 1.0, "p_fnv": 0.0},
        "firmware": {"first": False, "p_fatal": 0.0},
        "hypervisor": {"p_mf_failed": 0.0},
        "vmm": {"guest_ghes": True, "hang_detect": DOWN, "restart_time": DOWN},
        "guest": {
            "memory": "4GiB",
            "reboot_time": DOWN,
            "process_restart": DOWN,
            "p_handles_sigbus": 0.0,
            "oops_limit": 0,  # no per-boot oops count coupling the EL1 die()s of one VM
        },
    }
    return Scenario.model_validate(_merge(base, sections))


def _run_einj(scenario: Scenario, seed: int) -> pd.DataFrame:
    """Simulate and check that the injections did not interact: each UE was consumed
    exactly once, at its injection time + 1 ms, by a guest-side context."""
    result = simulate(scenario, seed=seed)
    errors, ues = result.errors, result.ues
    n = len(scenario.memory.injections)
    assert len(ues) == n
    assert (ues["consumptions"] == 1).all() and (ues["events"] == 1).all()
    assert len(errors) == n and errors["ue_id"].is_unique
    assert (errors["kind"] == "consumption").all()
    created = errors["ue_id"].map(ues.set_index("ue_id")["created_ns"])
    assert (errors["consumed_ns"] == created + CONSUME_AFTER_NS).all()
    assert errors["context"].isin(GUEST_CONTEXTS).all()
    return errors


def aet_of(esr: pd.Series) -> pd.Series:
    return esr.astype(int).map(
        lambda e: SErrorSeverity((e & ESR_ELx_AET) >> ESR_ELx_AET_SHIFT).name
    )


# -- 1. serror_fallback, APEI never claims: every guest SEA crashes the VM --------------------
NEVER_CLAIMS = {
    "kernel_first": {"first": False},
    "no_sea_ghes": {"first": True, "ghes_sea": False, "p_record": 1.0},
    "no_record": {"first": True, "ghes_sea": True, "p_record": 0.0},
}
ALL_GUEST_OWNERS = (
    "guest_anon",
    "guest_kernel",
    "guest_page_table",
    "guest_page_cache_clean",
    "guest_page_cache_dirty",
    "host_stage2",
)


@pytest.mark.parametrize("firmware", NEVER_CLAIMS.values(), ids=NEVER_CLAIMS.keys())
def test_serror_fallback_unclaimed_sea_always_crashes_vm(firmware: dict) -> None:
    """kvm_handle_guest_sea(): not claimed + serror_fallback -> kvm_inject_serror() -> the
    guest's do_serror() sees IDS=1 -> panic, whatever the owner, EL and p_interrupt."""
    n = 300
    scenario = einj_scenario(
        n,
        owners=ALL_GUEST_OWNERS,
        p_kernel=0.5,
        vms=2,
        firmware=firmware,
        hypervisor={"policy": "serror_fallback"},
        guest={"panic_on_oops": False, "p_interrupt": 0.0},
    )
    errors = _run_einj(scenario, seed=101)
    assert_shares(errors["outcome"], {"vm_crashed": 1.0}, "outcome")
    assert not errors["claimed"].any() and not errors["exit_to_vmm"].any()
    assert errors["sync"].all() and not errors["guest_cper"].any()
    assert (errors["guest_esr"] == serror(ids=True)).all()
    assert (errors["detail"] == "kvm_inject_serror() -> arm64_serror_panic()").all()


# An SEA on a stage-2 walk: S1PTW=1 (the walk served a stage-1 fetch, share s) is host-owned
# (kvm_inject_serror() under both policies); S1PTW=0 is not, so exit_to_user exits with
# flags = 0 (no GPA for a walk FSC), the VMM injects a plain DFSC 0x10 SEA and the guest
# treats it as an abort at the data VA: EL0 -> BUS_OBJERR, EL1 -> die() (panic with q).
S2_K, S2_Q = 0.3, 0.5


def stage2_walk_scenario(sea_exit: str, s: float, hosts: int = 1, **sections: dict) -> Scenario:
    return einj_scenario(
        1000,
        owners=("host_stage2",),
        p_kernel=S2_K,
        hosts=hosts,
        vms=4 if hosts == 1 else 20,
        one_per_vm=hosts > 1,
        cpu={"s2_walk_for_s1_share": s},
        hypervisor={"policy": "exit_to_user"},
        vmm={"sea_exit": sea_exit},
        guest={"panic_on_oops": False, "p_interrupt": S2_Q},
        **sections,
    )


def assert_s1ptw_split(errors: pd.DataFrame, s: float) -> pd.DataFrame:
    """P(exit to VMM) = 1 - s exactly when S1PTW is clear, never with a GPA; the exits."""
    assert (errors["context"] == "host_stage2_walk").all()
    s1ptw = errors["esr"].astype(int) & ESR_ELx_S1PTW != 0
    assert (s1ptw == ~errors["exit_to_vmm"]).all()
    assert_share(errors["exit_to_vmm"], 1 - s, "P(KVM_EXIT_ARM_SEA)")
    exits = errors[errors["exit_to_vmm"]]
    assert (exits["arm_sea_flags"] == 0).all() and (exits["arm_sea_gpa"] == 0).all()
    assert (exits["arm_sea_gva"] != 0).all()  # p_fnv = 0: FAR valid
    return exits


@pytest.mark.parametrize("s", [0.8, 0.08])
def test_exit_to_user_stage2_walk_sea_splits_on_s1ptw(s: float) -> None:
    """inject: P(vm_crashed) = s + (1 - s) k q, P(process_killed) = (1 - s)(1 - k q); the
    guest gets DFSC 0x10 without a CPER. n = 1000: tolerance <= 0.072."""
    errors = _run_einj(stage2_walk_scenario("inject", s), seed=103)
    exits = assert_s1ptw_split(errors, s)
    crash = s + (1 - s) * S2_K * S2_Q
    assert_shares(errors["outcome"], {"vm_crashed": crash, "process_killed": 1 - crash}, "outcome")
    assert (exits["guest_esr"].astype(int) & ESR_ELx_FSC == ESR_ELx_FSC_EXTABT).all()
    assert not errors["guest_cper"].any()


def test_exit_to_user_unhandled_stage2_walk_sea_hangs_the_vm() -> None:
    """unhandled, s = 1/2: every first walk crashes the VM, a share s through
    kvm_inject_serror() and 1 - s after the hang; a hang kills the VMM, whose teardown
    walk then reads the table page (test_stage2_tables.py): one host-kernel event more for
    each hung VM, and none for the others (their guest reset keeps the tables: FWB). One
    UE per VM: a teardown reads every poisoned table page of its VM."""
    s = 0.5
    scenario = stage2_walk_scenario(
        "unhandled", s, hosts=50, platform={"host_panic_on_oops": False}
    )
    errors = simulate(scenario, seed=104).errors
    walks = errors[errors["context"] == "host_stage2_walk"]
    assert walks["ue_id"].is_unique and len(walks) == len(scenario.memory.injections)
    exits = assert_s1ptw_split(walks, s)
    assert_shares(walks["outcome"], {"vm_crashed": 1.0}, "outcome")
    assert (exits["detail"] == "VM hung: SEA exit re-entered").all()
    teardowns = errors[errors["context"] == "host_stage2_free"]
    assert len(teardowns) + len(walks) == len(errors)
    assert sorted(teardowns["ue_id"]) == sorted(exits["ue_id"])


# -- 2. exit_to_user + inject, kernel-first: the EL split ------------------------------------
DIE_PANICS = {
    # guest config, P(panic | EL1)
    "p_interrupt": ({"panic_on_oops": False, "oops_limit": 0}, None),
    "panic_on_oops": ({"panic_on_oops": True, "oops_limit": 0}, 1.0),
    "oops_limit_1": ({"panic_on_oops": False, "oops_limit": 1}, 1.0),
}


@pytest.mark.parametrize(("guest", "q_panic"), DIE_PANICS.values(), ids=DIE_PANICS.keys())
def test_exit_to_user_inject_el_split(guest: dict, q_panic: float | None) -> None:
    """Anon page, p_kernel = k, p_interrupt = q, no CPER (sea_exit = inject):
    EL0 -> arm64_notify_die() BUS_OBJERR -> process_killed; EL1 -> die() -> panic with
    q' = q, or 1 under panic_on_oops or oops_limit = 1. P(vm_crashed) = k q',
    P(process_killed) = (1 - k) + k (1 - q'). n = 2000 (about 800 at EL1): tolerance
    <= 0.050 (0.080 given EL1)."""
    n, k, q = 2000, 0.4, 0.3
    q_eff = q if q_panic is None else q_panic
    scenario = einj_scenario(
        n,
        p_kernel=k,
        vms=4,
        hypervisor={"policy": "exit_to_user"},
        vmm={"sea_exit": "inject"},
        guest={**guest, "p_interrupt": q},
    )
    errors = _run_einj(scenario, seed=201)
    assert errors["exit_to_vmm"].all() and not errors["claimed"].any()
    assert not errors["guest_cper"].any()
    assert_share(errors["el"] == 1, k, "P(EL1)")
    assert_shares(
        errors["outcome"],
        {"process_killed": (1 - k) + k * (1 - q_eff), "vm_crashed": k * q_eff},
        "outcome",
    )
    el0, el1 = errors[errors["el"] == 0], errors[errors["el"] == 1]
    assert_shares(el0["outcome"], {"process_killed": 1.0}, "outcome | EL0")
    assert_shares(
        el1["outcome"], {"vm_crashed": q_eff, "process_killed": 1 - q_eff}, "outcome | EL1"
    )


# -- 3. firmware-first with p_record = r, both policies --------------------------------------
R, K, Q, F = 0.6, 0.3, 0.5, 0.25
FIRMWARE_FIRST = {
    # Claimed (r): memory_failure() (fails with f) -> SIGBUS AR -> CPER + SEA into the guest:
    # EL1 (k) -> die(): crash q; EL0 -> guest memory_failure(): anon kill, clean recovered.
    # Unclaimed (1 - r): serror_fallback -> crash; exit_to_user + inject -> EL1: crash q,
    # EL0: killed (no CPER, even for a clean page).
    "serror_fallback-anon": (
        "serror_fallback",
        "guest_anon",
        0.0,
        {"vm_crashed": (1 - R) + R * K * Q, "process_killed": R * (1 - K * Q)},
    ),
    "serror_fallback-clean": (
        "serror_fallback",
        "guest_page_cache_clean",
        0.0,
        {
            "vm_crashed": (1 - R) + R * K * Q,
            "process_killed": R * K * (1 - Q),
            "recovered": R * (1 - K),
        },
    ),
    "exit_to_user-anon": (
        "exit_to_user",
        "guest_anon",
        0.0,
        {"vm_crashed": K * Q, "process_killed": 1 - K * Q},
    ),
    "exit_to_user-clean": (
        "exit_to_user",
        "guest_page_cache_clean",
        0.0,
        {
            "vm_crashed": K * Q,
            "process_killed": K * (1 - Q) + (1 - R) * (1 - K),
            "recovered": R * (1 - K),
        },
    ),
    "exit_to_user-anon-mf_failed": (
        "exit_to_user",
        "guest_anon",
        F,
        {"vm_crashed": R * F + (1 - R * F) * K * Q, "process_killed": (1 - R * F) * (1 - K * Q)},
    ),
}


@pytest.mark.parametrize(
    ("policy", "owner", "p_mf_failed", "expected"),
    FIRMWARE_FIRST.values(),
    ids=FIRMWARE_FIRST.keys(),
)
def test_firmware_first_p_record_mixture(
    policy: str, owner: str, p_mf_failed: float, expected: dict[str, float]
) -> None:
    """P(claimed) = r; P(guest CPER) = r (1 - f) (1 - k) (the guest consults its GHES in user
    mode only); P(exit to VMM) = 1 - r under exit_to_user; outcome shares as in
    FIRMWARE_FIRST. One injection per VM: a claimed EL1 consumption that does not panic
    leaves the guest's GHES record unacknowledged. n = 1500 (about 900 claimed): tolerance
    <= 0.058 (0.075 given claimed)."""
    n = 1500
    scenario = einj_scenario(
        n,
        owners=(owner,),
        p_kernel=K,
        hosts=30,
        vms=50,
        one_per_vm=True,
        firmware={"first": True, "ghes_sea": True, "p_record": R},
        hypervisor={"policy": policy, "p_mf_failed": p_mf_failed},
        vmm={"sea_exit": "inject"},
        guest={"panic_on_oops": False, "p_interrupt": Q},
    )
    errors = _run_einj(scenario, seed=301)
    assert_share(errors["claimed"], R, "P(claimed)")
    assert_share(errors["guest_cper"], R * (1 - p_mf_failed) * (1 - K), "P(guest CPER)")
    exits = 1 - R if policy == "exit_to_user" else 0.0
    assert_share(errors["exit_to_vmm"], exits, "P(KVM_EXIT_ARM_SEA)")
    assert_shares(errors["outcome"], expected, "outcome")
    # The claimed path alone does not depend on the policy.
    claimed = errors[errors["claimed"]]
    crash = p_mf_failed + (1 - p_mf_failed) * K * Q
    lost = {"guest_anon": "process_killed", "guest_page_cache_clean": "recovered"}[owner]
    claimed_expected = {"vm_crashed": crash, "process_killed": 0.0, "recovered": 0.0}
    claimed_expected["process_killed"] += (1 - p_mf_failed) * K * (1 - Q)
    claimed_expected[lost] += (1 - p_mf_failed) * (1 - K)
    assert_shares(claimed["outcome"], claimed_expected, "outcome | claimed")


# -- 4. p_sync = s and the SError AET mix ----------------------------------------------------
S = 0.6
AET = {"UER": 0.3, "UEU": 0.2, "UEO": 0.2, "CE": 0.1, "UC": 0.2}
# kvm_handle_guest_serror(): CE/UEO -> nothing to do (recovered); UER/UEU -> virtual SError
# (guest panic); UC -> arm64_serror_panic() kernel-first, or fatal severity at EL3 ->
# __ghes_panic() firmware-first: the host panics either way.
SERROR_RECOVERED = AET["CE"] + AET["UEO"]
SERROR_CRASH = AET["UER"] + AET["UEU"]
SERROR_PANIC = AET["UC"]
AET_MIX = {
    # SEA branch (s), kernel-first: crash (serror_fallback) or the EL split (exit_to_user).
    "serror_fallback": (
        "serror_fallback",
        {"first": False},
        0.0,
        {
            "vm_crashed": S + (1 - S) * SERROR_CRASH,
            "recovered": (1 - S) * SERROR_RECOVERED,
            "host_panicked": (1 - S) * SERROR_PANIC,
        },
    ),
    "exit_to_user": (
        "exit_to_user",
        {"first": False},
        K,
        {
            "process_killed": S * (1 - K * Q),
            "vm_crashed": S * K * Q + (1 - S) * SERROR_CRASH,
            "recovered": (1 - S) * SERROR_RECOVERED,
            "host_panicked": (1 - S) * SERROR_PANIC,
        },
    ),
    # Firmware-first, EL0 only (k = 0, so no unacknowledged GHES record can couple the
    # injections): a claimed SEA (r) kills the process through the guest's CPER, an
    # unclaimed one crashes the VM under serror_fallback. EL3 writes a record for SErrors
    # too; it must not matter, as SErrors are classified before the APEI claim.
    "serror_fallback-firmware_first": (
        "serror_fallback",
        {"first": True, "ghes_sea": True, "p_record": R},
        0.0,
        {
            "process_killed": S * R,
            "vm_crashed": S * (1 - R) + (1 - S) * SERROR_CRASH,
            "recovered": (1 - S) * SERROR_RECOVERED,
            "host_panicked": (1 - S) * SERROR_PANIC,
        },
    ),
}


@pytest.mark.parametrize(
    ("policy", "firmware", "p_kernel", "expected"), AET_MIX.values(), ids=AET_MIX.keys()
)
def test_p_sync_and_serror_aet_mix(
    policy: str, firmware: dict, p_kernel: float, expected: dict[str, float]
) -> None:
    """P(SEA) = s; the AETs of the SErrors follow the serror_aet weights; outcome shares as in
    AET_MIX. A UC SError from a guest panics the host, taking all its VMs down: injections
    are spread over 8 hosts, 10 s apart with a 1 s host reboot, and _run_einj checks that
    every one was consumed on time. n = 2000 (about 800 SErrors): tolerance <= 0.050
    (0.080 for the AETs)."""
    n = 2000
    scenario = einj_scenario(
        n,
        p_kernel=p_kernel,
        hosts=8,
        vms=2,
        cpu={"p_sync": S, "serror_aet": AET},
        firmware=firmware,
        hypervisor={"policy": policy},
        vmm={"sea_exit": "inject"},
        guest={"panic_on_oops": False, "p_interrupt": Q},
    )
    errors = _run_einj(scenario, seed=401)
    assert_share(errors["sync"], S, "P(SEA)")
    serrors = errors[~errors["sync"].astype(bool)]
    assert_shares(aet_of(serrors["esr"]), {a: w / sum(AET.values()) for a, w in AET.items()}, "AET")
    assert_shares(errors["outcome"], expected, "outcome")
    assert not serrors["claimed"].any() and not serrors["exit_to_vmm"].any()
    by_aet = serrors.groupby(aet_of(serrors["esr"]))["outcome"].unique().map(sorted).to_dict()
    assert by_aet == {
        "CE": ["recovered"],
        "UEO": ["recovered"],
        "UER": ["vm_crashed"],
        "UEU": ["vm_crashed"],
        "UC": ["host_panicked"],
    }


# -- 5. exit_to_user: the VMM's KVM_EXIT_ARM_SEA strategies ----------------------------------
PHI = 0.3  # cpu.p_fnv: FnV set -> no GPA_VALID in the exit, so no CPER and no restart count
STRATEGIES = {
    # inject: no CPER; EL0 -> killed, EL1 -> die().
    "inject": ({"sea_exit": "inject"}, 0.0, {"vm_crashed": K * Q, "process_killed": 1 - K * Q}),
    # inject_cper: a CPER when GPA_VALID (1 - phi); the guest reads it at EL0 only, and drops
    # a clean page-cache page without a kill.
    "inject_cper": (
        {"sea_exit": "inject_cper"},
        PHI,
        {
            "recovered": (1 - K) * (1 - PHI),
            "process_killed": (1 - K) * PHI + K * (1 - Q),
            "vm_crashed": K * Q,
        },
    ),
    # unhandled: the guest re-takes the SEA forever; declared lost after hang_detect.
    "unhandled": ({"sea_exit": "unhandled"}, PHI, {"vm_crashed": 1.0}),
    # restart_after = 1: every GPA_VALID exit restarts the VM; the others are injected.
    "restart_after": (
        {"sea_exit": "inject", "restart_after": 1},
        PHI,
        {
            "vm_restarted": 1 - PHI,
            "vm_crashed": PHI * K * Q,
            "process_killed": PHI * (1 - K * Q),
        },
    ),
}


@pytest.mark.parametrize(("vmm", "p_fnv", "expected"), STRATEGIES.values(), ids=STRATEGIES.keys())
def test_exit_to_user_vmm_strategies(vmm: dict, p_fnv: float, expected: dict[str, float]) -> None:
    """Kernel-first, clean page-cache page, p_kernel = k, p_interrupt = q: every SEA exits to
    the VMM; P(GPA_VALID) = 1 - phi; outcome shares as in STRATEGIES. One injection per VM
    (an EL1 CPER is never acknowledged). n = 1000: tolerance <= 0.071."""
    n = 1000
    scenario = einj_scenario(
        n,
        owners=("guest_page_cache_clean",),
        p_kernel=K,
        hosts=20,
        vms=50,
        one_per_vm=True,
        cpu={"p_fnv": p_fnv},
        hypervisor={"policy": "exit_to_user"},
        vmm=vmm,
        guest={"panic_on_oops": False, "p_interrupt": Q},
    )
    errors = _run_einj(scenario, seed=501)
    assert errors["exit_to_vmm"].all() and not errors["claimed"].any()
    gpa_valid = errors["arm_sea_flags"].astype(int) & 1 == 1
    assert_share(gpa_valid, 1 - p_fnv, "P(GPA_VALID)")
    assert_shares(errors["outcome"], expected, "outcome")
    if vmm["sea_exit"] == "inject_cper":
        assert (errors["guest_cper"] == (gpa_valid & (errors["el"] == 0))).all()


# -- 6. Poisson arrivals over guest memory: owner shares and the first event per UE ----------
GUEST_MAP = {"guest_anon": 0.5, "guest_page_cache_clean": 0.3, "guest_kernel": 0.2}
GUEST_P_KERNEL = {"guest_anon": 0.1, "guest_page_cache_clean": 0.5, "guest_kernel": 1.0}


def test_poisson_guest_memory_first_event_per_ue() -> None:
    """UEs from memory.ue_rate on hosts whose memory is all guest RAM (no host kernel, VMM
    or stage-2 memory, nothing free): owners follow guest.memory_map (pi), every owner is read
    at the same rate, exit_to_user + inject, kernel-first. Over the FIRST event of each UE:
    P(owner) = pi, P(EL1) = sum pi k, P(vm_crashed) = q sum pi k.

    UEs do interact here: clean page-cache and EL1 consumptions leave the page poisoned,
    so it can be consumed again (later events of a UE are excluded), and a VM crash rewrites
    (clears) the UEs still latent on that VM, as does the horizon. Neither depends on the
    cleared UE's own owner or branch draws (equal access rates), so the first events are
    still independent trials of the tree. About 2,500 first events: tolerance <= 0.046."""
    q = 0.3
    scenario = Scenario.model_validate(
        {
            "duration": "2h",
            "record_hops": False,
            "fleet": {"hosts": 2, "vms_per_host": 8},
            "memory": {
                "source": "ue_rate",
                "ue_rate": 13.0,
                "acceleration": 1.0,
                "p_permanent": 0.0,
                "scrub_period": "0s",
                "host_memory": "64GiB",
                "host_kernel": "0B",
                "stage2_per_vm": "0B",
                "vmm_per_vm": "0B",
                "access": {
                    o: {"access_rate": 60.0, "p_kernel": k} for o, k in GUEST_P_KERNEL.items()
                },
            },
            "cpu": {"p_sync": 1.0},
            "firmware": {"first": False},
            "hypervisor": {"policy": "exit_to_user"},
            "vmm": {"sea_exit": "inject"},
            "guest": {
                "memory": "8GiB",
                "memory_map": GUEST_MAP,
                "panic_on_oops": False,
                "oops_limit": 0,
                "p_interrupt": q,
                "reboot_time": DOWN,
                "process_restart": DOWN,
            },
        }
    )
    result = simulate(scenario, seed=601)
    errors = result.errors
    assert set(result.ues["owner"]) <= set(GUEST_MAP)
    first = errors.drop_duplicates("ue_id", keep="first")  # errors are sorted by error_id
    assert len(first) >= 2000, len(first)  # about 3,300 UEs, 2,500 consumed
    assert (first["kind"] == "consumption").all()
    assert_shares(first["owner"], GUEST_MAP, "P(owner) of consumed UEs")
    p_el1 = sum(GUEST_MAP[o] * GUEST_P_KERNEL[o] for o in GUEST_MAP)
    assert_share(first["el"] == 1, p_el1, "P(EL1)")
    assert_shares(
        first["outcome"], {"vm_crashed": q * p_el1, "process_killed": 1 - q * p_el1}, "outcome"
    )
    # Re-consumption did happen, so restricting to the first event per UE mattered.
    assert (result.ues["consumptions"] > 1).sum() > 100
