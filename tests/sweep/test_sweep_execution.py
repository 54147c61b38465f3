"""Running sweeps: tidy tables, order-free seeds, CIs, failed runs, the command line."""

import json
import math
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

import rassim.run
from rassim.cli import main
from rassim.sweep.execute import sweep
from rassim.sweep.experiment import load_experiment


def _runs(out: Path) -> pd.DataFrame:
    return pd.read_parquet(out / "runs.parquet").sort_values("run_id").reset_index(drop=True)


def test_cli_writes_tidy_tables(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out"
    assert main(["sweep", str(tiny), "--out", str(out), "--workers", "1", "-q"]) == 0
    stdout = capsys.readouterr().out
    assert "tiny: 8 run(s) computed" in stdout
    assert "goodput, 95% CI" in stdout and "e-0" not in stdout
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == {
        "runs.parquet",
        "aggregate.parquet",
        "tallies.parquet",
        "errors.parquet",
        "vms.parquet",
        "experiment.toml",
        "base_scenario.toml",
        "meta.json",
    }
    runs = _runs(out)
    assert list(runs.columns) == [
        "run_id",
        "point_id",
        "replication",
        "seed",
        "hypervisor_policy",
        "vmm_sea_exit",
        "vmm_unmap",
        "status",
        "error",
        "wall_s",
        "goodput",
        "event_survival_rate",
        "memory_lost_bytes",
        "error_events",
    ]
    assert runs["run_id"].tolist() == list(range(8)) and (runs["status"] == "ok").all()
    assert runs["error"].isna().all() and (runs["wall_s"] > 0).all()
    assert runs["seed"].str.startswith("7:").all() and runs["seed"].is_unique
    aggregate = pd.read_parquet(out / "aggregate.parquet")
    assert aggregate["point_id"].tolist() == [0, 1, 2, 3]
    assert (aggregate["runs_ok"] == 2).all() and (aggregate["runs_failed"] == 0).all()
    assert {"goodput_mean", "goodput_sd", "goodput_ci_low", "goodput_ci_high"} <= set(aggregate)
    errors = pd.read_parquet(out / "errors.parquet")
    assert list(errors.columns[:6]) == [
        "run_id",
        "point_id",
        "replication",
        "hypervisor_policy",
        "vmm_sea_exit",
        "vmm_unmap",
    ]
    counted = errors.groupby("run_id").size().reindex(runs["run_id"], fill_value=0)
    assert counted.tolist() == runs["error_events"].tolist()
    assert len(pd.read_parquet(out / "vms.parquet")) == 8 * 2
    assert (out / "experiment.toml").read_bytes() == tiny.read_bytes()
    assert main(["validate", str(out / "base_scenario.toml")]) == 0
    meta = json.loads((out / "meta.json").read_text())
    assert meta["seed"] == 7 and meta["runs"] == 8 and meta["runs_ok"] == 8
    assert meta["workers"] == 1 and meta["scheduler"] is None and "git_revision" in meta


def test_results_do_not_depend_on_workers_or_order(tmp_path: Path, tiny: Path) -> None:
    experiment = load_experiment(tiny)
    sweep(experiment, tmp_path / "one", workers=1, progress=False)
    outcome = sweep(experiment, tmp_path / "two", workers=2, progress=False)
    assert outcome.workers == 2 and outcome.computed == 8
    one, two = _runs(tmp_path / "one"), _runs(tmp_path / "two")
    pd.testing.assert_frame_equal(one.drop(columns="wall_s"), two.drop(columns="wall_s"))
    for table in ("aggregate", "errors", "vms"):
        pd.testing.assert_frame_equal(
            pd.read_parquet(tmp_path / "one" / f"{table}.parquet"),
            pd.read_parquet(tmp_path / "two" / f"{table}.parquet"),
        )


TWO_WORKERS = """
import sys
from pathlib import Path

from rassim.sweep.execute import sweep
from rassim.sweep.experiment import load_experiment

if __name__ == "__main__":
    outcome = sweep(load_experiment(Path(sys.argv[1])), Path(sys.argv[2]), 2, progress=False)
    print(outcome.computed, outcome.failed)
"""


def test_a_sweep_run_beside_another_rassim_runs_this_one(tmp_path: Path, tiny: Path) -> None:
    """The pool's forkserver puts the working directory first on its path: run from the
    root of another checkout (here a bare rassim package), its workers took that rassim
    and every run failed. A fresh interpreter, since a forkserver serves its process
    for good."""
    checkout = tmp_path / "checkout"
    (checkout / "rassim").mkdir(parents=True)
    (checkout / "rassim" / "__init__.py").write_text("")
    script = tmp_path / "two_workers.py"
    script.write_text(TWO_WORKERS)
    command = [sys.executable, str(script), str(tiny), str(tmp_path / "out")]
    done = subprocess.run(command, cwd=checkout, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[-2:] == ["8", "0"]  # runs computed, failed


def test_aggregate_pools_the_hosts_of_every_run(tmp_path: Path, tiny: Path) -> None:
    out = tmp_path / "out"
    sweep(load_experiment(tiny, replications=3), out, progress=False)
    runs, aggregate = _runs(out), pd.read_parquet(out / "aggregate.parquet")
    tallies = pd.read_parquet(out / "tallies.parquet")
    assert len(tallies) == len(runs)  # one host per run in this experiment
    assert list(tallies.columns[:7]) == [
        "run_id",
        "point_id",
        "replication",
        "hypervisor_policy",
        "vmm_sea_exit",
        "vmm_unmap",
        "host",
    ]
    for _, row in aggregate.iterrows():
        mine = tallies[tallies["point_id"] == row["point_id"]]
        lost = mine["lost_work_s"].sum() / mine["possible_work_s"].sum()
        assert row["goodput_mean"] == pytest.approx(1 - lost)
        survived = mine["guest_events_survived"].sum() / mine["guest_events"].sum()
        assert row["event_survival_rate_mean"] == pytest.approx(survived)
        assert 0 <= row["event_survival_rate_ci_low"] <= survived
        assert survived <= row["event_survival_rate_ci_high"] <= 1
        values = runs.loc[runs["point_id"] == row["point_id"], "memory_lost_bytes"]
        assert row["memory_lost_bytes_mean"] == pytest.approx(values.mean())
        assert row["memory_lost_bytes_sd"] == pytest.approx(values.std(), nan_ok=True)
        assert 0 <= row["memory_lost_bytes_ci_low"] <= values.mean()


def _fake_simulate(scenario, seed):
    """Replication r of every point reports goodput r + 1 (r = the seed's last spawn key)."""
    replication = seed.spawn_key[-1]
    return SimpleNamespace(summary={"goodput": float(replication + 1)})


def test_an_interval_over_runs_has_its_closed_form(
    tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Values 1..5 of a non-negative amount without tallies: mean 3, sd sqrt(2.5), and the
    Gamma distribution with mean 3 and variance (2.5 / 5) (t(0.975, 4) / z(0.975))^2."""
    from scipy.stats import gamma, norm, t

    monkeypatch.setattr(rassim.run, "simulate", _fake_simulate)
    text = tiny.read_text().replace('keep = ["errors", "vms"]', "keep = []")
    text = text.replace('"memory_lost_bytes", "error_events"', '"ues"')
    tiny.write_text(text.replace('"goodput", "event_survival_rate", "ues"', '"goodput"'))
    out = tmp_path / "out"
    sweep(load_experiment(tiny, replications=5), out, progress=False)
    aggregate = pd.read_parquet(out / "aggregate.parquet")
    variance = 2.5 / 5 * (t.ppf(0.975, 4) / norm.ppf(0.975)) ** 2
    shape, scale = 3.0**2 / variance, variance / 3.0
    for _, row in aggregate.iterrows():
        assert row["goodput_mean"] == pytest.approx(3.0)
        assert row["goodput_sd"] == pytest.approx(math.sqrt(2.5))
        assert row["goodput_ci_low"] == pytest.approx(gamma.ppf(0.025, shape, scale=scale))
        assert row["goodput_ci_high"] == pytest.approx(gamma.ppf(0.975, shape, scale=scale))


def test_a_failing_run_is_recorded_and_the_sweep_goes_on(
    tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = rassim.run.simulate

    def flaky(scenario, seed):
        if scenario.vmm.unmap and scenario.hypervisor.policy == "exit_to_user":
            raise RuntimeError("boom\nin the model")
        return real(scenario, seed)

    monkeypatch.setattr(rassim.run, "simulate", flaky)
    out = tmp_path / "out"
    assert main(["sweep", str(tiny), "--out", str(out), "-j", "1", "-q"]) == 1
    assert "2 run(s) failed" in capsys.readouterr().err
    runs = _runs(out)
    bad = runs[runs["point_id"] == 3]
    assert (bad["status"] == "failed").all() and bad["goodput"].isna().all()
    assert bad["error"].str.match(r"RuntimeError: boom in the model \(at test_sweep_").all()
    good = runs[runs["point_id"] != 3]
    assert (good["status"] == "ok").all() and good["error"].isna().all()
    aggregate = pd.read_parquet(out / "aggregate.parquet").set_index("point_id")
    assert aggregate.loc[3, "runs_failed"] == 2 and aggregate.loc[3, "runs_ok"] == 0
    assert math.isnan(aggregate.loc[3, "goodput_mean"])
    errors = pd.read_parquet(out / "errors.parquet")
    assert 3 not in set(errors["point_id"])
    # a rerun retries only the failed runs
    monkeypatch.setattr(rassim.run, "simulate", real)
    outcome = sweep(load_experiment(tiny), out, progress=False)
    assert (outcome.computed, outcome.reused, outcome.failed) == (2, 6, 0)
    assert (_runs(out)["status"] == "ok").all()


def test_another_experiment_may_not_reuse_the_directory(tmp_path: Path, tiny: Path) -> None:
    out = tmp_path / "out"
    sweep(load_experiment(tiny, replications=1), out, progress=False)
    other = tmp_path / "other.toml"
    other.write_text(tiny.read_text().replace('name = "tiny"', 'name = "other"'))
    with pytest.raises(Exception, match="holds the results of experiment 'tiny', not 'other'"):
        sweep(load_experiment(other), out, progress=False)


def test_one_sweep_at_a_time_per_directory(tmp_path: Path, tiny: Path) -> None:
    from rassim.config import ConfigError
    from rassim.sweep.store import claim

    out = tmp_path / "out"
    with claim(out, "tiny"), pytest.raises(ConfigError, match="another rassim sweep"):
        sweep(load_experiment(tiny), out, progress=False)


def test_cli_table_shows_an_unset_factor_as_none(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = tiny.read_text().replace(
        'keys = ["vmm.sea_exit", "vmm.unmap"]\nvalues = [["inject", false], ["inject_cper", true]]',
        'key = "vmm.restart_after"\nvalues = [2, "none"]',
    )
    assert "vmm.restart_after" in text
    tiny.write_text(text.replace("replications = 2", "replications = 1"))
    assert main(["sweep", str(tiny), "--out", str(tmp_path / "out"), "-j", "1", "-q"]) == 0
    stdout = capsys.readouterr().out
    assert " none " in stdout and "<NA>" not in stdout and "None" not in stdout
