"""Fleet runs on a Dask cluster give the local run's tables; a group is retried once,
and a group that fails twice fails the run naming its hosts."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

import rassim
from rassim import provenance
from rassim.cli import main
from rassim.errors import ConfigError, RunFailed
from rassim.run import executors, hosts

distributed = pytest.importorskip("distributed")

TABLES = ("errors", "ues", "hops", "vms", "faults")
FLEET = rassim.Scenario.model_validate(
    {
        "duration": "3d",
        "record_hops": True,
        "fleet": {"hosts": 6, "vms_per_host": 2},
        "memory": {"ue_rate": "2e-3/GiB/h", "scrub_period": "12h"},
        "platform": {"host_reboot_time": "5min"},
        "guest": {"reboot_time": "1min"},
    }
)


def _same_run(one: rassim.RunResult, other: rassim.RunResult) -> None:
    for table in TABLES:
        pd.testing.assert_frame_equal(getattr(one, table), getattr(other, table))
    assert one.summary.keys() == other.summary.keys()
    for key, value in one.summary.items():
        assert value == other.summary[key] or value != value, key  # NaN is no number


@pytest.fixture(scope="module")
def local() -> rassim.RunResult:
    return rassim.simulate(FLEET, seed=4)


def test_a_local_cluster_gives_the_local_tables(local: rassim.RunResult) -> None:
    assert len(local.errors) > 300 and local.summary["host_panics"] > 0  # a busy fleet
    done: list[int] = []
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        remote = rassim.simulate(
            FLEET, seed=4, scheduler=cluster.scheduler_address, progress=done.append
        )
    _same_run(local, remote)
    assert len(done) == len(rassim.run.host_groups(6, 2)) == 6 and sum(done) == 6


@pytest.fixture(scope="module")
def threads():
    """A cluster of two workers in this process, so that a test can make groups fail."""
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None
    ) as cluster:
        yield cluster.scheduler_address


TRIES: Counter[int] = Counter()  # attempts per group (by first host) on the threads cluster
FAILURES = [0]  # how many times the group of host 2 fails before it runs


def _flaky_group(scenario, seed, group: range, progress=None, arrow=False):
    """``simulate_group`` that fails the first ``FAILURES[0]`` times for host 2's group."""
    TRIES[group.start] += 1
    if 2 in group and TRIES[group.start] <= FAILURES[0]:
        raise OSError("worker lost its disk")
    return hosts.simulate_group(scenario, seed, group, progress, arrow)


@pytest.fixture
def failing(monkeypatch):
    """Set how many times host 2's group fails; the attempts are counted by group."""
    TRIES.clear()
    monkeypatch.setattr(executors, "simulate_group", _flaky_group)
    return lambda n: FAILURES.__setitem__(0, n)


def test_a_one_group_run_on_a_cluster_gives_the_local_tables(threads) -> None:
    """The one group's Arrow tables are kept, as DataFrames, like a local group's."""
    alone = FLEET.model_copy(update={"fleet": FLEET.fleet.model_copy(update={"hosts": 1})})
    assert len(rassim.run.host_groups(1, 2)) == 1
    _same_run(rassim.simulate(alone, seed=4), rassim.simulate(alone, seed=4, scheduler=threads))


def test_a_failed_group_is_retried_once(failing, threads, local) -> None:
    failing(1)
    _same_run(local, rassim.simulate(FLEET, seed=4, scheduler=threads))
    assert TRIES[2] == 2 and set(TRIES.values()) == {1, 2}


def test_a_group_failing_twice_fails_the_run_with_its_hosts(failing, threads) -> None:
    failing(2)
    with pytest.raises(RunFailed, match=r"host 2 failed twice .*OSError: worker lost"):
        rassim.simulate(FLEET, seed=4, scheduler=threads)
    assert TRIES[2] == 2


def test_parts_spilled_to_parquet_are_removed(monkeypatch, tmp_path: Path, local) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    _same_run(local, rassim.simulate(FLEET, seed=4, workers=2))
    assert list(tmp_path.iterdir()) == []


SMALL_FLEET = ["--set", "fleet.hosts=4", "--set", "fleet.vms_per_host=2", "--set", "duration=2d"]
SMALL_FLEET += ["--set", "memory.ue_rate=2e-3/GiB/h"]


def test_rassim_run_on_a_cluster_writes_the_local_run(tmp_path: Path) -> None:
    with distributed.LocalCluster(
        n_workers=1, threads_per_worker=2, processes=False, protocol="tcp", dashboard_address=":0"
    ) as cluster:
        address = cluster.scheduler_address
        assert main(["run", "--preset", "qemu-ras", *SMALL_FLEET, "--scheduler", address,
                     "--out", str(tmp_path / "dask")]) == 0  # fmt: skip
    assert main(["run", "--preset", "qemu-ras", *SMALL_FLEET, "--out", str(tmp_path / "here")]) == 0
    for table in TABLES:
        here = pd.read_parquet(tmp_path / "here" / f"{table}.parquet")
        pd.testing.assert_frame_equal(here, pd.read_parquet(tmp_path / "dask" / f"{table}.parquet"))
    summaries = [json.loads((tmp_path / d / "summary.json").read_text()) for d in ("here", "dask")]
    assert summaries[0] == summaries[1]


def test_workers_running_other_code_are_refused(tmp_path: Path, monkeypatch, capsys) -> None:
    """A worker process that would draw with another numpy (here: lacks a library this
    process counts in the code it runs) refuses the run before anything is written."""
    with distributed.LocalCluster(  # its HTTP server on a free port, beside the threads'
        n_workers=1, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as cluster:
        address = cluster.scheduler_address
        monkeypatch.setattr(
            provenance, "RESULT_LIBRARIES", (*provenance.RESULT_LIBRARIES, "pytest")
        )
        provenance.code_identity.cache_clear()
        try:
            out = ["--out", str(tmp_path / "dask")]
            assert main(["run", "--preset", "qemu-ras", *SMALL_FLEET, "--scheduler", address,
                         *out]) == 2  # fmt: skip
        finally:
            monkeypatch.undo()
            provenance.code_identity.cache_clear()
    message = capsys.readouterr().err
    assert f"worker {address.rsplit(':', 1)[0]}" in message
    assert f"pytest unknown there, {pytest.__version__} here" in message
    assert not (tmp_path / "dask").exists()


def test_a_worker_with_other_sources_is_named(threads) -> None:
    client = distributed.Client(threads, set_as_default=False)
    try:
        ours = provenance.code_identity()
        executors.check_workers(client, threads, ours)  # the same code: no complaint
        other = {**ours, "rassim": "0" * 12}
        with pytest.raises(ConfigError, match=rf"rassim {ours['rassim']} there, 0{{12}} here"):
            executors.check_workers(client, threads, other)
    finally:
        client.close()


def test_workers_without_rassim_are_a_clear_error() -> None:
    class Missing:  # what client.run raises when a worker cannot import rassim
        def run(self, function):
            raise ModuleNotFoundError("No module named 'rassim'")

    with pytest.raises(ConfigError, match=r"rassim does not run on the workers: ModuleNotFound"):
        executors.check_workers(Missing(), "tcp://10.0.0.5:8786")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scheduler", "nonsense"], "expected an address like tcp://HOST:8786"),
        (["--scheduler", "tcp://10.0.0.5:8786", "-j", "2"], "with --scheduler the cluster decides"),
    ],
)
def test_bad_scheduler_arguments_are_refused(extra, message, tmp_path: Path, capsys) -> None:
    for command in ("run", "compare"):
        out = ["--out", str(tmp_path / command)]
        assert main([command, "--preset", "qemu-ras", *SMALL_FLEET, *extra, *out]) == 2
        assert message in capsys.readouterr().err
        assert not (tmp_path / command).exists()
