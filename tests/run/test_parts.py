"""Groups' tables merged into the run's: groups with no rows in a table (no fault, no
error) merge with groups that have some, in memory and through parquet alike."""

from __future__ import annotations

import pandas as pd

import rassim

SPARSE = rassim.Scenario.model_validate(
    {
        "duration": "20d",
        "fleet": {"hosts": 6, "vms_per_host": 1},
        "memory": {"source": "faults", "ecc": "secded", "acceleration": 100},
    }
)


def test_empty_and_full_groups_merge_to_the_same_tables() -> None:
    alone = rassim.simulate(SPARSE, seed=2)  # one group, kept in memory
    per_host = alone.faults.groupby("host").size().reindex(range(6), fill_value=0)
    errors = alone.errors.groupby("host").size().reindex(range(6), fill_value=0)
    assert (per_host == 0).any() and (per_host > 0).any()
    assert (errors == 0).any() and (errors > 0).any()
    shared = rassim.simulate(SPARSE, seed=2, workers=2)  # a group per host, through parquet
    for table in ("errors", "ues", "hops", "vms", "faults"):
        pd.testing.assert_frame_equal(getattr(alone, table), getattr(shared, table))


def test_empty_tables_keep_their_types() -> None:
    quiet = rassim.simulate(SPARSE.model_copy(update={"duration": 1}), seed=2, workers=2)
    assert len(quiet.faults) == 0 and len(quiet.errors) == 0
    assert quiet.faults.dtypes["arrived_ns"] == "int64" and quiet.faults.dtypes["mode"] == "str"
    assert quiet.vms.dtypes["goodput"] == "float64" and len(quiet.vms) == 6
