"""Replications of one scenario: their seeds and their runs."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

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
