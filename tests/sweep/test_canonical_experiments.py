"""Every experiment in experiments/ runs end to end (one replication, a short duration)."""

from pathlib import Path

import pandas as pd
import pytest

from rassim.cli import main

EXPERIMENTS = sorted((Path(__file__).parents[2] / "experiments").glob("*.toml"))


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_runs_end_to_end(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / path.stem
    small = ["-r", "1", "--set", "duration=12h", "--set", "fleet.hosts=1", "-j", "1", "-q"]
    assert main(["sweep", str(path), "--out", str(out), *small]) == 0, capsys.readouterr().err
    runs = pd.read_parquet(out / "runs.parquet")
    aggregate = pd.read_parquet(out / "aggregate.parquet")
    assert (runs["status"] == "ok").all()
    assert len(runs) == len(aggregate) >= 2
