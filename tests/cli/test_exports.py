"""--format csv: every table also as CSV beside its Parquet file; compare --out's tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from rassim.cli import main

SMALL = ["--preset", "qemu-ras", "--set", "memory.acceleration=3e4", "--set", "duration=7d"]
EXPERIMENT = """\
[experiment]
name = "x"
preset = "qemu-ras"
keep = ["errors"]
[base]
duration = "7d"
memory.acceleration = 3e4
[[factors]]
key = "vmm.unmap"
values = [false, true]
"""


def _same_table(parquet: Path) -> None:
    """The CSV beside ``parquet`` holds the same rows and columns, values as text."""
    table = pd.read_parquet(parquet)
    text = pd.read_csv(parquet.with_suffix(".csv"), keep_default_na=False, dtype=str)
    assert list(text.columns) == list(table.columns)
    assert len(text) == len(table) > 0 or parquet.stem in {"faults", "ues"}
    for column in table.select_dtypes("number").columns:
        numbers = pd.to_numeric(text[column].replace("", None))
        pd.testing.assert_series_equal(
            numbers.astype(float), table[column].astype(float), check_names=False
        )


def test_run_writes_csv_beside_parquet(tmp_path: Path) -> None:
    out = tmp_path / "run"
    assert main(["run", *SMALL, "-q", "--format", "csv", "--out", str(out)]) == 0
    for table in ("errors", "hops", "ues", "vms", "faults"):
        _same_table(out / f"{table}.parquet")
    assert main(["trace", str(out), "0"]) == 0  # the Parquet is what rassim reads back


def test_compare_out_writes_its_arms_table_and_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", *SMALL, "-q", "--format", "csv", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    names = {p.name for p in out.iterdir()}
    assert names == {"serror_fallback", "exit_to_user", "comparison.csv", "report", "meta.json"}
    for arm in ("serror_fallback", "exit_to_user"):
        _same_table(out / arm / "errors.parquet")
    comparison = pd.read_csv(out / "comparison.csv")
    assert {"metric", "serror_fallback", "exit_to_user", "difference", "better"} <= set(
        comparison.columns
    )
    for label in comparison["label"]:
        assert label in printed  # the table it printed
    assert (out / "report" / "report.html").is_file()


def test_sweep_writes_csv_and_drops_it_when_no_longer_asked(tmp_path: Path) -> None:
    experiment = tmp_path / "x.toml"
    experiment.write_text(EXPERIMENT)
    out = tmp_path / "sweep"
    assert (
        main(["sweep", str(experiment), "-q", "-j", "1", "--format", "csv", "--out", str(out)]) == 0
    )
    for table in ("runs", "aggregate", "tallies", "errors"):
        _same_table(out / f"{table}.parquet")
    assert main(["sweep", str(experiment), "-q", "-j", "1", "--out", str(out)]) == 0
    assert not list(out.glob("*.csv"))  # stale copies would disagree with the tables
    assert (out / "runs.parquet").is_file()
