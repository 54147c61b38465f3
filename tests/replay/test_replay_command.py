"""``rassim replay`` as a user meets it: the replay directory, every logged UE once in every
run, the same seeds in every arm, the same tables whatever the worker count, one-line
errors for bad input."""

import json
import subprocess
import sys
from pathlib import Path
from typing import get_args

import pandas as pd
import pytest
from fleet_db import assert_each_logged_ue_replayed_once, write_fleet
from rasdaemon_db import make_database

from rassim.cli import main
from rassim.scenario import SeaExit

TABLES = ("errors", "ues", "vms", "hops")
ARMS = ("serror_fallback", "exit_to_user")


@pytest.fixture(scope="module")
def replayed(tmp_path_factory) -> tuple[Path, Path, object]:
    root = tmp_path_factory.mktemp("replay")
    expected = write_fleet(root / "logs")
    out = root / "out"
    argv = ["replay", str(root / "logs"), "--out", str(out), "-r", "2", "--seed", "5", "-q"]
    assert main(argv) == 0
    return root, out, expected


def _table(out: Path, arm: str, name: str) -> pd.DataFrame:
    return pd.read_parquet(out / arm / f"{name}.parquet")


def test_the_replay_directory(replayed) -> None:
    _, out, expected = replayed
    meta = json.loads((out / "meta.json").read_text())
    assert meta["command"] == "replay" and meta["seed"] == 5 and meta["replications"] == 2
    assert [arm["directory"] for arm in meta["arms"]] == list(ARMS)
    assert meta["hosts"] == ["node00", "node01", "node02"]
    assert meta["ues_logged"] == sum(expected.values())
    log = pd.read_parquet(out / "log.parquet")
    assert (~log["corrected"]).sum() == sum(expected.values())
    assert log["at_ns"].min() == 0 and log["time_utc"].dt.tz is not None
    comparison = pd.read_csv(out / "comparison.csv")
    assert "recovery_rate" in set(comparison["metric"])
    assert {"exit_to_user - serror_fallback", "exit_to_user better"} <= set(comparison.columns)
    assert (out / "report" / "report.html").is_file()


def test_every_logged_ue_is_one_ue_of_every_run(replayed) -> None:
    _, out, expected = replayed
    for arm in ARMS:
        ues = _table(out, arm, "ues")
        assert sorted(ues["replication"].unique()) == [0, 1]
        for _, run in ues.groupby("replication"):
            assert_each_logged_ue_replayed_once(run, expected)


def test_the_arms_share_their_random_numbers_and_replications_do_not(replayed) -> None:
    """Each replication replays the same pages with the same permanence in both arms;
    two replications draw anew."""
    _, out, _ = replayed
    columns = ["replication", "host", "created_ns", "hpa", "permanent"]
    first, second = (_table(out, arm, "ues")[columns] for arm in ARMS)
    key = ["replication", "host", "created_ns", "hpa"]
    first, second = (t.sort_values(key).reset_index(drop=True) for t in (first, second))
    pd.testing.assert_frame_equal(first, second)
    by_run = [
        run.drop(columns="replication").reset_index(drop=True)
        for _, run in first.groupby("replication")
    ]
    assert not by_run[0].equals(by_run[1])


def test_the_same_seed_gives_the_same_tables_whatever_the_workers(replayed) -> None:
    root, out, _ = replayed
    again = root / "again"
    argv = ["replay", str(root / "logs"), "--out", str(again), "-r", "2", "--seed", "5"]
    assert main([*argv, "-q", "-j", "2"]) == 0
    for arm in ARMS:
        for name in TABLES:
            pd.testing.assert_frame_equal(_table(out, arm, name), _table(again, arm, name))
    assert (out / "comparison.csv").read_text() == (again / "comparison.csv").read_text()


def test_what_it_prints(replayed, capsys) -> None:
    root, _, expected = replayed
    assert main(["replay", str(root / "logs"), "--compare", "vmm.sea_exit=inject,inject_cper"]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f"replay of {sum(expected.values())} uncorrected error(s)")
    assert "vmm.sea_exit: inject | inject_cper" in printed
    assert "recovery rate" in printed and "inject_cper - inject" in printed


def test_several_keys_compare_every_combination(replayed, capsys) -> None:
    root, _, _ = replayed
    argv = ["replay", str(root / "logs"), "--compare", "hypervisor.policy"]
    assert main([*argv, "--compare", "vmm.sea_exit"]) == 0
    printed = capsys.readouterr().out
    labels = printed.split("hypervisor.policy, vmm.sea_exit: ")[1].splitlines()[0].split(" | ")
    arms = 2 * len(get_args(SeaExit))
    assert labels[0] == "serror_fallback, unhandled" and len(labels) == arms
    assert "differences from serror_fallback, unhandled (paired, 95% CI):" in printed
    assert printed.count(" - serror_fallback, unhandled\n") == arms - 1


@pytest.fixture
def logs(tmp_path: Path) -> Path:
    directory = tmp_path / "logs"
    write_fleet(directory, hosts=2, events=6)
    return directory


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--compare", "hypervisor.polcy"], "unknown key (did you mean 'policy'?)"),
        (["--compare", "memory.scrub_period"], "give the values to compare"),
        (["--compare", "hypervisor.policy=exit_to_user"], "two or more different values"),
        (["--compare", "hypervisor.policy=exit_to_user,nope"], "hypervisor.policy"),
        (["--compare", "fleet.hosts=1,2"], "not in a replay"),
        (["--set", "fleet.hosts=9"], "not in a replay: the log sets it (--hosts)"),
        (["--set", "memory.acceleration=10"], "not in a replay"),
        (["--observed", "1d"], "does not cover the log"),
        (["--observed", "soon"], "--observed:"),
        (["--hosts", "1"], "fewer than the 2 hosts"),
        (["--scenario", "missing.toml"], "missing.toml: no such file"),
        (["--set", "memory.host_memory=1GiB"], "smaller than the host kernel"),
    ],
)
def test_bad_options_are_one_line_errors(
    logs: Path, tmp_path: Path, capsys, extra, expected
) -> None:
    out = tmp_path / "out"
    assert main(["replay", str(logs), "--out", str(out), *extra]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1, err
    assert not out.exists()


def test_bad_logs_are_one_line_errors(logs: Path, tmp_path: Path, capsys) -> None:
    only_ce = make_database(
        tmp_path / "quiet.db", [("2025-01-01 00:00:00 +0000", 1, "Corrected", 4096)]
    )
    no_table = tmp_path / "empty.db"
    make_database(no_table)
    import sqlite3

    with sqlite3.connect(no_table) as db:
        db.execute("DROP TABLE mc_event")
    corrupt = tmp_path / "corrupt.db"
    corrupt.write_bytes((logs / "node00.db").read_bytes()[:100] + b"\x00" * 4000)
    cases = [
        (only_ce, "no uncorrected error to replay"),
        (no_table, "no mc_event table"),
        (corrupt, "corrupt.db"),
        (tmp_path / "nowhere.db", "no such file"),
    ]
    for path, expected in cases:
        assert main(["replay", str(path), "--out", str(tmp_path / "out")]) == 2
        err = capsys.readouterr().err
        assert expected in err and err.count("\n") == 1, err
        assert not (tmp_path / "out").exists()


def test_a_users_directory_is_never_replaced(logs: Path, tmp_path: Path, capsys) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    assert main(["replay", str(logs), "--out", str(mine)]) == 2
    assert "rassim never overwrites other files" in capsys.readouterr().err
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_a_corrupt_database_gives_no_traceback(logs: Path, tmp_path: Path) -> None:
    (logs / "node01.db").write_bytes(b"SQLite format 3\x00" + b"\xff" * 3000)
    done = subprocess.run(
        [sys.executable, "-m", "rassim", "replay", str(logs), "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("rassim: error: ") and done.stderr.count("\n") == 1
    assert "node01.db" in done.stderr and "Traceback" not in done.stderr


def test_the_report_speaks_of_this_fleets_errors(replayed) -> None:
    _, out, expected = replayed
    page = (out / "report" / "report.html").read_text()
    ues = sum(expected.values())
    assert page.index(f"What this fleet&#x27;s {ues} logged UEs cost under each arm") < page.index(
        "exit_to_user against serror_fallback, on this fleet&#x27;s logged errors"
    )
    assert "One replay of the log (mean of 2 replications, 95% intervals): serror_fallback:" in page
    assert "The fleet&#x27;s log" in page and "The log, host by host" in page
    assert "The arms side by side" in page and "blast_radius.png" in page
    assert (out / "report" / "log" / "logged_ues.png").stat().st_size > 10_000


def test_the_figure_shows_every_logged_ue_in_every_arm(replayed) -> None:
    from rassim.report.replay import logged_ues
    from rassim.report.results import load

    _, out, expected = replayed
    meta = json.loads((out / "meta.json").read_text())
    arms = [load(out / arm) for arm in ARMS]
    log = pd.read_parquet(out / "log.parquet")
    figure = logged_ues(log, meta["hosts"], arms, list(ARMS))
    for axes in figure.axes[: len(ARMS)]:
        points = [len(c.get_offsets()) for c in axes.collections]
        assert points[0] == log["corrected"].sum()  # the CE ticks
        assert sum(points[1:]) == sum(expected.values())


def test_addresses_above_the_hosts_memory_are_replayed(tmp_path: Path, capsys) -> None:
    """DRAM above a hole in the physical map: a replay keeps the error (52-bit limit)."""
    rows = [
        ("2025-01-01 00:00:00 +0000", 1, "Uncorrected", 600 << 30),
        ("2025-01-01 01:00:00 +0000", 1, "Uncorrected", 1 << 20),
        ("2025-01-01 02:00:00 +0000", 1, "Uncorrected", 1 << 53),
    ]
    database = make_database(tmp_path / "big.db", rows)
    assert main(["replay", str(database), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    assert "replay of 2 uncorrected error(s)" in printed
    assert "skipped: 1 rows with an address beyond the host's memory" in printed
    assert "note: 1 UE(s) at addresses at or above memory.host_memory (512GiB)" in printed
    ues = pd.read_parquet(tmp_path / "out" / "exit_to_user" / "ues.parquet")
    assert sorted(ues["hpa"]) == [1 << 20, 600 << 30]
