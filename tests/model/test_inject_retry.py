"""vmm.sea_exit = "inject_retry": inject the SEA; while the same GPA exits again within
vmm.retry_window, inject again, up to vmm.max_retries times; then restart the VM.

One permanent UE on a guest kernel page, read from EL1 about once a second: the guest
kills the current task (no panic_on_oops, never in IRQ context) and the page stays
poisoned, so the same GPA exits again and again until the VMM acts.
"""

from __future__ import annotations

from typing import Any

import rassim

BASE: dict[str, Any] = {
    "duration": "10min",
    "fleet": {"hosts": 1, "vms_per_host": 1},
    "memory": {
        "ue_rate": 0,
        "scrub_period": "0s",
        "access": {
            owner: {"access_rate": 3600.0, "p_kernel": 1.0}
            for owner in ("guest_kernel", "guest_page_table")
        },
        "injections": [{"at": "1s", "owner": "guest_kernel", "permanent": True}],
    },
    "cpu": {"p_sync": 1.0, "p_fnv": 0.0},
    "firmware": {"first": False},
    "hypervisor": {"policy": "exit_to_user"},
    "guest": {"panic_on_oops": False, "p_interrupt": 0.0, "oops_limit": 0},
}


def run(vmm: dict[str, Any], owner: str = "guest_kernel") -> rassim.RunResult:
    data = {**BASE, "vmm": vmm, "memory": {**BASE["memory"]}}
    data["memory"]["injections"] = [{**data["memory"]["injections"][0], "owner": owner}]
    return rassim.simulate(rassim.Scenario.model_validate(data), seed=3)


def test_the_vm_restarts_after_max_retries_injections_of_one_gpa() -> None:
    result = run({"sea_exit": "inject_retry", "max_retries": 2, "retry_window": "1h"})
    errors = result.errors
    assert errors["outcome"].to_list() == ["process_killed"] * 3 + ["vm_restarted"]
    assert errors["exit_to_vmm"].all() and errors["arm_sea_gpa"].nunique() == 1
    assert (errors["detail"].iloc[:3] == "die(): current task killed").all()
    assert errors["detail"].iloc[3] == "inject_retry: GPA exited again after 2 retries"
    assert result.summary["vm_restarts"] == 1 and result.summary["vm_crashes"] == 0
    # The reset maps fresh memory at the GPA: the poisoned page is out of reach for good.
    assert result.ues["state"].to_list() == ["offlined"]


def test_no_retry_is_allowed_with_max_retries_zero() -> None:
    result = run({"sea_exit": "inject_retry", "max_retries": 0, "retry_window": "1h"})
    assert result.errors["outcome"].to_list() == ["process_killed", "vm_restarted"]


def test_exits_further_apart_than_the_window_are_not_retries() -> None:
    """Reads come about a second apart: with a 1 us window every exit is a first one, and
    the strategy behaves as plain ``inject``."""
    retry = run({"sea_exit": "inject_retry", "max_retries": 0, "retry_window": "1us"})
    inject = run({"sea_exit": "inject"})
    assert len(retry.errors) > 100
    assert set(retry.errors["outcome"]) == {"process_killed"}
    cols = ["consumed_ns", "outcome", "guest_esr", "arm_sea_gpa"]
    assert retry.errors[cols].equals(inject.errors[cols])


def test_an_exit_without_a_gpa_is_injected_and_not_followed() -> None:
    """A fault on the guest's own page tables exits without GPA_VALID: nothing to count."""
    result = run({"sea_exit": "inject_retry", "max_retries": 0}, owner="guest_page_table")
    errors = result.errors
    assert len(errors) > 100 and (errors["arm_sea_flags"] == 0).all()
    assert set(errors["outcome"]) == {"process_killed"}
    assert result.summary["vm_restarts"] == 0


def test_the_strategy_is_a_setting_like_the_others() -> None:
    scenario = rassim.Scenario.model_validate({"vmm": {"sea_exit": "inject_retry"}})
    assert scenario.vmm.max_retries == 3 and scenario.vmm.retry_window == 600 * 10**9
