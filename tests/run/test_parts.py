"""Groups' tables merged into the run's: the one group of a run kept as the DataFrames it
built and groups spilled to parquet (from this process or from workers) give the same
tables, values and types; groups with no rows in a table (no fault, no error) merge with
groups that have some."""

from __future__ import annotations

import pandas as pd
import pytest

import rassim
from rassim.run.hosts import TABLES

SPARSE = rassim.Scenario.model_validate(
    {
        "duration": "20d",
        "fleet": {"hosts": 6, "vms_per_host": 1},
        "memory": {"source": "faults", "ecc": "secded", "acceleration": 100},
    }
)


@pytest.mark.parametrize("workers", [1, 2], ids=["spilled here", "spilled by workers"])
def test_empty_and_full_groups_merge_to_the_same_tables(workers: int, monkeypatch) -> None:
    alone = rassim.simulate(SPARSE, seed=2)  # one group, kept as DataFrames
    per_host = alone.faults.groupby("host").size().reindex(range(6), fill_value=0)
    errors = alone.errors.groupby("host").size().reindex(range(6), fill_value=0)
    assert (per_host == 0).any() and (per_host > 0).any()
    assert (errors == 0).any() and (errors > 0).any()
    monkeypatch.setattr(rassim.run, "_GROUP_HOSTS", 1)  # a group per host, through parquet
    shared = rassim.simulate(SPARSE, seed=2, workers=workers)
    assert len(rassim.run.host_groups(6, workers)) == 6
    for table in TABLES:
        kept, spilled = getattr(alone, table), getattr(shared, table)
        assert kept.dtypes.to_dict() == spilled.dtypes.to_dict()  # e.g. str, not object
        pd.testing.assert_frame_equal(kept, spilled)


def test_empty_tables_keep_their_types(monkeypatch) -> None:
    quiet = SPARSE.model_copy(update={"duration": 1})
    kept = rassim.simulate(quiet, seed=2)
    monkeypatch.setattr(rassim.run, "_GROUP_HOSTS", 1)
    spilled = rassim.simulate(quiet, seed=2)
    assert len(kept.faults) == 0 and len(kept.errors) == 0
    for table in TABLES:
        assert getattr(kept, table).dtypes.to_dict() == getattr(spilled, table).dtypes.to_dict()
    assert kept.faults.dtypes["arrived_ns"] == "int64" and kept.faults.dtypes["mode"] == "str"
    assert kept.errors.dtypes["vm"] == "Int64" and kept.errors.dtypes["sync"] == "boolean"
    assert kept.vms.dtypes["goodput"] == "float64" and len(kept.vms) == 6
