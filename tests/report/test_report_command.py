"""``rassim report``: the subcommand, its default output, and one-line errors."""

import argparse

import pytest

from rassim.config import ConfigError
from rassim.report import build_report
from rassim.report.command import register


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="rassim")
    register(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def test_subcommand_writes_the_report(accelerated_sweep, tmp_path, capsys):
    args = parse("report", str(accelerated_sweep), "--out", str(tmp_path / "out"))
    assert args.handler(args) == 0
    assert (tmp_path / "out" / "report.html").is_file()
    assert str(tmp_path / "out") in capsys.readouterr().out


def test_default_out_is_results_dir_report(accelerated_sweep):
    args = parse("report", str(accelerated_sweep))
    assert args.out is None
    assert args.handler(args) == 0
    assert (accelerated_sweep / "report" / "report.html").is_file()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda tmp: tmp / "missing", r"missing: no such directory"),
        (lambda tmp: (tmp / "file.txt").write_text("x") and tmp / "file.txt", r"is a file"),
        (lambda tmp: tmp, r"not a rassim results directory"),
    ],
)
def test_bad_input_is_a_one_line_config_error(tmp_path, make, message):
    with pytest.raises(ConfigError, match=message) as error:
        build_report(make(tmp_path), tmp_path / "out")
    assert "\n" not in str(error.value)
    assert not (tmp_path / "out").exists()


def test_refuses_to_replace_a_directory_that_is_not_a_report(accelerated_sweep, tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ConfigError, match=r"not an earlier `rassim report` result"):
        build_report(accelerated_sweep, tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_damaged_table_is_a_config_error(tmp_path):
    (tmp_path / "aggregate.parquet").write_bytes(b"not parquet")
    with pytest.raises(ConfigError, match=r"aggregate.parquet: cannot read"):
        build_report(tmp_path, tmp_path / "out")
