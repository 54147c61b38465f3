"""The verdict: plain words with intervals, and why two rankings disagree where they do."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rassim.report.results import Results
from rassim.report.verdict import predicate, verdict
from rassim.results.estimates import estimate
from rassim.results.metrics import METRICS, TALLIES
from rassim.results.stats import Interval


@pytest.mark.parametrize(
    ("name", "gap", "before", "after", "expected"),
    [
        (
            "vm_interruptions_per_1000_vm_years",
            Interval(-31.6, -36.3, -27.3),
            32.9,
            1.4,
            "avoids 31.6 [27.3, 36.3] VM interruptions per 1,000 VM-years (32.9 → 1.4)",
        ),
        (
            "recovery_rate",
            Interval(0.584, 0.540, 0.627),
            0.0019,
            0.586,
            "raises recovery rate by 0.584 [0.540, 0.627] (0.0019 → 0.586)",
        ),
        (
            "downtime_min_per_vm_year",
            Interval(-0.037, -0.043, -0.031),
            0.043,
            0.006,
            "cuts 0.037 [0.031, 0.043] minutes per VM-year of VM downtime (0.043 → 0.0060)",
        ),
        (
            "recovery_rate",
            Interval(0.053, -0.007, 0.113),
            0.533,
            0.586,
            "makes no clear difference to recovery rate: +0.053 [-0.007, +0.113] (0.533 → 0.586)",
        ),
    ],
)
def test_plain_words(name, gap, before, after, expected) -> None:
    assert predicate(METRICS[name], gap, before, after) == expected


def _results(points: dict[str, dict[str, tuple[int, int]]]) -> Results:
    """A sweep over vmm.sea_exit under exit_to_user, 12 hosts per point: per point,
    tally -> (value per host, for hosts 0..11)."""
    frames, rows = [], []
    for point_id, (strategy, columns) in enumerate(points.items()):
        hosts = pd.DataFrame(0.0, index=range(12), columns=list(TALLIES))
        for column, value in columns.items():
            hosts[column] = value
        hosts = hosts.assign(run_id=point_id, point_id=point_id, host=range(12))
        frames.append(hosts.assign(vmm_sea_exit=strategy))
        row = {"point_id": point_id, "hypervisor_policy": "exit_to_user"}
        row["vmm_sea_exit"] = strategy
        for name in ("recovery_rate", "event_survival_rate"):
            found = estimate(METRICS[name], hosts)
            row |= {f"{name}_mean": found.value, f"{name}_ci_low": found.low}
            row[f"{name}_ci_high"] = found.high
        rows.append(row)
    return Results(
        name="strategies",
        path=Path("strategies"),
        kind="sweep",
        runs=pd.DataFrame({"run_id": [0, 1], "point_id": [0, 1], "replication": [0, 0]}),
        aggregate=pd.DataFrame(rows),
        factors=("hypervisor_policy", "vmm_sea_exit"),
        scenario={},
        tallies=pd.concat(frames, ignore_index=True),
    )


def test_a_ranking_that_flips_is_explained() -> None:
    # inject: 10 UEs per host, 2 recovered, 100 events of which 90 survived (repeats);
    # inject_cper: 10 UEs per host, 6 recovered, 12 events of which 7 survived
    results = _results(
        {
            "inject": {
                "ues_consumed": 10,
                "ues_recovered": 2,
                "guest_events": 100,
                "guest_events_survived": 90,
                "repeat_consumptions": 80,
            },
            "inject_cper": {
                "ues_consumed": 10,
                "ues_recovered": 6,
                "guest_events": 12,
                "guest_events_survived": 7,
                "repeat_consumptions": 2,
            },
        }
    )
    found = verdict(results)
    assert len(found.why) == 2  # the mechanism, then the pair
    assert found.why[1].startswith(
        "inject ranks above inject_cper by event-weighted survival (0.90 vs 0.58) but below it "
        "by recovery rate (0.20 vs 0.60): 10.0 guest-context events per consumed UE "
        "(9.0 consumptions"
    )
    best = found.findings[0]
    assert best.startswith("Best by recovery rate: inject_cper, 0.60 [0.51, 0.68]; against the")
    assert best.endswith("it raises recovery rate by 0.40 [0.28, 0.51] (0.20 → 0.60).")


def test_rankings_that_agree_are_said_to() -> None:
    alike = {"ues_consumed": 10, "guest_events": 10, "repeat_consumptions": 0}
    results = _results(
        {
            "inject": {**alike, "ues_recovered": 2, "guest_events_survived": 3},
            "inject_cper": {**alike, "ues_recovered": 6, "guest_events_survived": 7},
        }
    )
    (why,) = verdict(results).why
    assert "rank these points the same way" in why


def test_without_tallies_the_verdict_says_why_it_gives_no_difference() -> None:
    results = _results({"inject": {"ues_consumed": 1}, "inject_cper": {"ues_consumed": 1}})
    bare = Results(**{**results.__dict__, "tallies": None})
    assert any("no per-host tallies" in note for note in verdict(bare).notes)
    assert np.isfinite(bare.aggregate["recovery_rate_mean"]).all()
