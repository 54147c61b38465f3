"""Replications of one scenario: their seeds, their runs and the statistics over them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from rassim.results.stats import mean_ci
from rassim.run import RunResult, simulate
from rassim.scenario import Scenario


def replication_seeds(seed: int, replications: int) -> list[np.random.SeedSequence]:
    """Replication ``i`` always gets child ``i`` of ``SeedSequence(seed)``, whatever R is."""
    return np.random.SeedSequence(seed).spawn(replications)


def run_replications(
    scenario: Scenario,
    seed: int,
    replications: int,
    progress: Callable[[int], None] | None = None,
    workers: int = 1,
) -> list[RunResult]:
    results = []
    for index, seed_sequence in enumerate(replication_seeds(seed, replications)):
        results.append(simulate(scenario, seed=seed_sequence, workers=workers))
        if progress is not None:
            progress(index + 1)
    return results


def aggregate(summaries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean, sd and 95% CI of every numeric metric over replications."""
    table: dict[str, dict[str, float]] = {}
    for key, first in summaries[0].items():
        if isinstance(first, bool) or not isinstance(first, int | float):
            continue
        mean, sd, low, high = mean_ci([s[key] for s in summaries])
        table[key] = {"mean": mean, "sd": sd, "ci_low": low, "ci_high": high}
    return table
