"""Every experiment in experiments/ runs end to end (one replication, a short duration);
a sensitivity study is checked whole and its first runs made."""

from pathlib import Path

import pandas as pd
import pytest

from rassim.cli import main

FILES = sorted((Path(__file__).parents[2] / "experiments").glob("*.toml"))
STUDIES = [path for path in FILES if "\n[sensitivity" in path.read_text()]
EXPERIMENTS = [path for path in FILES if path not in STUDIES]


@pytest.mark.parametrize("path", EXPERIMENTS, ids=lambda p: p.stem)
def test_runs_end_to_end(path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / path.stem
    small = ["-r", "1", "--set", "duration=12h", "--set", "fleet.hosts=1", "-j", "1", "-q"]
    assert main(["sweep", str(path), "--out", str(out), *small]) == 0, capsys.readouterr().err
    runs = pd.read_parquet(out / "runs.parquet")
    aggregate = pd.read_parquet(out / "aggregate.parquet")
    assert (runs["status"] == "ok").all()
    assert len(runs) == len(aggregate) >= 2


@pytest.mark.parametrize("path", STUDIES, ids=lambda p: p.stem)
def test_study_checks_and_starts(
    path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"## {path.stem}" in (path.parent / "README.md").read_text()
    assert main(["sensitivity", str(path), "--dry-run"]) == 0, capsys.readouterr().err
    assert "scenario(s) of the morris stage checked" in capsys.readouterr().out
    out = tmp_path / path.stem
    small = ["--set", "duration=12h", "--set", "fleet.hosts=1", "-j", "1", "-q", "--limit", "4"]
    assert main(["sensitivity", str(path), "--out", str(out), *small]) == 0
    assert "4 run(s) computed" in capsys.readouterr().out
    assert not (out / "runs.parquet").exists()  # stopped by --limit: nothing final yet
