"""rassim performance targets (issue 8), measured side by side with raw SimPy.

Run as ``python benchmarks/bench.py``: one line per figure with the measured value, the
target and their ratio; exits non-zero if a target is missed. ``--quick`` shrinks every
workload (for a smoke test; targets are still checked, as ratios).
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import simpy

import rassim
from rassim.scenario import Scenario

Result = tuple[str, float, float, str, bool]  # name, value, target, unit, higher is better


def raw_simpy_rate(timeouts: int) -> float:
    """Timeouts per second of a bare SimPy process loop."""

    def loop(env: simpy.Environment):
        for _ in range(timeouts):
            yield env.timeout(1)

    env = simpy.Environment()
    env.process(loop(env))
    gc.collect()
    started = time.perf_counter()
    env.run()
    return timeouts / (time.perf_counter() - started)


def propagation_scenario(ues: int) -> Scenario:
    """One host; exit_to_user + inject; every UE consumed once by a guest process (EL0),
    the process killed, the transient page rewritten: a clean per-UE pipeline."""
    hours = 24
    return Scenario.model_validate(
        {
            "duration": f"{hours}h",
            "record_hops": True,
            "fleet": {"hosts": 1, "vms_per_host": 4},
            "memory": {
                "ue_rate": ues / 512 / hours,
                "p_permanent": 0.0,
                "scrub_period": "0s",
                "host_kernel": "0B",
                "stage2_per_vm": "0B",
                "vmm_per_vm": "0B",
                "access": {"guest_anon": {"access_rate": 3600.0, "p_kernel": 0.0}},
            },
            "cpu": {"p_sync": 1.0},
            "firmware": {"first": False},
            "hypervisor": {"policy": "exit_to_user"},
            "vmm": {"sea_exit": "inject"},
            "guest": {"memory": "128GiB", "memory_map": {"guest_anon": 1.0}},
        }
    )


def bench_propagation(ues: int, repeats: int = 3) -> list[Result]:
    """The model and raw SimPy, each timed ``repeats`` times (best kept: this machine's
    speed varies by tens of percent from one second to the next)."""
    scenario = propagation_scenario(ues)
    walls = []
    for _ in range(repeats):
        gc.collect()
        started = time.perf_counter()
        result = rassim.simulate(scenario, seed=1)
        walls.append(time.perf_counter() - started)
    wall = min(walls)
    consumed = int(result.ues["consumptions"].gt(0).sum())
    hops_per_ue = len(result.hops) / consumed
    model_rate = len(result.hops) / wall
    raw_rate = max(raw_simpy_rate(len(result.hops)) for _ in range(repeats))
    return [
        ("propagation: consumed UEs per second", consumed / wall, 0, "UE/s", True),
        ("propagation: hops per UE", hops_per_ue, 0, "hops", True),
        ("propagation: raw SimPy timeouts per second", raw_rate, 0, "events/s", True),
        ("propagation: model hops/s over raw SimPy events/s", model_rate / raw_rate, 0.5, "", True),
    ]


def fleet_scenario(hosts: int, duration: str, rate_free: bool = False) -> Scenario:
    return Scenario.model_validate(
        {
            "duration": duration,
            "record_hops": False,
            "fleet": {"hosts": hosts, "vms_per_host": 8},
            "memory": {
                "source": "faults",
                "acceleration": 0 + 1e-300 if rate_free else 100,
            },
            "guest": {"memory": "56GiB"},
        }
    )


def _timed(run: Callable[[], object]) -> float:
    gc.collect()
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def bench_fleet(hosts: int, workers: int) -> list[Result]:
    """The fleet on ``workers`` processes. Peak memory counts this process plus ``workers``
    times the largest worker (each worker's max RSS, as the kernel reports it)."""
    scenario = fleet_scenario(hosts, "365d")
    wall = _timed(lambda: rassim.simulate(scenario, seed=1, workers=workers))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if workers > 1 else 0
    peak_gib = (own + workers * child) / 2**20
    one = _timed(lambda: rassim.simulate(fleet_scenario(hosts // 10, "365d", True), seed=1))
    ten = _timed(lambda: rassim.simulate(fleet_scenario(hosts // 10, "3650d", True), seed=1))
    return [
        (
            f"fleet {hosts} hosts x 8 VMs, 1 year at 100x, {workers} workers: wall",
            wall,
            60.0,
            "s",
            False,
        ),
        ("fleet: peak memory (all processes, max RSS)", peak_gib, 4.0, "GiB", False),
        ("no errors: 10 years over 1 year", ten / one, 2.0, "x", False),
    ]


SWEEP_EXPERIMENT = """
[experiment]
name = "bench-scaling"
description = "16 independent points for the scaling benchmark"
preset = "qemu-ras"
replications = 1
seed = 1

[base]
duration = "{duration}"
"fleet.hosts" = {hosts}
"memory.ue_rate" = "1e-3/GiB/h"

[[factors]]
key = "hypervisor.policy"
values = ["serror_fallback", "exit_to_user"]

[[factors]]
key = "firmware.p_record"
values = [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9, 1.0]
"""


def bench_sweep(duration: str, hosts: int) -> list[Result]:
    """The same 16-point sweep on 1 and on 2 local workers (fresh output each time). Runs
    last a few seconds each, as in real sweeps, so the pool's start-up does not dominate."""
    from rassim.sweep.execute import sweep
    from rassim.sweep.experiment import load_experiment

    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.toml"
        path.write_text(SWEEP_EXPERIMENT.format(duration=duration, hosts=hosts))
        experiment = load_experiment(path, [], None, None)
        for workers in (1, 2):
            started = time.perf_counter()
            sweep(experiment, Path(tmp) / f"out{workers}", workers, progress=False)
            walls[workers] = time.perf_counter() - started
    return [
        ("sweep: 16 points on 1 worker", walls[1], 0, "s", False),
        ("sweep: speed-up of 2 workers over 1", walls[1] / walls[2], 1.8, "x", True),
    ]


def report(results: list[Result]) -> bool:
    ok = True
    for name, value, target, unit, higher in results:
        if target:
            ratio = value / target if higher else target / value
            met = ratio >= 1
            ok &= met
            verdict = f"target {'>=' if higher else '<='} {target:g}{unit}: ratio {ratio:.2f} "
            verdict += "ok" if met else "MISSED"
        else:
            verdict = ""
        print(f"{name:<58} {value:>12.4g} {unit:<8} {verdict}")
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small workloads (smoke test)")
    parser.add_argument(
        "--workers", type=int, default=2, help="processes for the fleet run (default 2)"
    )
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    results = bench_propagation(20_000 // scale)
    results += bench_sweep("3d", 4) if args.quick else bench_sweep("90d", 8)
    results += bench_fleet(10_000 // scale, args.workers)
    return 0 if report(results) else 1


if __name__ == "__main__":
    sys.exit(main())
