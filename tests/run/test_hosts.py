"""A worker's group of hosts leaves nothing behind: each host's objects in reference
cycles are freed as soon as the host is done, not whenever a full collection comes; and
what its hosts share (what depends on the scenario alone) none of them changes."""

from __future__ import annotations

import gc
import itertools
import pickle
import weakref

import rassim
from rassim.model.host import Host
from rassim.model.ledger import RunLedger
from rassim.model.memory import MemoryMap
from rassim.model.sources import Listed
from rassim.run.hosts import _run_host, simulate_group
from rassim.sim.channel import HopLog
from rassim.sim.streams import root_sequence

GROUP = rassim.Scenario.model_validate(
    {
        "duration": "30d",
        "fleet": {"hosts": 4, "vms_per_host": 2},
        "memory": {"source": "faults", "ecc": "secded", "acceleration": 100},
    }
)


def _hosts_alive() -> int:
    return sum(isinstance(o, Host) for o in gc.get_objects())


def test_each_host_is_freed_once_done() -> None:
    gc.collect()
    enabled = gc.isenabled()
    gc.disable()  # no collection but the group's own: what it leaves is what a worker keeps
    alive: list[int] = []
    try:
        part = simulate_group(GROUP, 1, range(4), progress=lambda _: alive.append(_hosts_alive()))
    finally:
        if enabled:
            gc.enable()
    assert alive == [0, 0, 0, 0]
    assert len(part.tables["vms"]) == 8 and gc.isenabled() == enabled


def test_a_finished_host_waits_for_the_collector() -> None:
    """Why the group collects: reference counting alone does not free a finished host
    (if that changes, the collection can go)."""
    gc.collect()
    gc.disable()
    try:
        host = _run_host(
            GROUP,
            MemoryMap(GROUP),
            Listed.of(GROUP.memory, range(1)),
            root_sequence(1),
            0,
            HopLog(enabled=False),
            RunLedger(),
            itertools.count(),
            [],
        )
        left = weakref.ref(host)
        del host
        assert left() is not None
        gc.collect(0)
        assert left() is None
    finally:
        gc.enable()


def test_hosts_leave_their_shared_memory_map_as_it_was() -> None:
    """Hosts that panic and reboot (their pools of rewritten pages drawn and touched),
    with VMs going down and huge pages poisoned whole, all share one memory map."""
    scenario = rassim.Scenario.model_validate(
        {
            "duration": "30d",
            "fleet": {"hosts": 4, "vms_per_host": 2},
            "guest": {"backing_page": "2MiB"},
            "memory": {"source": "faults", "ecc": "secded", "acceleration": 3000},
        }
    )
    memory_map = MemoryMap(scenario)
    before = pickle.dumps(memory_map)
    ledger, root, listed = RunLedger(), root_sequence(1), Listed.of(scenario.memory, range(4))
    panics = 0
    for index in range(4):
        host = _run_host(
            scenario,
            memory_map,
            listed,
            root,
            index,
            HopLog(enabled=False),
            ledger,
            itertools.count(),
            [],
        )
        panics += host.panics
    assert panics > 0 and pickle.dumps(memory_map) == before
