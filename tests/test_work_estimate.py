"""The work estimate against real runs, and the CLI refusing what would not fit.

Expected UEs and DRAM faults are Poisson (compound Poisson for SECDED faults, which
poison several pages each): the measured count of a fixed-seed run lies within 4
standard deviations of the estimate. Chipkill UEs cluster (once a rank holds a
multi-bank fault, every later fault in its other devices meets it), so one run's count
is overdispersed: over seeds it spread 0.7x to 1.3x around the estimate, whose mean it
matched (2283 vs 2255 pages over 5 seeds); a run must lie within 1.5x.

Error events per UE are an empirical factor: for UEs at a direct rate
the estimate is within 4x of the measured count, and table memory within 2x, for runs of
a day or more; for DRAM faults (several pages per fault, most UEs late in the run under
chipkill) a page sees 0.5 to 70 events (measured), and the estimate is within 30x.
"""

from __future__ import annotations

import math

import pytest

import rassim.work_estimate
from rassim.cli import main
from rassim.config import load_scenario
from rassim.run import simulate
from rassim.work_estimate import estimate

TABLES = ("errors", "hops", "ues", "vms", "faults")
CASES = {
    "claimed (qemu-ras)": ("qemu-ras", ["fleet.hosts=8"]),
    "legacy SError": ("legacy-serror", ["fleet.hosts=4"]),
    "exit to user": ("sea-to-user", ["fleet.hosts=4"]),
    "no FEAT_RAS": ("no-feat-ras", ["fleet.hosts=4"]),
    "DRAM faults, SECDED": (
        "qemu-ras",
        ["fleet.hosts=4", "memory.source=faults", "memory.ecc=secded", "memory.acceleration=300"],
    ),
    "DRAM faults, chipkill": (
        "sea-to-user",
        ["memory.source=faults", "memory.acceleration=1e6", "duration=1d"],
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_the_estimate_matches_a_real_run(case: str) -> None:
    preset, overrides = CASES[case]
    scenario = load_scenario(preset=preset, overrides=["memory.acceleration=30000", *overrides])
    expected = estimate(scenario)
    result = simulate(scenario, seed=11)
    assert expected.ues > 100
    if scenario.memory.ecc == "chipkill" and scenario.memory.source == "faults":
        assert 1 / 1.5 <= len(result.ues) / expected.ues <= 1.5
    else:
        uncorrected = result.faults[result.faults["uncorrected"].astype(bool)]
        pages = uncorrected["pages"].astype(float)
        spread = math.sqrt((pages**2).sum()) if len(pages) else math.sqrt(expected.ues)
        assert abs(len(result.ues) - expected.ues) <= 4 * spread
    assert abs(len(result.faults) - expected.faults) <= 4 * math.sqrt(expected.faults)
    factor = 30 if scenario.memory.source == "faults" else 4
    assert 1 / factor <= len(result.errors) / expected.events <= factor
    measured = sum(getattr(result, t).memory_usage(deep=True).sum() for t in TABLES)
    assert 1 / (factor / 2) <= measured / expected.table_bytes <= factor / 2


def test_replications_and_hops_scale_the_estimate() -> None:
    scenario = load_scenario(preset="qemu-ras")
    one, five = estimate(scenario), estimate(scenario, replications=5)
    assert five.ues == pytest.approx(5 * one.ues) and five.vm_rows == 5 * one.vm_rows
    quiet = load_scenario(preset="qemu-ras", overrides=["record_hops=false"])
    assert estimate(quiet).hops == 0 < one.hops


def test_work_over_the_limit_is_refused_before_anything_starts(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rassim.work_estimate, "memory_limit", lambda: 2**20)
    out = tmp_path / "out"
    argv = ["run", "--preset", "qemu-ras", "--set", "duration=1d", "--out", str(out)]
    assert main([*argv, "--set", "memory.acceleration=1e6"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "error events" in error
    for key in ("fleet.hosts 1", "memory.host_memory 512GiB", "duration 1d"):
        assert key in error
    assert "memory.acceleration 1e+06" in error and "--force" in error
    assert not out.exists() and list(tmp_path.iterdir()) == []
    assert main([*argv, "--force"]) == 0
    assert (out / "meta.json").is_file()


def test_sweep_and_compare_are_refused_by_the_point_or_arm(
    tmp_path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rassim.work_estimate, "memory_limit", lambda: 2**20)
    assert main(["compare", "--preset", "qemu-ras", "--set", "duration=1d"]) == 2
    assert "the arm hypervisor.policy=serror_fallback would take" in capsys.readouterr().err
    experiment = tmp_path / "x.toml"
    experiment.write_text(
        '[experiment]\nname = "x"\npreset = "qemu-ras"\n[[factors]]\n'
        'key = "fleet.hosts"\nvalues = [1, 2]\n'
    )
    out = tmp_path / "out"
    assert main(["sweep", str(experiment), "--out", str(out), "-j", "1"]) == 2
    assert "point 0 (fleet.hosts=1) would take" in capsys.readouterr().err
    assert not out.exists()
