"""Run one scenario: build the fleet, simulate, check conservation, tabulate (MODEL 9)."""

from __future__ import annotations

import gc
import itertools
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import simpy

from rassim.model.faults import FAULT_COLUMNS, FaultSource
from rassim.model.host import Host
from rassim.model.memory import ue_frame
from rassim.model.outcomes import Context, Ledger, LedgerError, Outcome, UeState
from rassim.scenario import Injection, Owner, Scenario
from rassim.sim.channel import HopLog, Network
from rassim.sim.streams import Streams

VM_COLUMNS = (
    "host",
    "vm",
    "downtime_s",
    "availability",
    "outages",
    "crashes",
    "restarts",
    "process_kills",
    "lost_down_s",
    "lost_inflight_s",
    "lost_stall_s",
    "goodput",
)
_SURVIVED = (Outcome.RECOVERED.value, Outcome.PROCESS_KILLED.value)
_GUEST_CONTEXTS = [c.value for c in Context if c.in_guest]


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


def simulate(scenario: Scenario | None = None, seed: int | np.random.SeedSequence = 0) -> RunResult:
    """Simulate ``scenario`` (default: ``Scenario()``) with random streams from ``seed``."""
    scenario = scenario if scenario is not None else Scenario()
    with _cyclic_gc_paused():
        return _simulate(scenario, seed)


@contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """A run allocates millions of small, long-lived, acyclic objects (pages, events, rows);
    the cyclic collector would rescan all of them over and over. Reference counting still
    frees everything a run drops; cycles wait until the run is over."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _simulate(scenario: Scenario, seed: int | np.random.SeedSequence) -> RunResult:
    started = time.perf_counter()
    env = simpy.Environment()
    network = Network(env, Streams(seed), HopLog(enabled=scenario.record_hops))
    ledger = Ledger()
    horizon = scenario.duration
    hosts = [Host(env, i, scenario, network, ledger, horizon) for i in range(scenario.fleet.hosts)]
    network.check_wired()
    ue_ids = itertools.count()
    new_ue_id = ue_ids.__next__
    sources = []
    for host in hosts:
        if scenario.memory.source == "faults":
            streams = network.streams
            source = FaultSource(
                host.memory,
                scenario.memory,
                streams.draws(f"{host.name}.dram"),
                new_ue_id,
                streams.draws(f"{host.name}.rasdaemon"),
            )
            source.start(horizon)
            sources.append(source)
        elif scenario.memory.ue_rate > 0:
            host.memory.poisson_arrivals(scenario.memory.ue_rate, new_ue_id)
    for injection in sorted(scenario.memory.injections, key=lambda i: i.at):
        env.process(_inject(env, hosts[injection.host], injection, ue_ids))
    env.run()
    ledger.check()
    vms = [vm for host in hosts for vm in host.vms]
    for vm in vms:
        vm.workload.finish()
    backing = hosts[0].memory.map.backing_page
    ues = ue_frame([ue for host in hosts for ue in host.memory.ues], backing)
    errors = ledger.to_frame()
    _check_ues(ues, errors)
    vm_frame = _vm_frame(vms, horizon)
    faults = pd.DataFrame.from_records(
        [row for source in sources for row in source.log], columns=list(FAULT_COLUMNS)
    )
    counts = {
        "host_panics": sum(host.panics for host in hosts),
        "ce_faults": int((~faults["uncorrected"].astype(bool)).sum()),
        "ue_faults": int(faults["uncorrected"].astype(bool).sum()),
        "ues_predicted": int(faults.loc[faults["predicted"].astype(bool), "pages"].sum()),
    }
    summary = summarise(errors, ues, vm_frame, scenario, counts)
    return RunResult(
        scenario=scenario,
        seed=seed,
        errors=errors,
        ues=ues,
        vms=vm_frame,
        faults=faults,
        hops=network.log.to_frame(),
        summary=summary,
        wall_s=time.perf_counter() - started,
    )


def _inject(env: simpy.Environment, host: Host, injection: Injection, ue_ids: itertools.count):
    """EINJ: poison one page of the given owner class at the given time."""
    yield env.timeout(injection.at)
    owner = injection.owner
    vm = None if owner in (Owner.HOST_KERNEL, Owner.HOST_FREE) else injection.vm
    forced_el = None if injection.kernel is None else int(injection.kernel)
    host.memory.create(
        next(ue_ids),
        owner,
        vm,
        injection.permanent,
        "einj",
        forced_el=forced_el,
        first_delay=injection.consume_after,
    )


def _vm_frame(vms: list, horizon: int) -> pd.DataFrame:
    """One row per VM: its downtime, outages and the work it lost (MODEL 9)."""
    rows = []
    for vm in vms:
        work = vm.workload
        rows.append(
            {
                "host": vm.host.index,
                "vm": vm.index,
                "downtime_s": work.vm_down_ns / 1e9,
                "availability": 1 - work.vm_down_ns / horizon if horizon else 1.0,
                "outages": work.outages,
                "crashes": vm.crashes,
                "restarts": vm.restarts,
                "process_kills": work.kills,
                "lost_down_s": work.lost_down_ns / 1e9,
                "lost_inflight_s": work.lost_inflight_ns / 1e9,
                "lost_stall_s": work.lost_stall_ns / 1e9,
                "goodput": 1 - work.lost_ns / work.possible_ns if work.possible_ns else 1.0,
            }
        )
    return pd.DataFrame(rows, columns=list(VM_COLUMNS))


def _check_ues(ues: pd.DataFrame, errors: pd.DataFrame) -> None:
    """Every UE has one final state, and every event belongs to a known UE."""
    states = {s.value for s in UeState}
    if not ues["state"].isin(states).all():
        raise LedgerError("a UE has no final state")
    if ues["ue_id"].duplicated().any():
        raise LedgerError("a UE was recorded twice")
    unknown = set(errors["ue_id"]) - set(ues["ue_id"])
    if unknown:
        raise LedgerError(f"events refer to unknown UEs: {sorted(unknown)[:10]}")
    counted = errors.groupby("ue_id").size().reindex(ues["ue_id"], fill_value=0).to_numpy()
    if not np.array_equal(counted, ues["events"].to_numpy()):
        raise LedgerError("the events recorded per UE do not match the ledger")


def summarise(
    errors: pd.DataFrame,
    ues: pd.DataFrame,
    vms: pd.DataFrame,
    scenario: Scenario,
    counts: dict[str, int],
) -> dict[str, Any]:
    """Per-run metrics of MODEL 9. VM crashes, restarts and host panics count occurrences
    (one panic can end several in-flight events); ``counts`` come from the model."""
    outcomes = errors["outcome"].value_counts()
    touched = errors[errors["kind"] != "scrub"]
    in_guest = touched[touched["context"].isin(_GUEST_CONTEXTS)]
    latency = errors["latency_ns"]
    consumed = ues[ues["consumptions"] > 0]
    lost = float((vms["lost_down_s"] + vms["lost_inflight_s"] + vms["lost_stall_s"]).sum())
    possible = len(vms) * scenario.guest.processes * scenario.duration / 1e9
    outages = int(vms["outages"].sum())
    summary: dict[str, Any] = {
        "duration_s": scenario.duration / 1e9,
        "ues": len(ues),
        "ues_consumed": len(consumed),
        "error_events": len(errors),
        **{f"outcome_{o.value}": int(outcomes.get(o.value, 0)) for o in Outcome},
        "vm_survival_rate": (
            float(in_guest["outcome"].isin(_SURVIVED).mean()) if len(in_guest) else float("nan")
        ),
        "process_kills": int(outcomes.get(Outcome.PROCESS_KILLED.value, 0)),
        "vm_crashes": int(vms["crashes"].sum()),
        "vm_restarts": int(vms["restarts"].sum()),
        **counts,
        "goodput": float(1 - lost / possible) if possible else 1.0,
        "work_done": float(possible - lost) * scenario.guest.work_rate,
        "availability": float(vms["availability"].mean()),
        "downtime_s": float(vms["downtime_s"].sum()),
        "mttr_s": float(vms["downtime_s"].sum() / outages) if outages else float("nan"),
        "memory_lost_bytes": int(ues["lost_bytes"].sum()),
        "acceleration": scenario.memory.acceleration,
        "exits_to_vmm": int(errors["exit_to_vmm"].sum()),
        "handling_latency_mean_ns": float(latency.mean()) if len(latency) else float("nan"),
        "handling_latency_p99_ns": float(latency.quantile(0.99)) if len(latency) else float("nan"),
        "repeat_consumptions_per_ue": (
            float(consumed["consumptions"].mean()) if len(consumed) else float("nan")
        ),
        **{f"ues_{s.value}": int((ues["state"] == s.value).sum()) for s in UeState},
    }
    return summary
