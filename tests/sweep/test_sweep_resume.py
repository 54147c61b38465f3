"""Interrupted sweeps resume without loss, duplicates or recomputation."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import rassim.sweep.experiment
from rassim.cli import main
from rassim.sweep.execute import sweep
from rassim.sweep.experiment import load_experiment


def _stored(out: Path) -> dict[str, tuple[int, float]]:
    """Stored run -> (modification time, wall_s)."""
    return {
        path.name: (path.stat().st_mtime_ns, json.loads(path.read_text())["wall_s"])
        for path in (out / ".runs").glob("*.json")
    }


def test_limit_then_resume_loses_nothing_and_recomputes_nothing(tmp_path: Path, tiny: Path) -> None:
    out = tmp_path / "out"
    assert main(["sweep", str(tiny), "--out", str(out), "-j", "1", "--limit", "3", "-q"]) == 0
    first = _stored(out)
    assert len(first) == 3
    assert not (out / "runs.parquet").exists()  # no final tables for an unfinished sweep
    experiment = load_experiment(tiny)
    outcome = sweep(experiment, out, workers=2, progress=False)
    assert (outcome.computed, outcome.reused, outcome.failed) == (5, 3, 0)
    runs = pd.read_parquet(out / "runs.parquet")
    assert sorted(runs["run_id"]) == list(range(8))  # every run once
    after = _stored(out)
    assert len(after) == 8
    for name, (mtime, wall) in first.items():
        assert after[name] == (mtime, wall)  # the stored run was not rewritten
    reused = {json.loads((out / ".runs" / n).read_text())["fingerprint"] for n in first}
    by_fingerprint = {r.fingerprint: r.run_id for r in experiment.runs}
    walls = runs.set_index("run_id")["wall_s"]
    for fingerprint in reused:
        assert walls[by_fingerprint[fingerprint]] == first[f"{fingerprint}.json"][1]
    # the same as a sweep that was never interrupted
    sweep(experiment, tmp_path / "whole", workers=1, progress=False)
    whole = pd.read_parquet(tmp_path / "whole" / "runs.parquet")
    pd.testing.assert_frame_equal(runs.drop(columns="wall_s"), whole.drop(columns="wall_s"))
    pd.testing.assert_frame_equal(
        pd.read_parquet(out / "errors.parquet"),
        pd.read_parquet(tmp_path / "whole" / "errors.parquet"),
    )


def test_an_edited_experiment_reuses_the_runs_it_still_has(tmp_path: Path, tiny: Path) -> None:
    out = tmp_path / "out"
    sweep(load_experiment(tiny), out, progress=False)
    tiny.write_text(
        tiny.read_text().replace(
            '["inject_cper", true]]', '["inject_cper", true], ["unhandled", true]]'
        )
    )
    outcome = sweep(load_experiment(tiny, replications=3), out, progress=False)
    # 2 new points x 3 replications, plus a third replication of the 4 old points
    assert (outcome.computed, outcome.reused) == (10, 8)
    assert len(pd.read_parquet(out / "runs.parquet")) == 18


@pytest.mark.parametrize(("signum", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_ctrl_c_or_sigterm_keeps_finished_runs_and_earlier_results(
    tmp_path: Path, tiny: Path, signum: int, code: int
) -> None:
    out = tmp_path / "out"
    sweep(load_experiment(tiny, ["duration=1d"], replications=1), out, progress=False)
    earlier = {name: (out / name).read_bytes() for name in ("runs.parquet", "aggregate.parquet")}
    command = [sys.executable, "-m", "rassim", "sweep", str(tiny), "--out", str(out)]
    command += ["-j", "2", "--set", "duration=2d"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while len(_stored(out)) < 4 + 2 and time.monotonic() < deadline:  # 4 from the first sweep
        time.sleep(0.05)
    process.send_signal(signum)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == code, stderr
    assert "Traceback" not in stderr
    assert "rerun the same command to resume" in stderr
    kept = _stored(out)
    assert 6 <= len(kept) < 4 + 8
    assert not [p for p in os.listdir(out / ".runs") if p.endswith(".tmp")]
    for name, content in earlier.items():
        assert (out / name).read_bytes() == content
    assert not [p for p in os.listdir(out) if p.startswith(".final-")]
    finished = subprocess.run([*command, "-q"], capture_output=True, text=True, check=False)
    assert finished.returncode == 0, finished.stderr
    assert f"{len(kept) - 4} reused" in finished.stdout
    runs = pd.read_parquet(out / "runs.parquet")
    assert sorted(runs["run_id"]) == list(range(8)) and (runs["status"] == "ok").all()


def test_changed_code_recomputes(
    tmp_path: Path, tiny: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "out"
    sweep(load_experiment(tiny, replications=1), out, progress=False)
    monkeypatch.setattr(rassim.sweep.experiment, "code_fingerprint", lambda: "a model change")
    outcome = sweep(load_experiment(tiny, replications=1), out, progress=False)
    assert (outcome.computed, outcome.reused) == (4, 0)
