"""Nothing lost in the move: the golden scenarios' distributions match the baseline's.

``reference.json`` was recorded by ``record_reference.py`` on the baseline commit (the
model before its layers became SimPy processes); each scenario here runs the current
code on other seeds and every check of ``harness.compare`` must pass.
"""

from __future__ import annotations

import json
import tomllib

import numpy as np
import pytest
from harness import (
    REFERENCE,
    SCENARIOS,
    TEST_SEEDS,
    compare,
    design_effects,
    observe,
    read_reference,
    scenario_names,
)

import rassim

REFERENCE_DATA = read_reference()


def test_every_golden_scenario_has_a_reference() -> None:
    assert json.loads(REFERENCE.read_text())["baseline"]
    assert scenario_names() == sorted(REFERENCE_DATA)
    assert len(scenario_names()) >= 7


@pytest.mark.parametrize("name", scenario_names())
def test_distributions_match_the_baseline(name: str) -> None:
    checks = compare(REFERENCE_DATA[name], observe(name, TEST_SEEDS))
    failed = [f"{c.name}: {c.detail}" for c in checks if not c.passed]
    assert not failed, "\n".join(failed)


def test_design_effects_pool_the_spread_within_each_sample() -> None:
    # Two runs of 4 events with shares 1/4 and 3/4: a between-run variance of the pooled
    # share of 2 * 2 / 8**2 = 1/16, twice the binomial 0.25 / 8.
    reference = np.array([[1, 3], [3, 1]])
    assert design_effects(reference) == pytest.approx([2, 2])
    # A sample with another share but no spread of its own adds no variance (each sample
    # is centred on its own share): 4/2 * 2 / 16**2 over 0.75 * 0.25 / 16.
    shifted = np.array([[4, 0], [4, 0]])
    assert design_effects(reference, shifted) == pytest.approx([4 / 3, 4 / 3])


CHANGED_MODELS = {
    # a CPU raising an SError for 10% of consumptions instead of 5%
    "serror-fallback": ("cpu", "p_sync", 0.90),
    # host memory_failure() taking 25 us instead of 20 us
    "exit-to-user-firmware-first": ("hypervisor", "memory_failure", "25us"),
}


@pytest.mark.parametrize("name", CHANGED_MODELS)
def test_the_comparison_sees_a_changed_model(name: str) -> None:
    section, key, value = CHANGED_MODELS[name]
    data = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    data[section][key] = value
    changed = rassim.Scenario.model_validate(data)
    checks = compare(REFERENCE_DATA[name], observe(name, TEST_SEEDS, changed))
    assert any(not c.passed for c in checks)
