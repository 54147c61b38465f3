"""Reading rasdaemon databases: every row accounted for, the file never touched."""

import hashlib
import sqlite3
import subprocess
import sys
from contextlib import closing
from pathlib import Path

import pytest
import rasdaemon_db
from rasdaemon_db import CREATE_MC_EVENT

from rassim.errors import ConfigError
from rassim.replay import ReadOptions, read_log
from rassim.replay.records import parse_timestamp
from rassim.replay.synthetic import (
    CREATE_MC_EVENT as WRITTEN_MC_EVENT,
)
from rassim.replay.synthetic import (
    CREATE_MEMORY_FAILURE_EVENT as WRITTEN_MEMORY_FAILURE_EVENT,
)
from rassim.sim.units import NS_PER_S, GiB

OPTIONS = ReadOptions(address_limit=512 * GiB, busy_timeout_s=0.05)
T0 = "2025-03-04 10:00:00 +0100"
UE = (T0, 1, "Uncorrected", 0x8_4000_1040)


def test_the_synthetic_writer_uses_rasdaemons_create_statements() -> None:
    assert WRITTEN_MC_EVENT == CREATE_MC_EVENT
    assert WRITTEN_MEMORY_FAILURE_EVENT == rasdaemon_db.CREATE_MEMORY_FAILURE_EVENT


def test_every_row_becomes_one_typed_record(database) -> None:
    path = database(
        "node07.db",
        mc=[
            ("2025-03-04 10:00:00 +0100", 1, "Uncorrected", 0x8_4000_1040),
            ("2025-03-04 10:05:00 +0100", 3, "Corrected", 0x1_2345_6780),
            ("2025-03-04 11:00:00 +0100", 1, "Fatal", 0x2_0000_0000),
            ("2025-03-04 12:00:00 +0100", 1, "Deferred", 0x3_0000_0000),
        ],
        mf=[("2025-03-04 10:00:01 +0100", "0x840001", "dirty LRU page", "Recovered")],
    )
    log = read_log([path], OPTIONS)
    assert log.hosts == ("node07",)
    assert [(e.corrected, e.count) for e in log.errors] == [
        (False, 1),
        (True, 3),
        (False, 1),
        (False, 1),
    ]
    first = log.errors[0]
    assert first.host == "node07" and first.address == 0x8_4000_1040
    assert first.time_ns == parse_timestamp("2025-03-04T09:00:00Z")
    assert (first.page_type, first.action_result) == ("dirty LRU page", "Recovered")
    assert all(e.page_type is None for e in log.errors[1:])
    assert not log.skipped and not log.notes


def test_hosts_without_memory_failure_table_or_without_errors(database, tmp_path) -> None:
    database("a.db", mc=[UE], mf=[])
    database("b.db", mc=[UE])  # rasdaemon built without --enable-memory-failure
    database("c.db")  # a host that logged nothing: still observed
    node = tmp_path / "node9"
    node.mkdir()
    database("node9/ras-mc_event.db", mc=[UE])
    log = read_log([tmp_path], OPTIONS)
    assert log.hosts == ("a", "b", "c", "node9")
    assert sorted(e.host for e in log.errors) == ["a", "b", "node9"]


def test_reading_leaves_the_file_byte_identical_and_creates_nothing(database, tmp_path) -> None:
    path = database("node1.db", mc=[UE] * 3, mf=[(T0, "0x840001", "huge page", "Recovered")])
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    stat = path.stat()
    read_log([path], OPTIONS)
    read_log([tmp_path], OPTIONS)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert path.stat().st_mtime_ns == stat.st_mtime_ns
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node1.db"]


def test_timestamps_with_and_without_zone() -> None:
    utc = parse_timestamp("2025-03-04 09:00:00 +0000")
    assert parse_timestamp("2025-03-04 10:00:00 +0100") == utc
    assert parse_timestamp("2025-03-04 04:00:00 -0500") == utc
    assert parse_timestamp("2025-03-04 09:00:00") == utc  # no zone: UTC
    assert parse_timestamp("2025-03-04T09:00:00Z") == utc
    assert utc % NS_PER_S == 0


@pytest.mark.parametrize(
    ("row", "reason"),
    [
        (("yesterday", 1, "Uncorrected", 0x1000), "unreadable timestamp"),
        ((None, 1, "Uncorrected", 0x1000), "without a timestamp"),
        (("1970-01-01 00:00:00 +0000", 1, "Uncorrected", 0x1000), "unknown time"),
        ((T0, 1, "Info", 0x1000), "Info events"),
        ((T0, 1, "Sideways", 0x1000), "unknown err_type"),
        ((T0, -2, "Corrected", 0x1000), "not a count"),
        ((T0, 1, "Uncorrected", 600 * GiB), "beyond the host's memory"),
        ((T0, 1, "Uncorrected", -1), "beyond the host's memory"),  # u64 ~0 as int64
    ],
)
def test_an_unusable_row_is_counted_with_its_reason(database, row, reason) -> None:
    path = database("h.db", mc=[UE, row])
    log = read_log([path], OPTIONS)
    assert len(log.errors) == 1 and log.skipped.total == 1
    (line,) = log.skipped.lines()
    assert reason in line and "h.db mc_event id 2" in line


def test_duplicates_are_counted_and_address_zero_is_kept(database) -> None:
    no_address = (T0, 1, "Uncorrected", 0)
    path = database("h.db", mc=[UE, UE, UE, no_address])
    log = read_log([path], OPTIONS)
    assert len(log.errors) == 2
    assert log.skipped.count("duplicate rows (same values, another id)") == 2
    assert log.errors[1].address is None
    assert "without an address" in log.notes.lines()[0]


def test_err_count_zero_counts_one(database) -> None:
    log = read_log([database("h.db", mc=[(T0, 0, "Corrected", 0x1000)])], OPTIONS)
    assert log.errors[0].count == 1


def test_memory_failure_events_match_their_ue_or_stand_alone(database) -> None:
    path = database(
        "h.db",
        mc=[
            ("2025-03-04 10:00:00 +0100", 1, "Uncorrected", 0x5000_0123),
            ("2025-03-04 10:00:00 +0100", 1, "Uncorrected", 0x6000_0000),
        ],
        mf=[
            # the second UE's page, 2 s later; the first UE's page 1 h later (too late)
            ("2025-03-04 10:00:02 +0100", "0x60000", "free buddy page", "Recovered"),
            ("2025-03-04 11:00:00 +0100", "0x50000", "reserved kernel page", "Ignored"),
            ("2025-03-04 11:00:05 +0100", "0x50000", "already poisoned", "Failed"),
        ],
    )
    log = read_log([path], OPTIONS)
    assert [(e.address, e.page_type) for e in log.errors] == [
        (0x5000_0123, None),
        (0x6000_0000, "free buddy page"),
        (0x5000_0000, "reserved kernel page"),  # a UE known only to memory_failure()
    ]
    assert log.notes.count("memory_failure rows with no mc_event, kept as UEs") == 1
    assert log.skipped.count("memory_failure rows repeating a page already poisoned") == 1


def test_a_64k_page_kernel_counts_pfns_in_64k_pages(database) -> None:
    mf = [(T0, "0x5000", "clean LRU page", "Recovered")]
    path = database("h.db", mc=[(T0, 1, "Uncorrected", 0x5000_0040)], mf=mf)
    options = ReadOptions(address_limit=512 * GiB, page_size=64 * 1024)
    (error,) = read_log([path], options).errors
    assert error.page_type == "clean LRU page"


def _one_line_error(paths, options=OPTIONS) -> str:
    with pytest.raises(ConfigError) as caught:
        read_log(paths, options)
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_missing_table_and_unknown_columns(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with closing(sqlite3.connect(other)) as db:
        db.execute("CREATE TABLE aer_event (id INTEGER PRIMARY KEY, timestamp TEXT)")
    assert "no mc_event table" in _one_line_error([other])
    odd = tmp_path / "odd.db"
    with closing(sqlite3.connect(odd)) as db:
        db.execute("CREATE TABLE mc_event (id INTEGER PRIMARY KEY, timestamp TEXT, when_ TEXT)")
    message = _one_line_error([odd])
    assert "mc_event lacks column(s) err_count" in message and "odd.db" in message


def test_extra_columns_of_a_future_rasdaemon_are_noted(database) -> None:
    path = database("h.db", mc=[UE])
    with closing(sqlite3.connect(path)) as db:
        db.execute("ALTER TABLE mc_event ADD socket INTEGER")
    log = read_log([path], OPTIONS)
    assert len(log.errors) == 1 and "socket" in log.notes.lines()[0]


def test_not_sqlite_and_corrupt(tmp_path: Path, database) -> None:
    text = tmp_path / "notes.db"
    text.write_text("not a database")
    assert "not an SQLite database" in _one_line_error([text])
    corrupt = database("corrupt.db", mc=[UE] * 200)
    data = bytearray(corrupt.read_bytes())
    data[200:4000] = b"\xff" * 3800
    corrupt.write_bytes(bytes(data))
    assert "corrupt SQLite database" in _one_line_error([corrupt])


def test_locked_database(database) -> None:
    path = database("h.db", mc=[UE])
    with closing(sqlite3.connect(path, isolation_level=None)) as writer:
        writer.execute("BEGIN EXCLUSIVE")
        assert "locked by another process" in _one_line_error([path])
        writer.execute("ROLLBACK")
    assert len(read_log([path], OPTIONS).errors) == 1


def test_hot_journal_is_not_rolled_back(database) -> None:
    path = database("h.db", mc=[UE] * 300)
    crash = (
        "import os, sqlite3\n"
        f"db = sqlite3.connect({str(path)!r}, isolation_level=None)\n"
        "db.execute('PRAGMA cache_size=1'); db.execute('BEGIN')\n"
        "db.execute(\"UPDATE mc_event SET err_msg = 'x' || err_msg\")\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", crash], check=True)
    journal = path.with_name("h.db-journal")
    assert journal.exists()
    before = path.read_bytes(), journal.read_bytes()
    assert "unfinished write" in _one_line_error([path])
    assert (path.read_bytes(), journal.read_bytes()) == before


def test_wal_database_is_refused_before_it_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "wal.db"
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(CREATE_MC_EVENT)
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "WAL journal mode" in _one_line_error([path])
    assert sorted(p.name for p in tmp_path.iterdir()) == names


def test_bad_paths(tmp_path: Path, database) -> None:
    assert "no such file" in _one_line_error([tmp_path / "absent.db"])
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no rasdaemon databases" in _one_line_error([empty])
    path = database("h.db", mc=[UE])
    assert "given twice" in _one_line_error([path, tmp_path])
    (tmp_path / "x").mkdir()
    database("x/ras-mc_event.db", mc=[UE])
    database("x.db", mc=[UE])
    assert "host 'x' is in both" in _one_line_error([tmp_path])


def test_reading_is_deterministic_and_order_free(database, tmp_path) -> None:
    database("b.db", mc=[UE, (T0, 2, "Corrected", 0x2000)])
    database("a.db", mc=[(T0, 1, "Corrected", 0x3000), UE])
    one = read_log([tmp_path / "a.db", tmp_path / "b.db"], OPTIONS)
    two = read_log([tmp_path / "b.db", tmp_path / "a.db"], OPTIONS)
    assert one.errors == read_log([tmp_path], OPTIONS).errors
    assert sorted(one.errors, key=repr) == sorted(two.errors, key=repr)
    assert [e.time_ns for e in one.errors] == sorted(e.time_ns for e in one.errors)
