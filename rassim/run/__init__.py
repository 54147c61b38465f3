"""Run one scenario: build the fleet, simulate, check conservation, tabulate (MODEL 9).

Hosts never interact, so each runs on its own event queue, and a fleet run is a map over
groups of hosts (:mod:`rassim.run.hosts`) run here, in a local pool of processes, or on
a Dask cluster (:mod:`rassim.run.executors`), whose tables are gathered into the run's
as the groups finish (:mod:`rassim.run.parts`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rassim.results.metrics import summary
from rassim.run import executors
from rassim.run.executors import Progress, worker_setup
from rassim.run.hosts import Seed, exposure
from rassim.run.parts import Parts, merge
from rassim.scenario import Scenario

__all__ = ["RunResult", "exposure", "host_groups", "simulate", "worker_setup"]


@dataclass
class RunResult:
    """Everything one run produced: the tables of MODEL 9 and the resolved scenario."""

    scenario: Scenario
    seed: int | np.random.SeedSequence
    errors: pd.DataFrame
    ues: pd.DataFrame
    vms: pd.DataFrame
    faults: pd.DataFrame
    hops: pd.DataFrame
    summary: dict[str, Any]
    wall_s: float = field(default=0.0)


def simulate(
    scenario: Scenario | None = None,
    seed: Seed = 0,
    workers: int = 1,
    progress: Progress | None = None,
    scheduler: str | None = None,
) -> RunResult:
    """Simulate ``scenario`` (default: ``Scenario()``) with random streams from ``seed``.

    Groups of hosts run in this process (``workers=1``), in ``workers`` spawned
    processes, or, given a ``scheduler`` address (``tcp://HOST:PORT``), as tasks on that
    Dask distributed cluster, whose workers need rassim installed. The result does not
    depend on where or in what order the groups ran: every component draws from the
    stream of its own name, and UE and error ids are numbered in time order across the
    fleet (ties by host) once all hosts are done. ``progress(n)`` is told each time
    ``n`` more hosts are done (one at a time here, a group at a time elsewhere). Local
    workers are spawned processes: a script that asks for them runs under ``if __name__
    == "__main__":``, as with any ``multiprocessing`` pool.
    """
    scenario = scenario if scenario is not None else Scenario()
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    started = time.perf_counter()
    hosts = scenario.fleet.hosts
    if scheduler is not None:
        client = executors.connect(scheduler)
        try:
            groups = host_groups(hosts, executors.cluster_threads(client))
            parts = _gather(executors.on_cluster(client, scenario, seed, groups, progress), groups)
        finally:
            client.close()
    else:
        groups = host_groups(hosts, workers)
        if workers == 1 or len(groups) == 1:
            done = executors.in_process(scenario, seed, groups, progress)
        else:
            done = executors.local_pool(scenario, seed, groups, workers, progress)
        parts = _gather(done, groups)
    try:
        run = parts.tally()
        tables = merge(parts)
    finally:
        parts.close()
    return RunResult(
        scenario=scenario,
        seed=seed,
        **tables,
        summary=summary(run, tables["errors"]["latency_ns"], exposure(scenario)),
        wall_s=time.perf_counter() - started,
    )


def _gather(done: executors.Done, groups: list[range]) -> Parts:
    """The parts of every group, as they finish: spilled to parquet if more than one."""
    parts = Parts(groups)
    try:
        for index, part in done:
            parts.add(index, part)
    except BaseException:
        parts.close()
        raise
    return parts


_GROUP_HOSTS = 64  # hosts simulated between two table builds (bounds a worker's memory)


def host_groups(hosts: int, workers: int) -> list[range]:
    """Hosts in consecutive groups: enough groups to keep every worker busy."""
    size = _GROUP_HOSTS if workers == 1 else max(1, min(_GROUP_HOSTS, -(-hosts // (4 * workers))))
    return [range(first, min(first + size, hosts)) for first in range(0, hosts, size)]
