"""The verdict and its map from a samples table, without running anything."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rassim.results.stats import binomial_interval
from rassim.sensitivity.parameters import Parameter
from rassim.sensitivity.verdict import verdict, verdict_map

SHARE = Parameter("firmware.p_record", "uniform", "number", False, low=0.5, high=1.0)
SIZE = Parameter("guest.memory", "discrete", "discrete", False, values=("32GiB", "112GiB"))


def _samples(n: int = 40) -> pd.DataFrame:
    rng = np.random.default_rng(3)
    p = rng.uniform(0.5, 1.0, n)
    size = rng.choice(["32GiB", "112GiB"], n)
    # B wins where p_record is low, ties at p_record above 0.9, loses for 32 GiB above 0.75
    d = np.where(p < 0.75, 1.0, np.where(p > 0.9, 0.0, np.where(size == "32GiB", -1.0, 1.0)))
    return pd.DataFrame(
        {"firmware_p_record": p, "guest_memory": size, "a_diff": d, "b_diff": -d, "verdict": True}
    )


def test_shares_count_wins_ties_and_losses_in_the_metric_s_direction() -> None:
    samples = _samples()
    samples.loc[0, "a_diff"] = np.nan  # undefined in one sample
    table = verdict(samples, {"a": "higher", "b": "lower"}, 0.95).set_index("metric")
    d = samples["a_diff"].dropna()
    wins, ties, losses = (d > 0).sum(), (d == 0).sum(), (d < 0).sum()
    row = table.loc["a"]
    assert (row["samples"], row["undefined"]) == (len(samples) - 1, 1)
    assert (row["b_wins"], row["ties"], row["b_loses"]) == (wins, ties, losses)
    assert (row["share_b_wins_low"], row["share_b_wins_high"]) == binomial_interval(wins, len(d))
    assert row["mean_difference"] == pytest.approx(d.mean())
    # "lower is better" on the negated difference: the same wins
    lower = table.loc["b"]
    assert (lower["b_wins"], lower["b_loses"]) == (
        (samples["b_diff"] < 0).sum(),
        (samples["b_diff"] > 0).sum(),
    )


def test_map_cells_show_where_the_verdict_flips(tmp_path: Path) -> None:
    samples = _samples(400)
    parameters = {SHARE.key: SHARE, SIZE.key: SIZE}
    axes = {"a": [SHARE.key, SIZE.key], "b": [SIZE.key, SHARE.key]}  # discrete on either axis
    cells = verdict_map(samples, parameters, axes, {"a": "higher", "b": "lower"})
    cells.to_parquet(tmp_path / "cells.parquet")  # one type per column
    a = cells[cells["metric"] == "a"]
    assert a["samples"].sum() == len(samples) and len(a) == 4 * 2
    assert a["x_low"].min() == pytest.approx(0.5) and a["x_high"].max() == pytest.approx(1.0)
    assert a["y_low"].isna().all() and set(a["y_label"]) == {"32GiB", "112GiB"}
    low = a[a["x_high"] <= 0.75]  # the two lower quartiles of p_record: B always wins
    assert (low["share_b_wins"] == 1).all()
    top = a[a["x_low"] >= 0.875]  # mostly ties
    assert (top["ties"] > 0).all()
    flips = a[(a["x_low"] >= 0.75) & (a["x_high"] <= 0.875) & (a["y_label"] == "32GiB")]
    assert (flips["b_loses"] == flips["samples"]).all() and len(flips) == 1
