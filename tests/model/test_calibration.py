"""Defaults calibrated to field data (docs/calibration.md): a default fleet, with no preset
and no acceleration, run for a year, lands inside the published field ranges.

A figure passes when its exact 99% interval meets the published range; 3,000 hosts make
the interval of the share of servers with a UE about +-0.55 points wide, narrow enough to
reject a UE rate three times too low or five times too high (the second test shows it).
"""

from __future__ import annotations

from typing import Any

import pytest

import rassim
from rassim.results.calibration import PUBLISHED, FieldFigure, field_figures
from rassim.scenario import Scenario

HOSTS = 3000


def _figures(**memory: Any) -> dict[str, FieldFigure]:
    scenario = Scenario.model_validate(
        {
            "fleet": {"hosts": HOSTS},
            "duration": "365d",
            "record_hops": False,
            "memory": memory,
        }
    )
    result = rassim.simulate(scenario, seed=16)
    return {figure.published.name: figure for figure in field_figures(result)}


def _show(figure: FieldFigure) -> str:
    p = figure.published
    return (
        f"{p.label}: {figure.value:.4%} [{figure.ci_low:.4%}, {figure.ci_high:.4%}] "
        f"vs published [{p.low:.4%}, {p.high:.4%}]"
    )


def test_default_fleet_lands_inside_the_published_ranges() -> None:
    figures = _figures()
    assert set(figures) == set(PUBLISHED)
    for figure in figures.values():
        assert figure.consistent, _show(figure)


@pytest.mark.parametrize("factor", [1 / 3, 5], ids=["third", "fivefold"])
def test_the_ranges_reject_a_miscalibrated_ue_rate(factor: float) -> None:
    rate = Scenario().memory.ue_rate * factor
    figure = _figures(ue_rate=f"{rate:g}/GiB/h")["servers_with_ue"]
    assert not figure.consistent, _show(figure)
