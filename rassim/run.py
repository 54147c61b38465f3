"""Run one scenario: build the fleet, simulate, check conservation, tabulate (MODEL 9)."""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import simpy

from rassim.model.host import Host
from rassim.model.outcomes import Context, Ledger, LedgerError, Outcome, UeState
from rassim.scenario import Injection, Owner, Scenario
from rassim.sim.channel import HopLog, Network
from rassim.sim.streams import Streams

UE_COLUMNS = (
    "ue_id",
    "host",
    "source",
    "permanent",
    "created_ns",
    "owner",
    "vm",
    "gpa",
    "hpa",
    "consumptions",
    "events",
    "state",
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
    hops: pd.DataFrame
    summary: dict[str, Any]
    wall_s: float = field(default=0.0)


def simulate(scenario: Scenario | None = None, seed: int | np.random.SeedSequence = 0) -> RunResult:
    """Simulate ``scenario`` (default: ``Scenario()``) with random streams from ``seed``."""
    scenario = scenario if scenario is not None else Scenario()
    started = time.perf_counter()
    env = simpy.Environment()
    network = Network(env, Streams(seed), HopLog(enabled=scenario.record_hops))
    ledger = Ledger()
    horizon = scenario.duration
    hosts = [Host(env, i, scenario, network, ledger, horizon) for i in range(scenario.fleet.hosts)]
    network.check_wired()
    ue_ids = itertools.count()
    if scenario.memory.ue_rate > 0:
        for host in hosts:
            host.memory.poisson_arrivals(scenario.memory.ue_rate, lambda: next(ue_ids))
    for injection in sorted(scenario.memory.injections, key=lambda i: i.at):
        env.process(_inject(env, hosts[injection.host], injection, ue_ids))
    env.run()
    ledger.check()
    ues = _ue_frame([ue for host in hosts for ue in host.memory.ues])
    errors = ledger.to_frame()
    _check_ues(ues, errors)
    counts = {
        "vm_crashes": sum(vm.crashes for host in hosts for vm in host.vms),
        "vm_restarts": sum(vm.restarts for host in hosts for vm in host.vms),
        "host_panics": sum(host.panics for host in hosts),
    }
    summary = summarise(errors, ues, scenario, counts)
    return RunResult(
        scenario=scenario,
        seed=seed,
        errors=errors,
        ues=ues,
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


def _ue_frame(ues: list) -> pd.DataFrame:
    rows = [
        (
            ue.ue_id,
            ue.host,
            ue.source,
            ue.permanent,
            ue.created_ns,
            ue.owner.value,
            ue.vm,
            ue.gpa,
            ue.hpa,
            ue.consumptions,
            ue.events,
            ue.state.value,
        )
        for ue in ues
    ]
    frame = pd.DataFrame.from_records(rows, columns=list(UE_COLUMNS))
    frame = frame.sort_values("ue_id", kind="stable").reset_index(drop=True)
    return frame.astype({"vm": "Int64", "gpa": "Int64"})


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
    errors: pd.DataFrame, ues: pd.DataFrame, scenario: Scenario, counts: dict[str, int]
) -> dict[str, Any]:
    """Per-run metrics of MODEL 9; ``counts`` are the VM crashes, restarts and host panics
    (occurrences, where one panic can end several in-flight events)."""
    outcomes = errors["outcome"].value_counts()
    touched = errors[errors["kind"] != "scrub"]
    in_guest = touched[touched["context"].isin(_GUEST_CONTEXTS)]
    latency = errors["latency_ns"]
    consumed = ues[ues["consumptions"] > 0]
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
        **counts,
        "exits_to_vmm": int(errors["exit_to_vmm"].sum()),
        "handling_latency_mean_ns": float(latency.mean()) if len(latency) else float("nan"),
        "handling_latency_p99_ns": float(latency.quantile(0.99)) if len(latency) else float("nan"),
        "repeat_consumptions_per_ue": (
            float(consumed["consumptions"].mean()) if len(consumed) else float("nan")
        ),
        **{f"ues_{s.value}": int((ues["state"] == s.value).sum()) for s in UeState},
    }
    return summary
