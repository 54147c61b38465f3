"""The per-UE and per-exposure metrics on simulated scenarios (docs/metrics.md).

- Where UEs are consumed again and again, the event-weighted survival overstates recovery:
  each survivable repeat adds a surviving event, while one outage makes the UE
  unrecovered.
- Field-scaled metrics do not depend on how a number of UEs was reached: a run
  accelerated 10x agrees with an unaccelerated run ten times as long.
"""

from __future__ import annotations

import pytest

import rassim
from rassim.config import load_scenario
from rassim.results.estimates import difference, estimate
from rassim.results.metrics import METRICS, tallies_of

BUSY = ["memory.ue_rate=1e-3/GiB/h", "duration=2d", "fleet.hosts=8", "record_hops=false"]


def _tallies(preset: str, *overrides: str, seed: int = 3):
    result = rassim.simulate(load_scenario(preset=preset, overrides=[*BUSY, *overrides]), seed)
    return result.summary, tallies_of([result.summary])


@pytest.mark.parametrize(
    ("preset", "overrides"),
    [
        # serror_fallback without a host claim: the page is never poisoned, and a
        # permanent UE crashes its VM again after every reboot (a crash loop); the SErrors
        # the guest survives (AET CE/UEO) are the surviving events in between
        ("legacy-serror", ("memory.p_permanent=1.0", "cpu.p_sync=0.8")),
        # exit_to_user + inject without a CPER: the guest never poisons its page, so a UE
        # in user memory kills process after process
        ("sea-to-user", ()),
    ],
    ids=["crash-loop", "repeat-kills"],
)
def test_repeats_make_event_survival_overstate_recovery(preset, overrides) -> None:
    summary, tallies = _tallies(preset, *overrides)
    assert summary["consumptions_per_ue"] > 3  # UEs are consumed again and again
    recovery = estimate(METRICS["recovery_rate"], tallies)
    events = estimate(METRICS["event_survival_rate"], tallies)
    assert recovery.high < events.low  # the documented direction, beyond the noise
    first = estimate(METRICS["first_consumption_survival"], tallies)
    assert recovery.value <= first.value  # a recovered UE's first consumption did not crash


def test_a_crash_loop_interrupts_vms_more_often_than_there_are_ues() -> None:
    summary, _ = _tallies("legacy-serror", "memory.p_permanent=1.0", "cpu.p_sync=0.8")
    assert summary["vm_interruptions"] > 5 * summary["ues_consumed"]
    assert summary["recovery_rate"] < 0.02


def test_ten_times_acceleration_agrees_with_ten_times_the_duration() -> None:
    """Same expected number of UEs, reached by rate or by time: every field-scaled metric
    agrees within the interval of the difference; the simulated-time shares do not."""
    common = ["fleet.hosts=30", "record_hops=false", "memory.ue_rate=1e-5/GiB/h"]
    runs = {}
    for name, duration, acceleration in (("fast", "20d", 10), ("slow", "200d", 1)):
        scenario = load_scenario(
            preset="sea-to-user",
            overrides=[*common, f"duration={duration}", f"memory.acceleration={acceleration}"],
        )
        runs[name] = tallies_of([rassim.simulate(scenario, seed=5).summary])
    assert runs["fast"]["ues"].sum() > 500 and runs["slow"]["ues"].sum() > 500
    for metric in METRICS.values():
        if not metric.field:
            continue
        gap = difference(metric, runs["slow"], runs["fast"], paired=False)
        assert gap.low <= 0 <= gap.high, metric.name
        assert estimate(metric, runs["fast"]).value > 0, metric.name
    # goodput is a share of simulated time: ten times the errors per hour cost ten times it
    lost = {name: 1 - estimate(METRICS["goodput"], t).value for name, t in runs.items()}
    assert 5 < lost["fast"] / lost["slow"] < 20
