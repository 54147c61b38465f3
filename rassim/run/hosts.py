"""A group of hosts simulated in one process, each on its own event queue, into one
:class:`Part`: the group's tables and its share of the run's summary.

This is what a worker runs, locally or on a Dask cluster: it takes plain, picklable
arguments and returns the group's tables and a small
:class:`~rassim.results.metrics.Tally`. A group run in the process that gathers the run
leaves its tables as the DataFrames they were built as; a worker turns them into Arrow
tables (which cross process and network boundaries as buffers, and which the run writes
to parquet as they are). Everything that needs only the group's own tables, the
conservation checks and the per-host tallies, is done here, where the group ran, so
that the process gathering the groups does not redo it on the whole fleet.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeAlias

import numpy as np
import pandas as pd
import pyarrow as pa

from rassim.model import sources, tables
from rassim.model.host import Host
from rassim.model.ledger import LedgerError, RunLedger
from rassim.model.memory import MemoryMap, host_poison_bytes
from rassim.model.outcomes import UeState
from rassim.results.metrics import Exposure, Tally, tally
from rassim.scenario import Scenario
from rassim.sim.channel import HopLog, Network
from rassim.sim.environment import Environment
from rassim.sim.streams import Streams, root_sequence

TABLES = ("errors", "ues", "hops", "vms", "faults")  # the tables of a run (MODEL 9)
Seed = int | np.random.SeedSequence
Table: TypeAlias = pd.DataFrame | pa.Table  # a table as built, or as sent from another process


@dataclass
class Part:
    """The tables of a group of hosts (UE and error ids count from 0 within the group)
    and the group's :class:`~rassim.results.metrics.Tally`."""

    hosts: range
    tables: dict[str, Table]
    tally: Tally


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


def simulate_group(
    scenario: Scenario,
    seed: Seed,
    hosts: range,
    progress: Callable[[int], None] | None = None,
    arrow: bool = False,
) -> Part:
    """Run each host of ``hosts`` on its own event queue, one after the other, and check
    and tabulate what they did; ``progress(1)`` after each host. The tables are
    DataFrames, or Arrow tables if ``arrow`` (a part to send to another process)."""
    with _cyclic_gc_paused():
        frames, panics = _tabulate_hosts(scenario, seed, hosts, progress)
    check_ues(frames["ues"], frames["errors"])
    share = tally(
        frames["errors"], frames["ues"], frames["vms"], frames["faults"], exposure(scenario), hosts
    )
    if share.per_host["host_panics"].sum() != panics:
        counted = share.per_host["host_panics"].sum()
        raise LedgerError(f"{panics} host panics but {counted} in the error table")
    tables: dict[str, Table] = {}
    for name in TABLES:
        frame = frames.pop(name)  # not held once converted
        tables[name] = to_arrow(frame) if arrow else frame
    return Part(hosts, tables, share)


def to_arrow(table: Table) -> pa.Table:
    """``table`` as an Arrow table (its pandas types kept in the schema's metadata)."""
    if isinstance(table, pa.Table):
        return table
    return pa.Table.from_pandas(table, preserve_index=False)


def _tabulate_hosts(
    scenario: Scenario, seed: Seed, hosts: range, progress: Callable[[int], None] | None
) -> tuple[dict[str, pd.DataFrame], int]:
    """The tables of ``hosts``, run one after the other, and their host panics."""
    # What depends on the scenario or the seed alone is made once for all the hosts.
    memory_map = MemoryMap(scenario)
    listed = sources.Listed.of(scenario.memory, hosts)
    root = root_sequence(seed)
    log = HopLog(enabled=scenario.record_hops)
    ledger = RunLedger()
    ue_ids = itertools.count()
    ues: list[tuple] = []
    vms: list[tuple] = []
    faults: list[tuple] = []
    panics = 0
    for index in hosts:
        host = _run_host(scenario, memory_map, listed, root, index, log, ledger, ue_ids, faults)
        ledger.check()
        ues += tables.ue_rows(host.memory.ues)
        vms += tables.vm_rows(host, scenario.duration)
        panics += host.panics
        del host
        gc.collect(0)  # the host, held in reference cycles (see _cyclic_gc_paused)
        if progress is not None:
            progress(1)
    frames = {
        "errors": tables.errors_frame(ledger.rows),
        "ues": tables.ues_frame(ues, host_poison_bytes(scenario)),
        "hops": tables.hops_frame(log),
        "vms": tables.vms_frame(vms),
        "faults": tables.faults_frame(faults),
    }
    return frames, panics


def describe(hosts: range) -> str:
    """``host 7`` or ``hosts 64 to 127``."""
    return f"hosts {hosts.start} to {hosts.stop - 1}" if len(hosts) > 1 else f"host {hosts.start}"


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A run allocates millions of small, long-lived, acyclic objects (pages, events, rows);
    the cyclic collector would rescan all of them over and over. Reference counting still
    frees everything a run drops, but for a finished host itself: its processes wait on
    their inboxes, its layers hold their channels and bound methods, all in reference
    cycles. The group collects each host's from the young generation as soon as its rows
    are taken, while they are few and still in the CPU's caches (0.6 ms a host of the
    fleet benchmark, against 2.1 ms collected once per 64-host group); left for later,
    promoted, they would wait for a full collection and grow a worker's memory."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _run_host(
    scenario: Scenario,
    memory_map: MemoryMap,
    listed: sources.Listed,
    root: np.random.SeedSequence,
    index: int,
    log: HopLog,
    ledger: RunLedger,
    ue_ids: itertools.count,
    faults: list[tuple],
) -> Host:
    """Build host ``index`` of ``scenario`` (whose ``memory_map`` and ``listed`` UEs it
    shares) with its UE sources, its streams spawned from ``root``, and run it to the end."""
    env = Environment()
    streams = Streams(root)
    horizon = scenario.duration
    host = Host(env, index, scenario, memory_map, Network(env, streams, log), ledger, horizon)
    setup = sources.Setup(
        env,
        index,
        host.memory,
        scenario.memory,
        listed,
        lambda name: streams.draws(f"{host.name}.{name}"),
        ue_ids,
        horizon,
        faults,
    )
    env.process(sources.SOURCES[scenario.memory.source](setup))
    env.process(sources.injections(setup))
    env.run()
    host.memory.finish()
    for vm in host.vms:
        vm.workload.finish()
    return host


def check_ues(ues: pd.DataFrame, errors: pd.DataFrame) -> None:
    """Every UE has one final state, and every event belongs to a known UE."""
    states = {s.value for s in UeState}
    if not ues["state"].isin(states).all():
        raise LedgerError("a UE has no final state")
    ids = pd.Index(ues["ue_id"])
    if not ids.is_unique:
        raise LedgerError("a UE was recorded twice")
    row = ids.get_indexer(errors["ue_id"])  # each event's UE (-1: none)
    if (row < 0).any():
        unknown = np.unique(errors["ue_id"].to_numpy()[row < 0]).tolist()
        raise LedgerError(f"events refer to unknown UEs: {unknown[:10]}")
    counted = np.bincount(row, minlength=len(ids))
    if not np.array_equal(counted, ues["events"].to_numpy()):
        raise LedgerError("the events recorded per UE do not match the ledger")
