"""Run one scenario: build the fleet, simulate, check conservation, tabulate (MODEL 9)."""

from __future__ import annotations

import gc
import itertools
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rassim.interrupts import as_completed_checked, deferred_interrupts
from rassim.model import sources, tables
from rassim.model.host import Host
from rassim.model.ledger import LedgerError, RunLedger
from rassim.model.memory import host_poison_bytes
from rassim.model.outcomes import UeState
from rassim.results.metrics import Exposure, summarise
from rassim.scenario import Scenario
from rassim.sim.channel import HopLog, Network
from rassim.sim.environment import Environment
from rassim.sim.streams import Streams


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
    seed: int | np.random.SeedSequence = 0,
    workers: int = 1,
    progress: Callable[[int], None] | None = None,
) -> RunResult:
    """Simulate ``scenario`` (default: ``Scenario()``) with random streams from ``seed``.

    Hosts never interact, so each runs on its own event queue, and groups of hosts can
    run in ``workers`` processes. The result does not depend on ``workers``: every
    component draws from the stream of its own name, and UE and error ids are numbered
    in time order across the fleet (ties by host) once all hosts are done. Workers are
    spawned processes: a script that asks for them runs under ``if __name__ ==
    "__main__":``, as with any ``multiprocessing`` pool. ``progress(n)`` is told each time
    ``n`` more hosts are done (one at a time, or a group from a worker).
    """
    scenario = scenario if scenario is not None else Scenario()
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    started = time.perf_counter()
    groups = _host_groups(scenario.fleet.hosts, workers)
    if workers == 1 or len(groups) == 1:
        parts = [_simulate_hosts(scenario, seed, group, progress) for group in groups]
    else:
        parts = _in_workers(scenario, seed, groups, workers, progress)
    vms = pd.concat([part.vms for part in parts], ignore_index=True)
    faults = pd.concat([part.faults for part in parts], ignore_index=True)
    panics = sum(part.host_panics for part in parts)
    errors, ues, hops = _number_in_time_order(parts)  # empties ``parts``: big fleets
    _check_ues(ues, errors)
    summary = summarise(errors, ues, vms, faults, exposure(scenario))
    if summary["host_panics"] != panics:
        raise LedgerError(f"{panics} host panics but {summary['host_panics']} in the error table")
    return RunResult(
        scenario=scenario,
        seed=seed,
        errors=errors,
        ues=ues,
        vms=vms,
        faults=faults,
        hops=hops,
        summary=summary,
        wall_s=time.perf_counter() - started,
    )


def _in_workers(
    scenario: Scenario,
    seed: int | np.random.SeedSequence,
    groups: list[range],
    workers: int,
    progress: Callable[[int], None] | None,
) -> list[_Part]:
    """Every group in a pool of spawned processes; the parts in group order. Ctrl-C and
    SIGTERM are held while the pool is set up and let through between waits, so they
    never land inside its bookkeeping; pending groups are then cancelled."""
    context = multiprocessing.get_context("spawn")  # workers are our children: no fork
    with deferred_interrupts() as held:
        pool = ProcessPoolExecutor(
            min(workers, len(groups)),
            mp_context=context,
            initializer=worker_setup,
            initargs=(os.getpid(),),
        )
        try:
            futures = {
                pool.submit(_simulate_hosts, scenario, seed, g): i for i, g in enumerate(groups)
            }
            parts: dict[int, _Part] = {}
            for future in as_completed_checked(set(futures), held):
                parts[futures[future]] = future.result()
                if progress is not None:
                    progress(len(groups[futures[future]]))
        finally:
            pool.shutdown(cancel_futures=True)
    return [parts[i] for i in range(len(groups))]


def worker_setup(owner: int) -> None:
    """Initializer of a worker process: Ctrl-C and SIGTERM are left to the pool's
    ``owner``, which stops the pool cleanly (pending work is cancelled, running work
    finishes), and the worker exits once the owner is gone (it would otherwise wait for
    work forever), even if the owner died while the worker was starting."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    parent = os.getppid()  # the owner, or a forkserver that exits with it

    def watch() -> None:
        while os.getppid() == parent and _running(owner):  # orphans are reparented
            time.sleep(1.0)
        os._exit(1)

    threading.Thread(target=watch, name="rassim-owner-watch", daemon=True).start()


def _running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (dead, not yet reaped)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[0] != b"Z"
    except OSError:  # no /proc: trust kill()
        return True


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A run allocates millions of small, long-lived, acyclic objects (pages, events, rows);
    the cyclic collector would rescan all of them over and over. Reference counting still
    frees everything a run drops; cycles wait until the collector is back."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


_GROUP_HOSTS = 64  # hosts simulated between two table builds (bounds a worker's memory)


def _host_groups(hosts: int, workers: int) -> list[range]:
    """Hosts in consecutive groups: enough groups to keep every worker busy."""
    size = _GROUP_HOSTS if workers == 1 else max(1, min(_GROUP_HOSTS, -(-hosts // (4 * workers))))
    return [range(first, min(first + size, hosts)) for first in range(0, hosts, size)]


@dataclass
class _Part:
    """The tables of a group of hosts; UE and error ids count from 0 within the group."""

    errors: pd.DataFrame
    ues: pd.DataFrame
    hops: pd.DataFrame
    vms: pd.DataFrame
    faults: pd.DataFrame
    host_panics: int


def _simulate_hosts(
    scenario: Scenario,
    seed: int | np.random.SeedSequence,
    hosts: range,
    progress: Callable[[int], None] | None = None,
) -> _Part:
    """Run each host of ``hosts`` on its own event queue, one after the other."""
    with _cyclic_gc_paused():
        log = HopLog(enabled=scenario.record_hops)
        ledger = RunLedger()
        ue_ids = itertools.count()
        ues: list = []
        vms: list = []
        faults: list[tuple] = []
        panics = 0
        for index in hosts:
            host = _run_host(scenario, seed, index, log, ledger, ue_ids, faults)
            ledger.check()
            ues += host.memory.ues
            vms += tables.vm_rows(host, scenario.duration)
            panics += host.panics
            if progress is not None:
                progress(1)
        return _Part(
            errors=tables.errors_frame(ledger.rows),
            ues=tables.ues_frame(ues, host_poison_bytes(scenario)),
            hops=tables.hops_frame(log),
            vms=tables.vms_frame(vms),
            faults=tables.faults_frame(faults),
            host_panics=panics,
        )


def _run_host(
    scenario: Scenario,
    seed: int | np.random.SeedSequence,
    index: int,
    log: HopLog,
    ledger: RunLedger,
    ue_ids: itertools.count,
    faults: list[tuple],
) -> Host:
    """Build host ``index`` with its UE sources and run it to the end."""
    env = Environment()
    streams = Streams(seed)
    horizon = scenario.duration
    host = Host(env, index, scenario, Network(env, streams, log), ledger, horizon)
    setup = sources.Setup(
        env,
        index,
        host.memory,
        scenario.memory,
        lambda name: streams.draws(f"{host.name}.{name}"),
        ue_ids,
        horizon,
        faults,
    )
    env.process(sources.SOURCES[scenario.memory.source](setup))
    env.process(sources.injections(setup))
    env.run()
    for vm in host.vms:
        vm.workload.finish()
    return host


def _number_in_time_order(parts: list[_Part]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Concatenate the groups' tables (emptying ``parts`` as it goes, to hold one copy at a
    time); number UEs by creation time and errors by start time (ties by host, then by
    order within the host), whatever the grouping was."""
    ue_base = error_base = 0
    for part in parts:  # ids unique across groups first
        part.ues["ue_id"] += ue_base
        part.errors["ue_id"] += ue_base
        part.errors["error_id"] += error_base
        part.hops["error_id"] += error_base
        ue_base, error_base = ue_base + len(part.ues), error_base + len(part.errors)
    ues = _stack([part.ues for part in parts])
    errors = _stack([part.errors for part in parts])
    hops = _stack([part.hops for part in parts])
    parts.clear()
    ue_order, ue_number = _time_order(ues["created_ns"], ues["host"], ues["ue_id"])
    error_order, error_number = _time_order(
        errors["consumed_ns"], errors["host"], errors["error_id"]
    )
    host_of_error = errors["host"].to_numpy()[np.argsort(errors["error_id"].to_numpy())]
    hop_host = host_of_error[hops["error_id"].to_numpy()]
    ues["ue_id"] = ue_number[ues["ue_id"].to_numpy()]
    errors["ue_id"] = ue_number[errors["ue_id"].to_numpy()]
    errors["error_id"] = error_number[errors["error_id"].to_numpy()]
    hops["error_id"] = error_number[hops["error_id"].to_numpy()]
    # Delivery order across the fleet; simultaneous deliveries by host, then as they came.
    hop_order = np.lexsort((np.arange(len(hops)), hop_host, hops["delivered_ns"].to_numpy()))
    return _reorder(errors, error_order), _reorder(ues, ue_order), _reorder(hops, hop_order)


def _stack(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The frames one under the other, built a column at a time while the frames give
    theirs up, so a big fleet's tables exist about once, not twice."""
    names = list(frames[0].columns)
    columns = {name: pd.concat([f.pop(name) for f in frames], ignore_index=True) for name in names}
    return pd.DataFrame(columns, copy=False)


def _reorder(frame: pd.DataFrame, order: np.ndarray) -> pd.DataFrame:
    """``frame``'s rows in ``order``, a column at a time (the same economy as ``_stack``)."""
    names = list(frame.columns)
    columns = {name: frame.pop(name).array.take(order) for name in names}
    return pd.DataFrame(columns, copy=False)


def _time_order(
    time_ns: pd.Series, host: pd.Series, ids: pd.Series
) -> tuple[np.ndarray, np.ndarray]:
    """The rows sorted by (time, host, id), and ``number[id]``: each row's place in it."""
    key = ids.to_numpy()
    order = np.lexsort((key, host.to_numpy(), time_ns.to_numpy()))
    number = np.empty(len(key), dtype=np.int64)
    number[key[order]] = np.arange(len(key))
    return order, number


def exposure(scenario: Scenario) -> Exposure:
    """The plain numbers the metrics need besides the tables."""
    return Exposure(
        duration_s=scenario.duration / 1e9,
        hosts=scenario.fleet.hosts,
        vms_per_host=scenario.fleet.vms_per_host,
        processes_per_vm=scenario.guest.processes,
        host_memory_bytes=scenario.memory.host_memory,
        work_rate=scenario.guest.work_rate,
        acceleration=scenario.memory.acceleration,
    )


def _check_ues(ues: pd.DataFrame, errors: pd.DataFrame) -> None:
    """Every UE has one final state, and every event belongs to a known UE."""
    states = {s.value for s in UeState}
    if not ues["state"].isin(states).all():
        raise LedgerError("a UE has no final state")
    if ues["ue_id"].duplicated().any():
        raise LedgerError("a UE was recorded twice")
    known = errors["ue_id"].isin(ues["ue_id"])
    if not known.all():
        unknown = sorted(set(errors.loc[~known, "ue_id"]))
        raise LedgerError(f"events refer to unknown UEs: {unknown[:10]}")
    counted = errors.groupby("ue_id").size().reindex(ues["ue_id"], fill_value=0).to_numpy()
    if not np.array_equal(counted, ues["events"].to_numpy()):
        raise LedgerError("the events recorded per UE do not match the ledger")
