"""Device memory in the guest: pfns without struct pages (VM_PFNMAP), owner class ``device``.

A claimed SEA on such a pfn, by ``hypervisor.pfnmap_poison``: before 6.19 GHES drops the
record ("Invalid address in generic error data") and the guest takes the same SEA again
and again (the VM hangs); from 6.19 memory_failure_pfn() gives MF_IGNORED for a range no
driver registered (plain SIGBUS: the VMM dies), and for a registered range (nvgrace-gpu,
7.0) BUS_MCEERR_AR to the VMM, which records a CPER as for RAM, while the pfn is neither
unmapped nor retired: every later touch reads the poison again.

The scenarios are the EINJ design of test_closed_forms.py: one device page per VM read at
EL0 1 ms after its injection, firmware-first with a record with probability r, the
unclaimed rest exiting to a VMM that injects an SEA without a CPER (the process is killed
with BUS_OBJERR).
"""

from __future__ import annotations

import pytest
from test_closed_forms import (  # the Bonferroni budget fixture applies here too
    GAP_S,
    Z,
    _check_budget,  # noqa: F401
    _checks,
    _run_einj,
    assert_share,
    assert_shares,
    einj_scenario,
)

from rassim.run import simulate
from rassim.scenario import Scenario

R = 0.6


def device_scenario(n: int, rate: float = 0.0, **sections: dict) -> Scenario:
    """n device pages, one per VM (ten VMs a host), each read at EL0 1 ms after its
    injection and at ``rate`` per hour after that."""
    access = {"device": {"access_rate": rate, "p_kernel": 0.0}}
    return einj_scenario(
        n,
        owners=("device",),
        hosts=-(-n // 10),
        vms=min(n, 10),
        one_per_vm=True,
        memory={"device_per_vm": "1GiB", "access": access},
        **sections,
    )


HANDLING = {
    # pfnmap_poison: outcome shares, the claimed events' detail
    "registered": (
        {"process_killed": 1.0},
        "memory_failure_pfn(): MF_RECOVERED, not unmapped -> "
        "guest memory_failure_pfn(): MF_IGNORED",
    ),
    "unregistered": (
        {"vm_crashed": R, "process_killed": 1 - R},
        "memory_failure_pfn(): MF_IGNORED -> SIGBUS re-raised: VMM killed",
    ),
    "dropped": (
        {"vm_crashed": R, "process_killed": 1 - R},
        "VM hung: GHES: Invalid address in generic error data, the SEA repeats",
    ),
}


@pytest.mark.parametrize("pfnmap_poison", HANDLING.keys())
def test_a_claimed_sea_on_device_memory(pfnmap_poison: str) -> None:
    """P(claimed) = r. Claimed: registered -> the VMM records a CPER and injects, the
    guest finds no registered range (plain SIGBUS: killed), P(process_killed) = 1;
    unregistered -> the VMM is killed, P(vm_crashed) = r; dropped -> the VM hangs and is
    lost after hang_detect, P(vm_crashed) = r. Unclaimed: an exit with the GPA, an SEA
    without CPER, the process killed. n = 400: tolerance <= 0.110."""
    expected, detail = HANDLING[pfnmap_poison]
    scenario = device_scenario(
        400,
        firmware={"first": True, "ghes_sea": True, "p_record": R},
        hypervisor={"policy": "exit_to_user", "pfnmap_poison": pfnmap_poison},
        vmm={"sea_exit": "inject"},
    )
    errors = _run_einj(scenario, seed=701)
    assert_share(errors["claimed"], R, "P(claimed)")
    assert_shares(errors["outcome"], expected, "outcome")
    claimed, unclaimed = errors[errors["claimed"]], errors[~errors["claimed"]]
    assert (claimed["detail"] == detail).all()
    assert (claimed["guest_cper"] == (pfnmap_poison == "registered")).all()
    assert (unclaimed["arm_sea_flags"] == 1).all() and not unclaimed["guest_cper"].any()
    if pfnmap_poison == "dropped":
        assert (claimed["latency_ns"] >= 1e9).all()  # hang_detect


def test_a_registered_pfn_is_never_retired() -> None:
    """Every read claimed (r = 1), the range registered: each read kills the reading
    process and leaves the page mapped, so it is read again at its rate a = 36/h while its
    VM runs. UE i, read first at its injection + 1 ms, sees 1 + Poisson(a T_i) reads over
    the T_i left: in all, n + a sum(T_i) = 100 + 515 +- 102 (a Poisson count; the ~100 us
    each read takes to handle is negligible). No UE is ever offlined."""
    n, rate = 100, 36.0
    scenario = device_scenario(
        n,
        rate,
        firmware={"first": True, "ghes_sea": True, "p_record": 1.0},
        hypervisor={"policy": "exit_to_user", "pfnmap_poison": "registered"},
    )
    result = simulate(scenario, seed=702)
    errors, ues = result.errors, result.ues
    assert errors["claimed"].all() and (errors["outcome"] == "process_killed").all()
    assert (errors["kind"] == "consumption").all() and (ues["state"] == "live").all()
    left_s = [(n + 2) * GAP_S - (i + 1) * GAP_S - 0.001 for i in range(n)]
    mean = rate / 3600 * sum(left_s)
    _checks[0] += 1
    reads = int(ues["consumptions"].sum()) - n
    assert abs(reads - mean) <= Z * mean**0.5, f"{reads} reads again, expected {mean:.0f}"


def test_the_vmm_unmapping_a_device_gpa_ends_its_reads() -> None:
    """Kernel-first, inject_cper + unmap: the first read exits with the GPA, the VMM
    unmaps it (KVM Userfault), and later touches exit to the VMM instead of reading the
    poison: one consumption per UE."""
    scenario = device_scenario(
        100,
        36.0,
        hypervisor={"policy": "exit_to_user"},
        vmm={"sea_exit": "inject_cper", "unmap": True},
    )
    result = simulate(scenario, seed=703)
    errors = result.errors
    assert (result.ues["consumptions"] == 1).all() and (result.ues["state"] == "offlined").all()
    later = errors[errors["kind"] != "consumption"]
    assert len(later) > 0 and (later["kind"] == "retouch").all() and later["exit_to_vmm"].all()


def test_device_memory_must_exist_to_be_poisoned() -> None:
    with pytest.raises(ValueError, match=r"injections\[0\] poisons device memory"):
        einj_scenario(1, owners=("device",))


def test_device_memory_keeps_its_poison_across_a_new_vmm() -> None:
    """The VMM killed (unregistered range), the VM comes back with a new VMM process: the
    device and its poisoned pfn are mapped again (QEMU cannot remap a RAM-device block),
    and the next read takes the VMM down again."""
    scenario = device_scenario(
        1,
        3600.0,
        firmware={"first": True, "ghes_sea": True, "p_record": 1.0},
        hypervisor={"policy": "exit_to_user", "pfnmap_poison": "unregistered"},
    )
    result = simulate(scenario, seed=704)
    assert len(result.errors) > 1 and (result.errors["outcome"] == "vm_crashed").all()
    assert (result.ues["state"] == "live").all()


def test_a_guest_driver_that_registered_its_range_sends_mceerr() -> None:
    """guest.device_mf = mceerr: the guest's memory_failure_pfn() sends BUS_MCEERR_AR, which
    a process survives if it handles SIGBUS (h = 1/2); sigbus (the default) kills it.
    Claimed every time, registered at the host. n = 400: tolerance <= 0.113."""
    scenario = device_scenario(
        400,
        firmware={"first": True, "ghes_sea": True, "p_record": 1.0},
        hypervisor={"policy": "exit_to_user", "pfnmap_poison": "registered"},
        guest={"device_mf": "mceerr", "p_handles_sigbus": 0.5},
    )
    errors = _run_einj(scenario, seed=705)
    assert_shares(errors["outcome"], {"recovered": 0.5, "process_killed": 0.5}, "outcome")
