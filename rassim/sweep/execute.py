"""Run an experiment: every point x replication, in parallel, resumable, one tidy row each.

Runs go to a local process pool (default: one worker per core) or, with a scheduler
address, to a Dask distributed cluster. A worker gets plain data (the resolved scenario,
its seed and the tables to keep) and returns plain data; a run that raises becomes a
failed row and the sweep goes on.

Each finished run is stored at once in ``DIR/.runs`` (:mod:`rassim.sweep.store`) under a
fingerprint of its resolved scenario, seed and rassim's source, so rerunning the same
command skips finished runs, and rerunning an *edited* experiment reuses every run whose
scenario and seed did not change and computes the rest. Failed runs are not stored: a
rerun retries them. The final tables are written only when every run has a result (see
:mod:`rassim.sweep.tables`).
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Generator
from concurrent.futures import ProcessPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rassim.interrupts import as_completed_checked, deferred_interrupts
from rassim.run import worker_setup
from rassim.run.executors import check_scheduler, cluster_threads, connect
from rassim.sweep.experiment import Experiment, Run
from rassim.sweep.store import Record, RunStore, claim

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from rassim.scenario import Scenario


Evaluate = Callable[
    ["Scenario", "np.random.SeedSequence", tuple[str, ...]],
    tuple[dict[str, Any], dict[str, "pd.DataFrame"]],
]
"""What a run computes: (scenario, seed, tables to keep) -> (summary, kept tables)."""


def simulate_run(
    scenario: Scenario, seed: np.random.SeedSequence, keep: tuple[str, ...]
) -> tuple[dict[str, Any], dict[str, pd.DataFrame]]:
    """The simulator (:func:`rassim.run.simulate`): a run's summary and kept event tables."""
    from rassim import run as run_module

    result = run_module.simulate(scenario, seed=seed)
    return result.summary, {name: getattr(result, name) for name in keep}


def run_task(task: Record, evaluate: Evaluate = simulate_run) -> Record:
    """Worker side: evaluate one run from plain data and return plain data; never raises.
    ``evaluate`` is the simulator, or a stand-in with the same signature (a module-level
    function, so that it pickles by name)."""
    started = time.perf_counter()
    try:
        import numpy as np

        from rassim.scenario import Scenario

        scenario = Scenario.model_validate(task["scenario"])
        seed = np.random.SeedSequence(task["entropy"], spawn_key=tuple(task["spawn_key"]))
        summary, tables = evaluate(scenario, seed, tuple(task["keep"]))
        return {
            "fingerprint": task["fingerprint"],
            "status": "ok",
            "error": None,
            "wall_s": time.perf_counter() - started,
            "summary": summary,
            "tables": tables,
        }
    except Exception as error:
        return failed(task, error, time.perf_counter() - started)


def failed(task: Record, error: BaseException, wall_s: float = math.nan) -> Record:
    """A failed run's record: the error as one line, with where it was raised."""
    frames = traceback.extract_tb(error.__traceback__)
    where = f" (at {Path(frames[-1].filename).name}:{frames[-1].lineno})" if frames else ""
    message = " ".join(str(error).split()) or "(no message)"
    return {
        "fingerprint": task["fingerprint"],
        "status": "failed",
        "error": f"{type(error).__name__}: {message}{where}",
        "wall_s": wall_s,
        "summary": {},
        "tables": {},
    }


@dataclass
class SweepOutcome:
    """What :func:`execute` did: every run's record (complete unless stopped by a limit)."""

    records: dict[int, Record] = field(default_factory=dict)
    computed: int = 0
    reused: int = 0
    failed: int = 0
    workers: int = 1
    wall_s: float = 0.0

    def complete(self, experiment: Experiment) -> bool:
        return len(self.records) == len(experiment.runs)


def execute(
    experiment: Experiment,
    out: Path,
    workers: int = 1,
    scheduler: str | None = None,
    limit: int | None = None,
    progress: bool = True,
    evaluate: Evaluate = simulate_run,
) -> SweepOutcome:
    """Run every run of ``experiment`` not already stored in ``out/.runs``, each with
    ``evaluate`` (the simulator unless a stand-in is given)."""
    started = time.perf_counter()
    store = RunStore(out / ".runs")
    outcome = SweepOutcome()
    todo = []
    for run in experiment.runs:
        record = store.load(run, experiment.keep)
        if record is None:
            todo.append(run)
        else:
            outcome.records[run.run_id] = record
            outcome.reused += 1
    if limit is not None:
        todo = todo[:limit]
    # runs with one fingerprint (same scenario and seed: a sensitivity design may repeat
    # a sample) are computed once
    by_fingerprint: dict[str, list[Run]] = {}
    for run in todo:
        by_fingerprint.setdefault(run.fingerprint, []).append(run)
    tasks = [_task(runs[0], experiment.keep) for runs in by_fingerprint.values()]
    if scheduler is not None and tasks:
        results, outcome.workers = _distributed(tasks, scheduler, evaluate)
    else:
        outcome.workers = max(1, min(workers, len(tasks)))
        results = _local(tasks, outcome.workers, evaluate)
    bar = _bar(experiment, outcome.reused, progress)
    bar.set_postfix(failed=0)
    with closing(results), bar:
        for result in results:
            runs = by_fingerprint[result["fingerprint"]]
            record = store.save(result) if result["status"] == "ok" else result
            for run in runs:
                outcome.records[run.run_id] = record
            if result["status"] != "ok":
                outcome.failed += len(runs)
                bar.set_postfix(failed=outcome.failed)
            outcome.computed += len(runs)
            bar.update(len(runs))
    outcome.wall_s = time.perf_counter() - started
    return outcome


def _task(run: Run, keep: tuple[str, ...]) -> Record:
    return {
        "fingerprint": run.fingerprint,
        "scenario": run.point.data,
        "entropy": run.entropy,
        "spawn_key": list(run.spawn_key),
        "keep": list(keep),
    }


def _bar(experiment: Experiment, done: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=len(experiment.runs),
        initial=done,
        desc=experiment.name,
        unit="run",
        file=sys.stderr,
        disable=None if enabled else True,  # None: only on a terminal
        dynamic_ncols=True,
    )


def _local(tasks: list[Record], workers: int, evaluate: Evaluate) -> Generator[Record, None, None]:
    """Results in completion order; one worker runs in this process (no pool)."""
    if workers == 1:
        for task in tasks:
            yield run_task(task, evaluate)
        return
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(_preload(Path.cwd()))
    with deferred_interrupts() as held:  # a signal inside the pool's bookkeeping hangs it
        pool = ProcessPoolExecutor(
            workers, mp_context=context, initializer=worker_setup, initargs=(os.getpid(),)
        )
        pending = {pool.submit(run_task, task, evaluate): task for task in tasks}
        try:
            for future in as_completed_checked(set(pending), held):
                task = pending.pop(future)
                try:
                    record = future.result()
                except Exception as error:  # the worker process died (BrokenProcessPool)
                    record = failed(task, error)
                yield record
        finally:
            pool.shutdown(wait=not pending, cancel_futures=True)


def _preload(directory: Path) -> list[str]:
    """The modules the forkserver imports once for all the workers it forks: none if
    ``directory`` holds another rassim. The forkserver runs ``python -c``, so the working
    directory comes first on its path (Python 3.11 does not give it the parent's
    ``sys.path``): it would import that rassim, and the workers would run it, or fail."""
    ours = Path(__file__).resolve().parents[1]
    for theirs in (directory / "rassim" / "__init__.py", directory / "rassim.py"):
        if theirs.exists() and theirs.resolve().parent != ours:
            return []
    return ["rassim.sweep.execute", "rassim.run"]


def _distributed(
    tasks: list[Record], address: str, evaluate: Evaluate
) -> tuple[Generator[Record, None, None], int]:
    """Submit every run to the Dask cluster at ``address``; results as they complete."""
    client = connect(address)
    return _collect(client, tasks, evaluate), cluster_threads(client)


def _collect(client, tasks: list[Record], evaluate: Evaluate) -> Generator[Record, None, None]:
    from distributed import as_completed

    pending = {client.submit(run_task, task, evaluate, pure=False): task for task in tasks}
    try:
        for future in as_completed(list(pending), loop=client.loop):
            task = pending.pop(future)
            try:
                yield future.result()
            except Exception as error:  # lost worker, rassim missing on a worker, ...
                yield failed(task, error)
    finally:
        if pending:
            client.cancel(list(pending))
        client.close()


def sweep(
    experiment: Experiment,
    out: Path,
    workers: int = 1,
    scheduler: str | None = None,
    limit: int | None = None,
    progress: bool = True,
    argv: list[str] | None = None,
    csv: bool = False,
) -> SweepOutcome:
    """Run ``experiment`` into ``out`` (resuming from ``out/.runs``) and, once every run
    has a result, write the final tables there atomically (also as CSV with ``csv``)."""
    from rassim.sweep.tables import final_files, meta, write_final

    out = Path(out)
    if scheduler is not None:
        check_scheduler(scheduler)
    with claim(out, experiment.name):
        outcome = execute(experiment, out, workers, scheduler, limit, progress)
        if outcome.complete(experiment):
            store = RunStore(out / ".runs")
            files = final_files(
                experiment,
                outcome.records,
                store.table,
                meta(experiment, outcome, scheduler, argv if argv is not None else sys.argv),
                csv,
            )
            write_final(out, files)
    return outcome
