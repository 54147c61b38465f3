"""Indices through the whole machinery (file, designs, sweep execution, SALib) with the
Ishigami function standing in for the simulator: closed-form values, a dummy at zero."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sensitivity_studies import DUMMY_KEY, ISHIGAMI, ISHIGAMI_KEYS, ishigami, ishigami_indices

from rassim.sensitivity.design import load_study
from rassim.sensitivity.execute import sensitivity


@pytest.fixture(scope="module")
def ishigami_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("ishigami")
    path = directory / "ishigami.toml"
    path.write_text(ISHIGAMI)
    study = load_study(path, known_metrics=("ishigami",))
    out = directory / "out"
    outcome = sensitivity(study, out, progress=False, evaluate=ishigami)
    assert outcome.complete and outcome.total("failed") == 0
    return out


def _indices(out: Path, method: str) -> pd.DataFrame:
    table = pd.read_parquet(out / "indices.parquet")
    return table[table["method"] == method].set_index(["parameter", "index"])


def test_sobol_indices_of_ishigami_cover_the_closed_form(ishigami_run: Path) -> None:
    table = _indices(ishigami_run, "sobol")
    for key, (s1, st) in ishigami_indices().items():
        for index, truth in (("S1", s1), ("ST", st)):
            row = table.loc[(key, index)]
            assert row["ci_low"] <= truth <= row["ci_high"], (key, index, row.to_dict(), truth)
            # the intervals are informative, not a licence to pass
            assert row["ci_high"] - row["ci_low"] < 0.45, (key, index)
    ranks = table.xs("ST", level="index")["rank"]
    assert ranks.sort_values().index.tolist() == [*ISHIGAMI_KEYS, DUMMY_KEY]


def test_a_parameter_the_metric_ignores_gets_zero(ishigami_run: Path) -> None:
    """On common random numbers the cross-sampled rows differ only in the dummy, so its
    indices are exactly zero, intervals included (Sobol and Morris alike)."""
    sobol, morris = _indices(ishigami_run, "sobol"), _indices(ishigami_run, "morris")
    for table, index in ((sobol, "S1"), (sobol, "ST"), (morris, "mu_star")):
        row = table.loc[(DUMMY_KEY, index)]
        assert (row["value"], row["ci_low"], row["ci_high"]) == (0.0, 0.0, 0.0)
    for key in ISHIGAMI_KEYS:
        assert morris.loc[(key, "mu_star"), "ci_low"] > 0


def test_tables_hold_one_row_per_run_and_sample(ishigami_run: Path) -> None:
    runs = pd.read_parquet(ishigami_run / "runs.parquet")
    samples = pd.read_parquet(ishigami_run / "samples.parquet")
    d = len(ISHIGAMI_KEYS) + 1
    assert len(samples) == 10 * (d + 1) + 512 * (d + 2) == len(runs)
    assert runs["run_id"].tolist() == list(range(len(runs)))
    assert (runs["status"] == "ok").all()
    # the Sobol A and B rows are the verdict's independent samples
    sobol = samples[samples["method"] == "sobol"]
    assert sobol["verdict"].sum() == 2 * 512
    assert set(sobol.loc[sobol["verdict"], "role"]) == {"A", "B"}
    # every value is the Ishigami function of the tabulated parameters
    x = -np.pi + 2 * np.pi * samples[["cpu_p_sync", "firmware_p_record", "guest_p_interrupt"]]
    x1, x2, x3 = (x[c].to_numpy() for c in x.columns)
    expected = np.sin(x1) + 7 * np.sin(x2) ** 2 + 0.1 * x3**4 * np.sin(x1)
    np.testing.assert_allclose(samples["ishigami"], expected)
