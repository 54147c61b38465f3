"""CSV logs: the essentials of rasdaemon's records, checked like a database's rows."""

from pathlib import Path

import pytest

from rassim.errors import ConfigError
from rassim.replay import ReadOptions, read_log
from rassim.replay.synthetic import FleetSpec, synthetic_errors, write_csv, write_database
from rassim.sim.units import NS_PER_D, NS_PER_S, GiB

OPTIONS = ReadOptions(address_limit=64 * GiB)
HEADER = "host,timestamp,address,err_type,page_type\n"


def _write(tmp_path: Path, text: str, name: str = "fleet.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_rows_become_records_of_their_hosts(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "page_type,err_type,host,address,timestamp\n"  # any column order
        "dirty LRU page,Uncorrected,n1,0x10000,2025-01-02 03:04:05 +0000\n"
        ",corrected,n2,4096,2025-01-02 03:04:06\n"
        "\n",
    )
    log = read_log([path], OPTIONS)
    assert log.hosts == ("n1", "n2")
    first, second = log.errors
    assert (first.host, first.address, first.corrected, first.page_type) == (
        "n1",
        0x10000,
        False,
        "dirty LRU page",
    )
    assert (second.address, second.corrected, second.page_type) == (4096, True, None)
    assert second.time_ns - first.time_ns == NS_PER_S


def test_a_csv_log_reads_like_the_same_databases(tmp_path: Path) -> None:
    spec = FleetSpec(2, 64 * GiB, 30 * NS_PER_D, 2e-4, 1e-3, {"clean LRU page": 1.0})
    fleet = synthetic_errors(spec, seed=3)
    write_csv(tmp_path / "fleet.csv", [e for errors in fleet.values() for e in errors])
    (tmp_path / "dbs").mkdir()
    for host, errors in fleet.items():
        write_database(tmp_path / "dbs" / f"{host}.db", errors)
    from_csv = read_log([tmp_path / "fleet.csv"], OPTIONS).errors
    from_db = read_log([tmp_path / "dbs"], OPTIONS).errors
    assert len(from_csv) == len(from_db) == sum(map(len, fleet.values())) > 20
    strip = [(e.host, e.time_ns, e.address, e.corrected, e.count, e.page_type) for e in from_csv]
    assert strip == [
        (e.host, e.time_ns, e.address, e.corrected, e.count, e.page_type) for e in from_db
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", "empty"),
        ("host,timestamp,address\n", "no err_type column"),
        ("host,timestamp,adress,err_type\n", "unknown column 'adress' (did you mean 'address'?)"),
        ("host,host,timestamp,address,err_type\n", "named twice"),
    ],
)
def test_bad_headers_are_one_line_errors(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        read_log([_write(tmp_path, text)], OPTIONS)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def test_bad_rows_are_counted(tmp_path: Path) -> None:
    good = "n1,2025-01-02 03:04:05,0x1000,Uncorrected,\n"
    path = _write(
        tmp_path,
        HEADER
        + good
        + good  # duplicate
        + "n1,2025-01-02 03:04:05,0x1000,Uncorrected\n"  # a field short
        + ",2025-01-02 03:04:05,0x1000,Uncorrected,\n"  # no host
        + "n1,2025-01-02 03:04:05,0x1000000000000,Uncorrected,\n"  # beyond 64 GiB
        + "n1,2025-01-02 03:04:05,banana,Uncorrected,\n",
    )
    log = read_log([path], OPTIONS)
    assert len(log.errors) == 1 and log.skipped.total == 5
    text = "\n".join(log.skipped.lines())
    for reason in ("duplicate", "5 fields", "without a host", "beyond", "unreadable address"):
        assert reason in text
    assert "fleet.csv line 3" in text


def test_a_host_in_a_csv_and_a_database_is_refused(tmp_path: Path) -> None:
    spec = FleetSpec(1, 64 * GiB, NS_PER_D, 1e-3, 0.0, {})
    errors = synthetic_errors(spec, seed=1)["host00"]
    write_database(tmp_path / "host00.db", errors)
    _write(tmp_path, HEADER + "host00,2025-01-02 03:04:05,0x1000,Uncorrected,\n")
    with pytest.raises(ConfigError, match="host 'host00' is in both"):
        read_log([tmp_path], OPTIONS)
