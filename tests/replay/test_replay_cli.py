"""``rassim fit`` as a user meets it, and the page-type table against the kernel's strings."""

import subprocess
import sys
from pathlib import Path

import pytest

from rassim.cli import main
from rassim.config import load_scenario
from rassim.replay import PAGE_TYPES, Placement, ReadOptions, placement, read_log
from rassim.replay.synthetic import FleetSpec, synthetic_errors, write_database
from rassim.sim.units import NS_PER_D, GiB

# include/trace/events/memory-failure.h MF_PAGE_TYPE (current mainline), the older
# kernels' strings since removed, and rasdaemon 0.8.5's mf_page_type[] table.
KERNEL_PAGE_TYPES = [
    "reserved kernel page",
    "high-order kernel page",
    "huge page",
    "free huge page",
    "get hwpoison page",
    "unmapping failed page",
    "dirty swapcache page",
    "clean swapcache page",
    "dirty mlocked LRU page",
    "clean mlocked LRU page",
    "dirty unevictable LRU page",
    "clean unevictable LRU page",
    "dirty LRU page",
    "clean LRU page",
    "already truncated LRU page",
    "free buddy page",
    "dax page",
    "unsplit thp",
    "already poisoned",
    "already poisoned page",
    "non struct page pfn",
    "unknown page",
]
OLDER_PAGE_TYPES = [
    "kernel slab page",
    "different compound page after locking",
    "huge page already hardware poisoned",
    "non-pmd-sized huge page",
    "free buddy page (2nd try)",
    "different page size",
]


def test_every_kernel_page_type_has_a_placement() -> None:
    assert sorted(PAGE_TYPES) == sorted(KERNEL_PAGE_TYPES + OLDER_PAGE_TYPES)
    assert placement(None) is placement("a page type from the future") is Placement.MEMORY_MAP


@pytest.fixture
def fleet_dir(tmp_path: Path) -> Path:
    spec = FleetSpec(3, 256 * GiB, 60 * NS_PER_D, 3e-5, 1e-4, {"dirty LRU page": 1.0})
    logs = tmp_path / "logs"
    logs.mkdir()
    for host, errors in synthetic_errors(spec, seed=4).items():
        write_database(logs / f"{host}.db", errors, memory_failure=host != "host01")
    return logs


def test_fit_writes_a_scenario_that_runs(fleet_dir: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "fitted.toml"
    args = ["fit", str(fleet_dir), "--out", str(out), "--host-memory", "256GiB"]
    assert main([*args, "--observed", "60d", "--vms-per-host", "8"]) == 0
    printed = capsys.readouterr().out
    assert "UEs:" in printed and "Exposure: 3 host(s) x 256GiB x 1440 h" in printed
    scenario = load_scenario(out)
    assert scenario.fleet.hosts == 3 and scenario.fleet.vms_per_host == 8
    assert main(["validate", str(out)]) == 0
    assert main([*args, "--quiet"]) == 0  # rewriting its own file
    assert capsys.readouterr().out.strip() == f"{out}: ok"
    assert "the log's span" in out.read_text()


def test_fit_refuses_to_overwrite_a_users_file(fleet_dir: Path, tmp_path: Path, capsys) -> None:
    mine = tmp_path / "mine.toml"
    mine.write_text("# my notes\n")
    assert main(["fit", str(fleet_dir), "--out", str(mine), "--observed", "60d"]) == 2
    assert "not written by rassim fit" in capsys.readouterr().err
    assert mine.read_text() == "# my notes\n"


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--host-memory", "lots"], "--host-memory: 'lots' is not a size"),
        (["--observed", "3 fortnights"], "--observed:"),
        (["--hosts", "2"], "fewer than the 3 hosts"),
        (["--host-memory", "2GiB"], "cannot hold 4 VM(s)"),
        (["--vms-per-host", "1000"], "cannot hold 1000 VM(s)"),
    ],
)
def test_fit_bad_options(fleet_dir: Path, tmp_path: Path, capsys, extra, expected) -> None:
    out = tmp_path / "x.toml"
    assert main(["fit", str(fleet_dir), "--out", str(out), "--observed", "60d", *extra]) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count("\n") == 1
    assert not out.exists()


def test_a_corrupt_database_is_one_line_on_stderr(
    fleet_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = fleet_dir / "host01.db"
    bad.write_bytes(bad.read_bytes()[:100] + b"\x00" * 5000)
    assert main(["fit", str(fleet_dir), "--out", str(tmp_path / "x.toml")]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("rassim: error: ") and err.count("\n") == 1
    assert "host01.db" in err and "Traceback" not in err


def test_the_example_log_is_what_its_script_makes(tmp_path: Path, capsys) -> None:
    example = Path(__file__).parents[2] / "experiments" / "replay"
    script = example / "make_log.py"
    done = subprocess.run(
        [sys.executable, str(script), "--out", str(tmp_path)], capture_output=True, check=True
    )
    assert done.stdout.count(b"UEs") == 4
    options = ReadOptions(address_limit=256 * GiB)
    committed = read_log([example / "log"], options)
    assert read_log([tmp_path], options).errors == committed.errors
    out = tmp_path / "fitted.toml"
    args = ["fit", str(example / "log"), "--out", str(out), "--host-memory", "256GiB"]
    assert main([*args, "--observed", "120d"]) == 0
    printed = capsys.readouterr().out
    for line in (example / "README.md").read_text().split("```")[3].strip().splitlines():
        assert line in printed  # the README quotes today's output
