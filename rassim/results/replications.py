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
    scheduler: str | None = None,
) -> list[RunResult]:
    """Every replication, in order, on ``workers`` local processes or on the Dask
    cluster at ``scheduler``; ``progress(n)``: ``n`` more hosts are done."""
    return [
        simulate(scenario, seed_sequence, workers, progress, scheduler)
        for seed_sequence in replication_seeds(seed, replications)
    ]
