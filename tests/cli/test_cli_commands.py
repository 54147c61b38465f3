"""The command line as a user meets it: run, compare, validate, trace, presets, bad input."""

import json
from pathlib import Path

import pandas as pd
import pytest

from rassim.cli import main
from rassim.presets import PRESETS

SMALL = [
    "--set",
    "memory.ue_rate=2e-3/GiB/h",
    "--set",
    "duration=2d",
    "--set",
    "fleet.vms_per_host=2",
]


@pytest.fixture
def rassim_cli(capsys: pytest.CaptureFixture[str]):
    """``rassim ARGS`` in this process: its exit status and what it printed on stderr (an
    exception other than the exit itself fails the test, traceback and all)."""

    def run(*args: str) -> tuple[int, str]:
        try:
            status = main(list(args))
        except SystemExit as exit_:
            status = exit_.code if isinstance(exit_.code, int) else 1
        return status, capsys.readouterr().err

    return run


def test_presets_lists_every_preset_with_its_seed(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["presets"]) == 0
    out = capsys.readouterr().out
    for name in PRESETS:
        assert name in out
    assert out.count("[seed ") == len(PRESETS)


def test_run_writes_a_complete_directory(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "run"
    assert (
        main(["run", "--preset", "qemu-ras", *SMALL, "-r", "2", "--seed", "5", "--out", str(out)])
        == 0
    )
    names = {p.name for p in out.iterdir()}
    assert names == {
        "scenario.toml",
        "errors.parquet",
        "hops.parquet",
        "ues.parquet",
        "vms.parquet",
        "faults.parquet",
        "summary.json",
        "meta.json",
    }
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 5 and meta["replications"] == 2 and meta["version"]
    summary = json.loads((out / "summary.json").read_text())
    assert len(summary["replications"]) == 2
    assert "event_survival_rate" in summary["aggregate"]
    errors = pd.read_parquet(out / "errors.parquet")
    assert set(errors["replication"]) <= {0, 1} and len(errors) > 0
    table = capsys.readouterr().out
    assert "event_survival_rate" in table and "[" in table  # a CI is printed with R > 1
    # the resolved scenario loads back to the same thing
    assert main(["validate", str(out / "scenario.toml")]) == 0


def test_run_is_reproducible_whatever_the_workers(tmp_path: Path) -> None:
    fleet = ["--set", "fleet.hosts=3"]
    for name, workers in (("a", "1"), ("b", "2")):
        out = str(tmp_path / name)
        args = ["run", "--preset", "sea-to-user", *SMALL, *fleet, "-j", workers, "--out", out]
        assert main(args) == 0
    for table in ("errors", "ues", "hops"):
        first = pd.read_parquet(tmp_path / "a" / f"{table}.parquet")
        second = pd.read_parquet(tmp_path / "b" / f"{table}.parquet")
        pd.testing.assert_frame_equal(first, second)


def test_trace_prints_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    assert main(["run", "--preset", "qemu-ras", *SMALL, "--out", str(out)]) == 0
    errors = pd.read_parquet(out / "errors.parquet")
    claimed = errors[errors["claimed"] & (errors["context"] == "guest_user")]
    assert len(claimed), "the scenario should produce a claimed guest-user SEA"
    error_id = int(claimed.iloc[0]["error_id"])
    capsys.readouterr()
    assert main(["trace", str(out), str(error_id)]) == 0
    text = capsys.readouterr().out
    for expected in (
        "memory -> cpu",
        "cpu -> el3",
        "el3 -> kvm",
        "kvm -> vmm",
        "vmm -> guest",
        "DABT_LOW",
        "APEI claims",
        "outcome",
    ):
        assert expected in text
    assert "physical_address: 0x" in text  # the guest's CPER record, decoded


def test_compare_answers_the_question(capsys: pytest.CaptureFixture[str]) -> None:
    busy = [*SMALL, "--set", "fleet.hosts=3"]
    assert main(["compare", "--preset", "sea-to-user", *busy, "-r", "2"]) == 0
    out = capsys.readouterr().out
    assert "memory.acceleration" not in out  # field rates: nothing to say
    assert "hypervisor.policy: serror_fallback vs exit_to_user" in out
    header = next(line for line in out.splitlines() if line.startswith("metric, 95% CI"))
    assert "exit_to_user - serror_fallback" in header and header.endswith("better")
    recovery = next(line for line in out.splitlines() if line.startswith("recovery rate"))
    assert recovery.count("[") == 3 and recovery.rstrip().endswith("exit_to_user")
    interruptions = next(line for line in out.splitlines() if line.startswith("VM interruptions"))
    assert "per 1,000 VM-years" in interruptions and "e+" not in out and "e-0" not in out
    assert "totals over all runs" in out and "UEs consumed" in out and "VM-years" in out
    assert "pooled over 6 host-run(s) per arm" in out and "paired" in out
    assert "recovery_rate: consumed UEs none of whose events" in out  # definitions


def test_compare_any_key_at_two_values(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cmp"
    args = ["compare", "--preset", "sea-to-user", *SMALL, "--set", "fleet.hosts=2"]
    args += ["--key", "vmm.sea_exit", "--values", "inject", "inject_cper", "--out", str(out)]
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "vmm.sea_exit: inject vs inject_cper" in text and "inject_cper - inject" in text
    assert {"inject", "inject_cper", "report"} <= {p.name for p in out.iterdir()}
    assert "inject_cper" in (out / "inject_cper" / "scenario.toml").read_text()
    page = (out / "report" / "report.html").read_text()
    verdict = page[page.index("id='verdict'") : page.index("Experiments:")]
    assert "inject_cper against inject" in verdict and "compared with inject." in verdict
    assert "recovery rate" in verdict and "[" in verdict


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--key", "vmm.sea_exit"], "--key vmm.sea_exit: give its two values"),
        (["--key", "vmm.sea_exit", "--values", "inject", "inject"], "not inject twice"),
        (["--key", "vmm.sea_exit", "--values", "inject", "inject_crp"], "vmm.sea_exit"),
        (["--key", "vmm.sea_ext", "--values", "a", "b"], "did you mean 'sea_exit'"),
    ],
)
def test_compare_refuses_arms_it_cannot_build(extra, message, capsys) -> None:
    assert main(["compare", "--preset", "sea-to-user", *SMALL, *extra]) == 2
    assert message in capsys.readouterr().err


def test_the_comparison_keeps_intervals_in_their_domains() -> None:
    from rassim.config import load_scenario
    from rassim.results.comparison import Arm, comparison_frame
    from rassim.results.metrics import METRICS
    from rassim.results.replications import run_replications

    arms = []
    for policy in ("serror_fallback", "exit_to_user"):
        scenario = load_scenario(
            preset="sea-to-user",
            overrides=[
                "memory.ue_rate=2e-3/GiB/h",
                "duration=2d",
                "fleet.hosts=3",
                f"hypervisor.policy={policy}",
            ],
        )
        arms.append(Arm(policy, [r.summary for r in run_replications(scenario, 1, 2)]))
    frame = comparison_frame(arms, paired=True).set_index("metric")
    for name, row in frame.iterrows():
        metric = METRICS[name]
        for arm in ("serror_fallback", "exit_to_user"):
            low, value, high = row[f"{arm}_low"], row[arm], row[f"{arm}_high"]
            assert low <= value <= high, (name, arm)
            assert low >= 0, (name, arm)
            if metric.kind in ("share", "fraction"):
                assert high <= 1, (name, arm)
        assert row["difference_low"] <= row["difference"] <= row["difference_high"], name
    assert frame.loc["recovery_rate", "better"] == "exit_to_user"
    assert frame.loc["vm_interruptions_per_1000_vm_years", "better"] == "exit_to_user"


def test_compare_says_when_error_rates_are_accelerated(
    capsys: pytest.CaptureFixture[str],
) -> None:
    accelerated = ["--set", "memory.acceleration=250", "--set", "memory.ue_rate=1e-5/GiB/h"]
    assert main(["compare", "--preset", "sea-to-user", *SMALL, *accelerated]) == 0
    header = capsys.readouterr().out.splitlines()[1]
    assert "error rates x250 (memory.acceleration)" in header


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.toml"], "missing.toml: no such file"),
        (["run", "--preset", "nope"], "unknown preset 'nope'"),
        (
            ["run", "--preset", "qemu-ras", "--set", "vmm.sea_exti=inject"],
            "did you mean 'sea_exit'",
        ),
        (["run", "--preset", "qemu-ras", "--set", "duration=3 fortnights"], "is not a duration"),
        (["run", "--preset", "qemu-ras", "--set", "cpu.p_sync=1.2"], "cpu.p_sync: must be"),
        (["run", "--preset", "qemu-ras", "--set", "memory.ue_rate=-4"], "memory.ue_rate"),
        (["run"], "give a scenario file or --preset"),
        (["validate", "--preset", "qemu-ras", "--set", "fleet.hosts=0"], "fleet.hosts"),
        (["trace", "nowhere", "0"], "not a rassim run directory"),
    ],
)
def test_user_errors_exit_2_with_one_clear_line(args: list[str], message: str, rassim_cli) -> None:
    status, stderr = rassim_cli(*args)
    assert status == 2
    assert message in stderr
    assert "Traceback" not in stderr
    assert len(stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("option", ["-r", "-j"])
def test_bad_replications_or_workers_is_an_argument_error(option: str, rassim_cli) -> None:
    status, stderr = rassim_cli("run", "--preset", "qemu-ras", option, "0")
    assert status == 2 and "must be at least 1" in stderr


def test_unwritable_output_keeps_nothing_half_written(tmp_path: Path, rassim_cli) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    status, stderr = rassim_cli(
        "run", "--preset", "qemu-ras", *SMALL, "--out", str(blocker / "out")
    )
    assert status == 2 and "cannot write" in stderr
    assert blocker.read_text() == "not a directory"


def test_failed_run_leaves_earlier_results_intact(tmp_path: Path, monkeypatch) -> None:
    out = tmp_path / "run"
    assert main(["run", "--preset", "qemu-ras", *SMALL, "--out", str(out)]) == 0
    before = (out / "errors.parquet").read_bytes()

    def explode(*args, **kwargs):
        raise RuntimeError("simulated crash mid-run")

    monkeypatch.setattr("rassim.results.replications.simulate", explode)
    with pytest.raises(RuntimeError):
        main(["run", "--preset", "qemu-ras", *SMALL, "--seed", "9", "--out", str(out)])
    assert (out / "errors.parquet").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["run"]  # no partial directory left
