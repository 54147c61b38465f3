"""Fleet, workload and DRAM faults (issue 4): closed forms and hand-computed costs."""

import math

import numpy as np
import pandas as pd
import pytest

import rassim
from rassim.scenario import DEFAULT_FAULTS, Scenario
from rassim.sim.units import NS_PER_H, NS_PER_S, GiB

Z = 4.0  # a correct model fails a 4-sigma bound about once in 16,000 runs


def _scenario(**sections: dict) -> Scenario:
    return Scenario.model_validate(sections)


# -- faults through ECC ------------------------------------------------------------------
def _fault_run(ecc: str, hosts: int = 40, acceleration: float = 500) -> rassim.RunResult:
    """A year of DRAM faults; one page per UE fault keeps the run small."""
    one_page = {
        m.value: {"transient": r.transient, "permanent": r.permanent, "pages": 1}
        for m, r in DEFAULT_FAULTS.items()
    }
    memory = {"source": "faults", "ecc": ecc, "acceleration": acceleration, "faults": one_page}
    return rassim.simulate(
        _scenario(duration="365d", fleet={"hosts": hosts, "vms_per_host": 1}, memory=memory),
        seed=3,
    )


def test_fault_modes_and_permanent_share_follow_the_table() -> None:
    faults = _fault_run("secded").faults
    n = len(faults)
    fits = {m.value: r.transient + r.permanent for m, r in DEFAULT_FAULTS.items()}
    total = sum(fits.values())
    assert n > 2000
    for mode, fit in fits.items():
        p = fit / total
        share = (faults["mode"] == mode).mean()
        assert abs(share - p) <= Z * math.sqrt(p * (1 - p) / n), mode
    p_perm = sum(r.permanent for r in DEFAULT_FAULTS.values()) / total
    assert abs(faults["permanent"].mean() - p_perm) <= Z * math.sqrt(p_perm * (1 - p_perm) / n)
    assert abs(p_perm - 0.71) < 0.005  # MODEL 3: permanent = 71%


def test_fault_rate_is_devices_times_fit_times_acceleration() -> None:
    result = _fault_run("secded")
    memory = result.scenario.memory
    devices = memory.ranks * memory.devices_per_rank
    total_fit = sum(r.transient + r.permanent for r in DEFAULT_FAULTS.values())
    expected = 40 * devices * total_fit * 1e-9 * memory.acceleration * 365 * 24
    assert abs(len(result.faults) - expected) <= Z * math.sqrt(expected)


def test_secded_corrects_single_bits_only() -> None:
    faults = _fault_run("secded").faults
    assert (faults["uncorrected"] == (faults["mode"] != "single_bit")).all()


def test_chipkill_needs_two_overlapping_devices() -> None:
    faults = _fault_run("chipkill").faults
    assert len(faults) > 2000
    ues = faults[faults["uncorrected"]]
    # the first fault of every rank is corrected; a UE needs an earlier fault in another
    # device of the same rank, so UEs are far rarer than under SECDED (about half)
    first = faults.drop_duplicates(["host", "rank"])
    assert not first["uncorrected"].any()
    assert 0 < len(ues) < 0.25 * len(faults)
    for row in ues.itertuples():
        earlier = faults[
            (faults["host"] == row.host)
            & (faults["rank"] == row.rank)
            & (faults["device"] != row.device)
            & (faults["arrived_ns"] < row.arrived_ns)
        ]
        assert len(earlier) > 0


def test_acceleration_is_recorded_and_scales_ue_rate() -> None:
    base = {"duration": "30d", "memory": {"ue_rate": "1e-5/GiB/h", "acceleration": 50}}
    result = rassim.simulate(_scenario(**base), seed=1)
    assert result.summary["acceleration"] == 50
    expected = 1e-5 * 50 * 512 * 30 * 24
    assert abs(result.summary["ues"] - expected) <= Z * math.sqrt(expected)


# -- availability against MTTF / (MTTF + MTTR) -------------------------------------------
def test_availability_matches_renewal_closed_form() -> None:
    """Each UE on a running VM crashes it at once (serror_fallback, never claimed, guest
    kernel page read within microseconds); a UE that lands on a VM that is down is
    rewritten at reboot. Up times are Exp(lambda), down times R: A = MTTF/(MTTF+MTTR)."""
    vms, guest_gib, mttf_h, reboot_h = 50, 16, 1.0, 0.5
    rate = 1 / mttf_h / guest_gib  # UEs per GiB per hour
    scenario = _scenario(
        duration="60d",
        fleet={"hosts": 1, "vms_per_host": vms},
        platform={"host_reboot_time": "1min"},
        memory={
            "ue_rate": rate,
            "p_permanent": 0.0,
            "scrub_period": "0s",
            "host_memory": f"{vms * guest_gib}GiB",
            "host_kernel": "0B",
            "stage2_per_vm": "0B",
            "vmm_per_vm": "0B",
            "access": {"guest_kernel": {"access_rate": 3.6e9, "p_kernel": 1.0}},
        },
        cpu={"p_sync": 1.0},
        firmware={"first": False},
        hypervisor={"policy": "serror_fallback"},
        guest={
            "memory": f"{guest_gib}GiB",
            "memory_map": {"guest_kernel": 1.0},
            "reboot_time": f"{reboot_h}h",
        },
    )
    result = rassim.simulate(scenario, seed=11)
    cycles = result.summary["vm_crashes"]
    expected = mttf_h / (mttf_h + reboot_h)
    # delta method: A = U/(U+R) with U the mean of n Exp(mttf) up times
    sd = reboot_h / (mttf_h + reboot_h) ** 2 * mttf_h / math.sqrt(cycles)
    assert cycles > 10_000
    assert abs(result.summary["availability"] - expected) <= Z * sd + 1e-3  # +edge of horizon
    assert result.summary["mttr_s"] == pytest.approx(reboot_h * 3600, rel=1e-3)  # last clipped


# -- goodput, by hand --------------------------------------------------------------------
def _one_injection(**overrides: dict) -> rassim.RunResult:
    sections = {
        "duration": "1h",
        "fleet": {"vms_per_host": 2},
        "memory": {
            "ue_rate": 0,
            "scrub_period": "0s",
            "injections": [
                {
                    "at": "90s",
                    "vm": 0,
                    "owner": "guest_anon",
                    "kernel": False,
                    "consume_after": "0ns",
                }
            ],
        },
        "cpu": {"p_sync": 1.0, "access_latency": "0ns"},
        "firmware": {"first": False},
        "hypervisor": {"exit_in_kernel": "0ns", "exit_to_user": "0ns"},
        "vmm": {"latency": "0ns", "sea_exit": "inject"},
        "guest": {"processes": 4, "work_unit": "1min", "process_restart": "5s"},
    }
    for key, value in overrides.items():
        sections[key] = {**sections.get(key, {}), **value}
    return rassim.simulate(_scenario(**sections), seed=0)


def test_goodput_is_one_without_errors() -> None:
    result = rassim.simulate(_scenario(duration="10d", memory={"ue_rate": 0}), seed=0)
    assert result.summary["goodput"] == 1.0
    assert result.summary["availability"] == 1.0 and result.summary["downtime_s"] == 0


def test_process_kill_costs_uncommitted_work_and_restart() -> None:
    result = _one_injection()
    (error,) = result.errors.itertuples()
    assert error.outcome == "process_killed"
    # killed at t = 90 s: 30 s since the last commit at 60 s, then 5 s restarting
    lost = 30 + 5
    possible = 2 * 4 * 3600
    assert result.summary["goodput"] == pytest.approx(1 - lost / possible, abs=1e-9)
    vm0 = result.vms.iloc[0]
    assert vm0.lost_inflight_s == pytest.approx(30) and vm0.lost_down_s == pytest.approx(5)


def test_vm_crash_costs_every_process_and_the_reboot() -> None:
    result = _one_injection(hypervisor={"policy": "serror_fallback"}, guest={"reboot_time": "60s"})
    (error,) = result.errors.itertuples()
    assert error.outcome == "vm_crashed"
    lost = 4 * (30 + 60)  # every process: 30 s uncommitted, then 60 s down
    assert result.summary["goodput"] == pytest.approx(1 - lost / (2 * 4 * 3600), abs=1e-9)
    assert result.summary["downtime_s"] == pytest.approx(60)
    assert result.vms.iloc[0].availability == pytest.approx(1 - 60 / 3600)
    assert result.vms.iloc[1].availability == 1.0


def test_recovered_error_costs_its_handling_stall() -> None:
    result = _one_injection(
        memory={
            "injections": [
                {
                    "at": "90s",
                    "vm": 0,
                    "owner": "guest_page_cache_clean",
                    "kernel": False,
                    "consume_after": "0ns",
                }
            ]
        },
        firmware={"first": True, "p_record": 1.0, "latency": "1ms"},
        hypervisor={"memory_failure": "2ms"},
        vmm={"latency": "3ms"},
    )
    (error,) = result.errors.itertuples()
    assert error.outcome == "recovered"
    assert result.vms.iloc[0].lost_stall_s == pytest.approx(0.006)
    assert result.summary["goodput"] == pytest.approx(1 - 0.006 / (2 * 4 * 3600), abs=1e-12)


def test_host_panic_takes_every_vm_down_for_the_host_reboot() -> None:
    result = _one_injection(
        memory={"injections": [{"at": "90s", "owner": "host_kernel", "consume_after": "0ns"}]},
        platform={"host_reboot_time": "10min"},
    )
    assert result.summary["host_panics"] == 1
    assert np.allclose(result.vms["downtime_s"], 600)
    assert result.summary["availability"] == pytest.approx(1 - 600 / 3600)


def test_host_panic_during_a_vm_reboot_boots_the_vm_once_with_the_host() -> None:
    """VM 0 crashes at 90 s and would be back at 150 s, but the host panics at 120 s: the
    VM's reboot is cancelled and the host's boot at 720 s starts it (Host.host_down)."""
    guest_crash = {"at": "90s", "vm": 0, "owner": "guest_kernel", "consume_after": "0ns"}
    host_crash = {"at": "120s", "owner": "host_kernel", "consume_after": "0ns"}
    result = _one_injection(
        memory={"injections": [guest_crash, host_crash]},
        hypervisor={"policy": "serror_fallback"},
        guest={"reboot_time": "60s"},
        platform={"host_reboot_time": "10min"},
    )
    assert result.summary["host_panics"] == 1
    assert result.vms["crashes"].tolist() == [1, 0]
    assert result.vms["downtime_s"].tolist() == pytest.approx([720 - 90, 600])


# -- memory lost to offlining ------------------------------------------------------------
@pytest.mark.parametrize(("backing", "size"), [("4KiB", 4096), ("2MiB", 2 << 20), ("1GiB", GiB)])
def test_claimed_page_costs_its_backing_page(backing: str, size: int) -> None:
    result = _one_injection(
        firmware={"first": True, "p_record": 1.0}, guest={"backing_page": backing}
    )
    assert result.errors.iloc[0].claimed
    assert result.summary["memory_lost_bytes"] == size


def test_vmm_unmap_costs_4kib_even_on_1gib_pages() -> None:
    result = _one_injection(
        hypervisor={"policy": "exit_to_user"}, vmm={"unmap": True}, guest={"backing_page": "1GiB"}
    )
    assert result.errors.iloc[0].exit_to_vmm
    assert result.summary["memory_lost_bytes"] == 4096


def test_cost_does_not_grow_with_time_without_errors() -> None:
    """Fluid accounting: with no errors the scheduler sees the same events for a day or
    for ten years."""
    counts = []
    for duration in ("1d", "3650d"):
        result = rassim.simulate(_scenario(duration=duration, memory={"ue_rate": 0}), seed=0)
        counts.append(len(result.hops) + len(result.errors))
        assert result.summary["goodput"] == 1.0
    assert counts[0] == counts[1] == 0


def test_fleet_size_and_every_vm_reported() -> None:
    result = rassim.simulate(
        _scenario(
            duration="1d",
            fleet={"hosts": 3, "vms_per_host": 5},
            memory={"ue_rate": 0},
            guest={"memory": "64GiB"},
        ),
        seed=0,
    )
    assert len(result.vms) == 15
    assert sorted(set(zip(result.vms["host"], result.vms["vm"], strict=True))) == [
        (h, v) for h in range(3) for v in range(5)
    ]
    assert np.isnan(result.summary["mttr_s"])
    assert NS_PER_S and NS_PER_H  # units used by the closed forms above


def test_predictive_offlining_retires_pages_before_the_second_fault() -> None:
    """Chipkill: a UE needs a second fault over an earlier one; when rasdaemon already
    soft-offlined the earlier fault's pages, the UE lands on retired pages and is never
    consumed."""

    def run(predict: bool) -> rassim.RunResult:
        memory = {
            "source": "faults",
            "ecc": "chipkill",
            "acceleration": 3000,
            "predictive_offline": predict,
            "ce_threshold": 5,
        }
        return rassim.simulate(
            _scenario(duration="365d", fleet={"hosts": 4, "vms_per_host": 1}, memory=memory),
            seed=5,
        )

    with_prediction, without = run(True), run(False)
    predicted = with_prediction.faults[with_prediction.faults["predicted"]]
    assert len(predicted) > 0 and with_prediction.summary["ues_predicted"] > 0
    assert not without.faults["predicted"].any() and without.summary["ues_predicted"] == 0
    # the same faults arrive in both runs (the DRAM stream does not depend on prediction)
    assert len(with_prediction.faults) == len(without.faults)
    assert with_prediction.summary["ues_consumed"] < 0.5 * without.summary["ues_consumed"]


def test_asi_overhead_is_added_to_every_exit() -> None:
    """Seed 003's KVM ASI RFC: extra address-space switches on every KVM_RUN exit."""

    def exit_hops(asi: str) -> pd.Series:
        result = _one_injection(hypervisor={"policy": "exit_to_user", "asi_overhead": asi})
        hops = result.hops
        exits = hops[hops["kind"].isin(["ExternalAbort", "KvmExit"])]
        return exits["delivered_ns"] - exits["sent_ns"]

    assert exit_hops("0ns").tolist() == [0, 0]
    assert exit_hops("7us").tolist() == [7_000, 7_000]
