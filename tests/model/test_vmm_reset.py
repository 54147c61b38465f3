"""A VMM that learned a poisoned GPA maps fresh memory there when the VM resets."""

import rassim
from rassim.scenario import Scenario


def _run(restart_after: int | None, policy: str = "exit_to_user") -> rassim.RunResult:
    scenario = Scenario.model_validate(
        {
            "duration": "2h",
            "memory": {
                "ue_rate": 0,
                "scrub_period": "0s",
                "injections": [
                    {
                        "at": "1s",
                        "owner": "guest_anon",
                        "kernel": False,
                        "permanent": True,
                        "consume_after": "1ms",
                    }
                ],
                "access": {"guest_anon": {"access_rate": 3600.0, "p_kernel": 0.0}},
            },
            "cpu": {"p_sync": 1.0, "p_fnv": 0.0},
            "firmware": {"first": False},
            "hypervisor": {"policy": policy},
            "vmm": {"sea_exit": "inject", "restart_after": restart_after},
            "guest": {"memory_map": {"guest_anon": 1.0}},
        }
    )
    return rassim.simulate(scenario, seed=2)


def test_planned_restart_replaces_the_poisoned_gpa() -> None:
    result = _run(restart_after=1)
    assert result.errors["outcome"].tolist() == ["vm_restarted"]
    (ue,) = result.ues.itertuples()
    assert ue.state == "offlined" and ue.consumptions == 1
    assert result.summary["memory_lost_bytes"] == 4096


def test_without_a_reset_the_page_keeps_killing_processes() -> None:
    result = _run(restart_after=None)
    assert len(result.errors) > 10
    assert set(result.errors["outcome"]) == {"process_killed"}


def test_serror_fallback_vmm_learns_nothing_and_the_page_comes_back() -> None:
    result = _run(restart_after=1, policy="serror_fallback")
    assert result.summary["vm_restarts"] == 0
    assert result.summary["vm_crashes"] > 1  # the rebooted guest reads the same host page
