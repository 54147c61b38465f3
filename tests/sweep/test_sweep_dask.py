"""A sweep on a real Dask cluster gives the same tables as the local run."""

from pathlib import Path

import pandas as pd
import pytest

from rassim.sweep.execute import sweep
from rassim.sweep.experiment import load_experiment

distributed = pytest.importorskip("distributed")


def test_local_cluster_gives_the_local_tables(tmp_path: Path, tiny: Path) -> None:
    experiment = load_experiment(tiny)
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as cluster:
        outcome = sweep(
            experiment, tmp_path / "dask", scheduler=cluster.scheduler_address, progress=False
        )
    assert (outcome.computed, outcome.failed, outcome.workers) == (8, 0, 2)
    sweep(experiment, tmp_path / "local", workers=1, progress=False)
    for table in ("runs", "aggregate", "errors", "vms"):
        local = pd.read_parquet(tmp_path / "local" / f"{table}.parquet")
        remote = pd.read_parquet(tmp_path / "dask" / f"{table}.parquet")
        if table == "runs":
            local, remote = local.drop(columns="wall_s"), remote.drop(columns="wall_s")
        pd.testing.assert_frame_equal(local, remote)
