"""`rassim sensitivity` on the simulator: tidy tables, common random numbers, zero for a
key nothing reads, the verdict, and resuming with other workers to identical tables."""

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sensitivity_studies import NOISE, POLICIES

from rassim.cli import main
from rassim.sensitivity.design import load_study
from rassim.sensitivity.execute import sensitivity

DUMMY = "memory.ce_threshold"


@pytest.fixture(scope="module")
def policies(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, str]:
    """The POLICIES study run by the command line on two workers: (file, out, stdout)."""
    directory = tmp_path_factory.mktemp("policies")
    path = directory / "policies.toml"
    path.write_text(POLICIES)
    out = directory / "out"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(["sensitivity", str(path), "--out", str(out), "-j", "2", "-q"])
    assert code == 0, stdout.getvalue()
    return path, out, stdout.getvalue()


def test_cli_writes_the_tables_and_prints_the_verdict(policies: tuple[Path, Path, str]) -> None:
    path, out, stdout = policies
    assert {p.name for p in out.iterdir() if not p.name.startswith(".")} == {
        "runs.parquet",
        "samples.parquet",
        "parameters.parquet",
        "indices.parquet",
        "verdict.parquet",
        "verdict_map.parquet",
        "experiment.toml",
        "base_scenario.toml",
        "meta.json",
    }
    assert "policies: 56 run(s) computed" in stdout and "0 failed" in stdout
    assert "exit_to_user - serror_fallback: goodput" in stdout
    assert "goodput (higher is better), 8 samples: exit_to_user is better" in stdout
    runs = pd.read_parquet(out / "runs.parquet")
    assert list(runs.columns) == [
        "run_id",
        "method",
        "sample_id",
        "block",
        "role",
        "arm",
        "replication",
        "seed",
        "guest_memory_map_guest_kernel",
        "firmware_latency",
        "memory_ce_threshold",
        "hypervisor_policy",
        "status",
        "error",
        "wall_s",
        "goodput",
        "vm_crashes",
        "process_kills",
    ]
    # Morris: 2 trajectories x 4 steps; Sobol with the top 2 and one group: 4 x (3 + 2)
    assert len(runs) == 2 * (2 * 4 + 4 * 5) and runs["run_id"].tolist() == list(range(56))
    assert (runs["status"] == "ok").all()
    assert runs["arm"].tolist() == ["serror_fallback", "exit_to_user"] * 28
    assert (runs["arm"] == runs["hypervisor_policy"]).all()
    assert runs["firmware_latency"].between(10_000, 1_000_000).all()
    assert runs["memory_ce_threshold"].between(10, 100).all()
    assert runs["memory_ce_threshold"].dtype == np.int64
    meta = json.loads((out / "meta.json").read_text())
    assert meta["arms"] == {
        "keys": ["hypervisor.policy"],
        "a": "serror_fallback",
        "b": "exit_to_user",
        "common_random_numbers": True,
    }
    assert meta["top"] == ["guest.memory_map.guest_kernel", "firmware.latency"]
    assert meta["stages"]["sobol"]["runs"] == 40 and meta["stages"]["morris"]["runs"] == 16
    assert (out / "experiment.toml").read_bytes() == path.read_bytes()


def test_seeds_are_shared_where_the_estimators_need_it(policies: tuple[Path, Path, str]) -> None:
    runs = pd.read_parquet(policies[1] / "runs.parquet")
    # both arms of a sample: one seed
    assert (runs.groupby("sample_id")["seed"].nunique() == 1).all()
    per_sample = runs.drop_duplicates("sample_id")
    for (method, _block), rows in per_sample.groupby(["method", "block"]):
        seeds = dict(zip(rows["role"], rows["seed"], strict=True))
        if method == "morris":  # a trajectory is on one stream
            assert len(set(seeds.values())) == 1
        else:  # A and every AB row on one stream, B on its own
            assert seeds["A"] == seeds["AB guest.memory_map.guest_kernel"] == seeds["AB others"]
            assert seeds["B"] != seeds["A"]
    assert per_sample.groupby(["method", "block"])["seed"].first().is_unique


def test_a_key_nothing_reads_gets_exactly_zero(policies: tuple[Path, Path, str]) -> None:
    indices = pd.read_parquet(policies[1] / "indices.parquet")
    morris = indices[(indices["method"] == "morris") & (indices["parameter"] == DUMMY)]
    assert (morris[morris["index"] == "mu_star"][["value", "ci_low", "ci_high"]] == 0).all().all()
    ranked = indices[(indices["method"] == "morris") & (indices["index"] == "mu_star")]
    ranked = ranked.set_index(["metric", "parameter"])["rank"]
    for metric in ("goodput", "vm_crashes", "process_kills"):
        assert ranked[(metric, "guest.memory_map.guest_kernel")] == 1
        assert ranked[(metric, DUMMY)] == 2  # tied with firmware.latency: no outcome moves
    assert "others" in set(indices[indices["method"] == "sobol"]["parameter"])


def test_verdict_counts_the_independent_samples(policies: tuple[Path, Path, str]) -> None:
    out = policies[1]
    verdict = pd.read_parquet(out / "verdict.parquet").set_index("metric")
    samples = pd.read_parquet(out / "samples.parquet")
    sobol = samples[(samples["method"] == "sobol") & samples["verdict"]]
    assert set(sobol["role"]) == {"A", "B"} and len(sobol) == 8
    for metric, sign in (("goodput", 1), ("vm_crashes", -1)):
        row = verdict.loc[metric]
        d = sobol[f"{metric}_diff"].to_numpy()
        np.testing.assert_allclose(d, sobol[f"{metric}_b"] - sobol[f"{metric}_a"])
        assert (row["b_wins"], row["ties"], row["b_loses"]) == (
            (sign * d > 0).sum(),
            (d == 0).sum(),
            (sign * d < 0).sum(),
        )
        assert row["samples"] == 8 and row["share_b_wins"] == row["b_wins"] / 8
        assert row["share_b_wins_low"] <= row["share_b_wins"] <= row["share_b_wins_high"]
    cells = pd.read_parquet(out / "verdict_map.parquet")
    all_sobol = samples[samples["method"] == "sobol"]
    for _, group in cells.groupby("metric"):
        assert group["samples"].sum() == len(all_sobol)
        assert set(group["x"]) | set(group["y"]) <= {
            "guest.memory_map.guest_kernel",
            "firmware.latency",
        }


def test_resume_on_other_workers_gives_identical_tables(
    tmp_path: Path, policies: tuple[Path, Path, str]
) -> None:
    """Stopped mid-way on one worker (nothing final written), resumed on two: the same
    tables as the uninterrupted run."""
    path, reference, _ = policies
    out = tmp_path / "resumed"
    study = load_study(path)
    first = sensitivity(study, out, workers=1, limit=20, progress=False)
    assert not first.complete and first.total("computed") == 20
    assert not (out / "runs.parquet").exists()
    second = sensitivity(study, out, workers=2, progress=False)
    assert second.complete and second.total("reused") == 20
    assert second.total("computed") == 36
    for table in ("runs", "samples", "indices", "verdict", "verdict_map"):
        expected = pd.read_parquet(reference / f"{table}.parquet")
        got = pd.read_parquet(out / f"{table}.parquet")
        if table == "runs":
            expected, got = expected.drop(columns="wall_s"), got.drop(columns="wall_s")
        pd.testing.assert_frame_equal(got, expected)


def test_common_random_numbers_shrink_the_difference_variance(tmp_path: Path) -> None:
    """Firmware-first: the policies rarely differ, so the difference is mostly noise.
    Independent seeds per arm must give a larger variance than shared ones by more than
    an F test allows by chance (99.9%, the verdict's independent samples)."""
    differences = {}
    for crn in (True, False):
        text = NOISE.replace(
            '"exit_to_user"]', f'"exit_to_user"]\ncommon_random_numbers = {str(crn).lower()}'
        )
        path = tmp_path / f"noise-{crn}.toml"
        path.write_text(text)
        outcome = sensitivity(load_study(path), tmp_path / f"out-{crn}", progress=False)
        samples = outcome.stages[-1].samples
        differences[crn] = samples[samples["verdict"]]["goodput_diff"].to_numpy()
    shared, independent = differences[True], differences[False]
    ratio = np.var(independent, ddof=1) / np.var(shared, ddof=1)
    assert ratio > stats.f.ppf(0.999, len(independent) - 1, len(shared) - 1), ratio


def test_a_sweeps_directory_is_not_taken_over(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sweep of an experiment with the same name holds the directory: refused, untouched."""
    path = tmp_path / "policies.toml"
    path.write_text(POLICIES)
    out = tmp_path / "out"
    out.mkdir()
    (out / ".sweep.json").write_text('{"experiment": "policies"}\n')
    (out / "meta.json").write_text('{"command": "sweep", "experiment": "policies"}\n')
    before = sorted((p.name, p.read_bytes()) for p in out.iterdir())
    assert main(["sensitivity", str(path), "--out", str(out), "-q"]) == 2
    assert "not an earlier `rassim sensitivity` result" in capsys.readouterr().err
    assert sorted((p.name, p.read_bytes()) for p in out.iterdir()) == before
