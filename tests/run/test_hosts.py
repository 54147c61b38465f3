"""A worker's group of hosts leaves nothing behind: each host's objects in reference
cycles are freed as soon as the host is done, not whenever a full collection comes."""

from __future__ import annotations

import gc
import itertools
import weakref

import rassim
from rassim.model.host import Host
from rassim.model.ledger import RunLedger
from rassim.run.hosts import _run_host, simulate_group
from rassim.sim.channel import HopLog

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
        host = _run_host(GROUP, 1, 0, HopLog(enabled=False), RunLedger(), itertools.count(), [])
        left = weakref.ref(host)
        del host
        assert left() is not None
        gc.collect(0)
        assert left() is None
    finally:
        gc.enable()
