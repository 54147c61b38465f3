"""Every metric of rassim.results.metrics on hand-built tables whose answers are known."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from rassim.model.outcomes import BlastRadius, Context, Outcome, UeState
from rassim.results import metrics
from rassim.results.metrics import (
    METRICS,
    TIB,
    YEAR_S,
    Exposure,
    host_tallies,
    per_ue,
    summarise,
)

EXPOSURE = Exposure(
    duration_s=YEAR_S,
    hosts=3,  # host 2 has no UE at all: it still counts as exposure
    vms_per_host=2,
    processes_per_vm=4,
    host_memory_bytes=TIB,
    work_rate=2.0,
    acceleration=2.0,
)
RADIUS = {o.value: o.blast_radius.value for o in Outcome}


def _errors() -> pd.DataFrame:
    """(ue, kind, host, context, outcome, consumed_ns, resolved_ns, exit_to_vmm)."""
    rows = [
        # UE 0 (host 0): kills a process twice, then crashes its VM: not recovered.
        (0, "consumption", 0, "guest_user", "process_killed", 100, 150, True),
        (0, "consumption", 0, "guest_user", "process_killed", 200, 260, False),
        (0, "consumption", 0, "guest_kernel", "vm_crashed", 300, 330, False),
        # UE 1 (host 0): recovered, then a re-touch by the VMM kills it: recovered.
        (1, "consumption", 0, "guest_user", "recovered", 400, 420, True),
        (1, "retouch", 0, "vmm", "process_killed", 500, 510, False),
        # UE 2 (host 1): crashes the VM at both consumptions (a crash loop).
        (2, "consumption", 1, "guest_kernel", "vm_crashed", 110, 120, False),
        (2, "consumption", 1, "guest_kernel", "vm_crashed", 700, 800, False),
        # UE 3 (host 1): found by the scrubber (the guest is told and drops a clean page),
        # never consumed.
        (3, "scrub", 1, "scrubber", "recovered", 120, 125, False),
        # UE 4 (host 1): the host kernel consumes it and the host panics; UE 5's event is
        # in flight at that instant and ends with it: one panic, two events.
        (4, "consumption", 1, "host_kernel", "host_panicked", 900, 1000, False),
        (5, "consumption", 1, "guest_user", "host_panicked", 950, 1000, False),
    ]
    frame = pd.DataFrame(
        rows,
        columns=[
            "ue_id",
            "kind",
            "host",
            "context",
            "outcome",
            "consumed_ns",
            "resolved_ns",
            "exit_to_vmm",
        ],
    )
    frame["blast_radius"] = frame["outcome"].map(RADIUS)
    frame["latency_ns"] = frame["resolved_ns"] - frame["consumed_ns"]
    # Latest first: the first consumption of a UE must be found by time, not by row.
    frame = frame.iloc[::-1].reset_index(drop=True)
    frame.insert(0, "error_id", frame["consumed_ns"].rank(method="first").astype(int) - 1)
    return frame


def _ues() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ue_id": [0, 1, 2, 3, 4, 5, 6],
            "host": [0, 0, 1, 1, 1, 1, 0],
            "consumptions": [3, 1, 2, 0, 1, 1, 0],
            "lost_bytes": [4096, 0, 0, 2 * 2**20, 0, 0, 0],
            "state": ["offlined", "live", "live", "offlined", "live", "live", "latent"],
            "source": ["rate"] * 7,
        }
    )


def _vms() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "host": [0, 0, 1, 1, 2, 2],
            "vm": [0, 1, 0, 1, 0, 1],
            "downtime_s": [60.0, 30.0, 720.0, 600.0, 0.0, 0.0],
            "outages": [1, 1, 3, 1, 0, 0],
            "crashes": [1, 0, 2, 0, 0, 0],
            "restarts": [0, 1, 0, 0, 0, 0],
            "lost_down_s": [100.0, 200.0, 300.0, 400.0, 0.0, 0.0],
            "lost_inflight_s": [10.0, 0.0, 0.0, 0.0, 0.0, 0.0],
            "lost_stall_s": [0.0, 0.0, 0.0, 0.5, 0.0, 0.0],
        }
    )


def _faults() -> pd.DataFrame:
    return pd.DataFrame(
        {"uncorrected": [True, False, False], "predicted": [False, True, False], "pages": [1, 3, 1]}
    )


def test_per_ue_follows_each_consumed_ue() -> None:
    table = per_ue(_errors(), _ues()).set_index("ue_id")
    assert list(table.index) == [0, 1, 2, 4, 5]  # consumed at least once; 3 and 6 never
    assert table["first_outcome"].to_dict() == {
        0: "process_killed",
        1: "recovered",
        2: "vm_crashed",
        4: "host_panicked",
        5: "host_panicked",
    }
    assert table["worst_radius"].to_dict() == {0: "vm", 1: "process", 2: "vm", 4: "host", 5: "host"}
    assert table["recovered"].to_dict() == {0: False, 1: True, 2: False, 4: False, 5: False}
    assert table["first_survived"].to_dict() == {0: True, 1: True, 2: False, 4: False, 5: False}
    assert table["consumptions"].to_dict() == {0: 3, 1: 1, 2: 2, 4: 1, 5: 1}


def test_every_metric_has_its_known_value() -> None:
    summary = summarise(_errors(), _ues(), _vms(), _faults(), EXPOSURE)
    field_vm_years = 3 * 2 * 1.0 * 2.0  # VMs x years x acceleration
    lost = 100 + 200 + 300 + 400 + 10 + 0.5
    downtime = 60 + 30 + 720 + 600
    expected = {
        "recovery_rate": 1 / 5,
        "first_consumption_survival": 2 / 5,
        "consumptions_per_ue": 8 / 5,
        "repeat_consumption_share": 2 / 5,
        # guest-context consumptions and re-touches: UE 0 (3), 1 (1), 2 (2), 5 (1)
        "event_survival_rate": 3 / 7,
        "vm_interruptions_per_1000_vm_years": 1000 * 4 / field_vm_years,
        "host_panics_per_1000_host_years": 1000 * 1 / (3 * 2.0),
        "process_kills_per_vm_year": 3 / field_vm_years,
        "exits_to_vmm_per_vm_year": 2 / field_vm_years,
        "downtime_min_per_vm_year": downtime / 60 / field_vm_years,
        "lost_work_h_per_vm_year": lost / 3600 / field_vm_years,
        "memory_lost_kib_per_tib_year": (4096 + 2 * 2**20) / 2**10 / (3 * 1.0 * 2.0),
        "goodput": 1 - lost / (6 * 4 * YEAR_S),
        "availability": 1 - downtime / (6 * YEAR_S),
        "mttr_s": downtime / 6,
        "handling_latency_mean_ns": (50 + 60 + 30 + 20 + 10 + 10 + 100 + 5 + 100 + 50) / 10,
        "ues": 7,
        "ues_consumed": 5,
        "ues_recovered": 1,
        "error_events": 10,
        "outcome_recovered": 2,
        "outcome_offlined": 0,
        "outcome_process_killed": 3,
        "outcome_vm_restarted": 0,
        "outcome_vm_crashed": 3,
        "outcome_host_panicked": 2,
        "process_kills": 3,
        "vm_crashes": 3,
        "vm_restarts": 1,
        "vm_interruptions": 4,
        "host_panics": 1,
        "exits_to_vmm": 2,
        "ce_faults": 2,
        "ue_faults": 1,
        "ues_predicted": 3,
        "downtime_s": downtime,
        "memory_lost_bytes": 4096 + 2 * 2**20,
        "work_done": (6 * 4 * YEAR_S - lost) * 2.0,
        "ues_latent": 1,
        "ues_offlined": 2,
        "ues_cleared": 0,
        "ues_live": 4,
        "vms": 6,
        "hosts": 3,
        "vm_years": 6.0,
        "host_years": 3.0,
        "acceleration": 2.0,
    }
    for name, value in expected.items():
        assert summary[name] == pytest.approx(value, rel=1e-12), name
    assert set(METRICS) <= set(expected), "a metric without a hand-computed value"


def test_tallies_are_per_host_and_pool_to_the_summary() -> None:
    tallies = host_tallies(_errors(), _ues(), _vms(), EXPOSURE)
    assert list(tallies.index) == [0, 1, 2]
    assert tallies["ues_consumed"].tolist() == [2, 3, 0]
    assert tallies["ues_recovered"].tolist() == [1, 0, 0]
    assert tallies["host_panics"].tolist() == [0, 1, 0]
    assert tallies["vm_interruptions"].tolist() == [2, 2, 0]
    summary = summarise(_errors(), _ues(), _vms(), _faults(), EXPOSURE)
    assert pd.DataFrame(summary["per_host"]).equals(tallies.reset_index(drop=True))
    for name, metric in METRICS.items():
        assert metric.value(tallies) == pytest.approx(summary[name], rel=1e-12, nan_ok=True)


def test_undefined_ratios_are_nan_not_zero() -> None:
    empty = _errors().iloc[0:0]
    ues = _ues().iloc[0:0]
    summary = summarise(empty, ues, _vms(), _faults(), EXPOSURE)
    assert math.isnan(summary["recovery_rate"]) and math.isnan(summary["consumptions_per_ue"])
    assert summary["vm_interruptions_per_1000_vm_years"] > 0  # the VM table still counts
    assert summary["ues_consumed"] == 0 and summary["error_events"] == 0


def test_acceleration_divides_only_the_field_scaled_metrics() -> None:
    slow = summarise(_errors(), _ues(), _vms(), _faults(), EXPOSURE)
    fast = summarise(
        _errors(), _ues(), _vms(), _faults(), Exposure(**{**EXPOSURE.__dict__, "acceleration": 8})
    )
    for name, metric in METRICS.items():
        ratio = slow[name] / fast[name]
        assert ratio == pytest.approx(4.0 if metric.field else 1.0), name


def test_the_vocabulary_is_the_models() -> None:
    assert tuple(r.value for r in BlastRadius) == metrics.RADII
    assert set(metrics.OUTCOMES) == {o.value for o in Outcome}
    running = {o.value for o in Outcome if o.blast_radius.value in ("none", "process")}
    assert set(metrics.VM_RUNNING) == running
    assert set(metrics.UE_STATES) == {s.value for s in UeState}
    assert set(metrics.GUEST_CONTEXTS) == {c.value for c in Context if c.in_guest}


def test_a_run_summary_agrees_with_its_own_tables() -> None:
    import rassim
    from rassim.config import load_scenario

    scenario = load_scenario(
        preset="sea-to-user",
        overrides=["memory.ue_rate=2e-3/GiB/h", "duration=2d", "fleet.hosts=2"],
    )
    result = rassim.simulate(scenario, seed=4)
    ue = per_ue(result.errors, result.ues)
    assert result.summary["ues_consumed"] == len(ue) > 50
    assert result.summary["recovery_rate"] == pytest.approx(ue["recovered"].mean())
    assert np.array_equal(
        ue["consumptions"].to_numpy(),
        result.errors[result.errors["kind"] == "consumption"]
        .groupby("ue_id")
        .size()
        .reindex(ue["ue_id"])
        .to_numpy(),
    )


def test_docs_define_every_metric_as_the_code_does() -> None:
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    for metric in METRICS.values():
        row = f"| `{metric.name}` | {metric.definition} | {metric.kind} | {metric.unit} |"
        assert row in text, metric.name
