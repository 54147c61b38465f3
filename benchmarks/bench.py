"""rassim's performance, measured side by side with a baseline commit in one run.

    python benchmarks/bench.py                    # every figure, 3 rounds, baseline 5a18884
    python benchmarks/bench.py --quick            # smaller workloads (a smoke test)
    python benchmarks/bench.py --only propagation,fleet --rounds 5 --baseline abc1234

The baseline is a git worktree of an older commit (``benchmarks/baseline.py``). Each
figure is measured in fresh child interpreters, the baseline's and the current code's
alternating round after round, and the best of the rounds is kept for each: this
machine is shared, and interleaving plus best-of-N cancels most of the load noise.
Time is measured as wall time (what a user waits for, disturbed by other load) and as
the CPU time of the thread running the event loop (``Environment.run``: the model
itself, which other load disturbs less and pyarrow's worker threads, busy while the
tables are built, do not inflate). Work is also counted in instructions executed, under
valgrind's callgrind (group ``instructions``): a count that load does not disturb at all
and that repeats to within a few thousand instructions, measured once. The workloads are
the scenarios in ``benchmarks/scenarios/``, written out in full.

One line per figure: the baseline's value, the current code's, current / baseline, and
the target of issue 18 where one exists (absolute, or as times better than the baseline),
and the load average before and after. Exits non-zero if a target is missed, or if the
current code executes more than 10% more instructions than the baseline's per consumed
UE of propagation or per host of the fleet (issue 17's guard; the CPU times' noise on a
shared machine exceeds that margin).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SCENARIOS = HERE / "scenarios"
TOLERANCE = 1.10  # the current code may be at most 10% slower on the guarded figures


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    unit: str
    higher_is_better: bool
    target: float | None = None  # issue 18's absolute target, if any
    guarded: bool = False  # at most TOLERANCE worse than the baseline
    gain: float | None = None  # issue 18's target as times better than the baseline


FIGURES = {
    "propagation": [
        Figure("ue_per_s", "propagation: consumed UEs per second", "UE/s", True, gain=2.0),
        Figure("ue_per_loop_s", "propagation: UEs per event-loop CPU second", "UE/s", True),
        Figure("hops_per_ue", "propagation: hops per consumed UE", "hops", False),
        Figure("raw_per_s", "propagation: raw SimPy timeouts per second", "/s", True),
        Figure("ratio", "propagation: model hops/s over raw SimPy timeouts/s", "", True),
    ],
    "sweep": [
        Figure("one_worker_s", "sweep: 16 points on 1 worker", "s", False),
        Figure("two_workers_s", "sweep: 16 points on 2 workers", "s", False),
        Figure("speedup", "sweep: speed-up of 2 workers over 1", "x", True, 1.8),
    ],
    "fleet": [
        Figure("wall_s", "fleet: wall time", "s", False, gain=1.5),
        Figure("cpu_s", "fleet: CPU time (parent and workers)", "s", False),
        Figure("loop_s", "fleet / 10 on one process: event-loop CPU", "s", False),
        Figure("peak_gib", "fleet: peak memory (parent + workers x largest)", "GiB", False, 2.0),
        Figure("parent_gib", "fleet: peak memory of the parent", "GiB", False),
    ],
    "scaling": [
        Figure("one_worker_s", "scaling: fleet / 10 on 1 worker", "s", False),
        Figure("two_workers_s", "scaling: fleet / 10 on 2 workers", "s", False),
        Figure("hosts_per_s", "scaling: fleet / 10 on 1 worker, hosts per second", "/s", True),
        Figure("speedup", "scaling: speed-up of 2 workers over 1", "x", True, 1.85),
        Figure("projected_16_s", "scaling: projected fleet on 16 workers", "s", False, 15.0),
    ],
    "quiet": [Figure("ten_over_one", "no errors: 10 years over 1 year", "x", False, 1.2)],
    "instructions": [
        Figure("per_ue", "instructions: propagation, per consumed UE", "", False, guarded=True),
        Figure("per_host", "instructions: fleet, per host-year", "", False, guarded=True),
    ],
}
MEASURED_ONCE = {"instructions"}  # deterministic: one round is enough


# -- the workloads (run in a child interpreter, against whichever rassim it imports) -----
def scenario(name: str, **changes: Any):
    """A benchmark scenario, with top-level or dotted-key ``changes``."""
    from rassim import Scenario

    data = tomllib.loads((SCENARIOS / f"{name}.toml").read_text())
    for key, value in changes.items():
        *sections, last = key.split("__")
        node = data
        for section in sections:
            node = node[section]
        node[last] = value
    return Scenario.model_validate(data)


def _propagation(divisor: int):
    """The propagation scenario at its UE rate / ``divisor``."""
    rate = scenario("propagation").memory.ue_rate / divisor
    return scenario("propagation", memory__ue_rate=f"{rate!r}/GiB/h")


def _timed(run: Callable[[], Any]) -> tuple[float, Any]:
    wall, _, value = _timed_cpu(run)
    return wall, value


def _timed_cpu(run: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall time, CPU time of this process and of its finished children, and the value."""
    gc.collect()
    cpu = _cpu_seconds()
    started = time.perf_counter()
    value = run()
    return time.perf_counter() - started, _cpu_seconds() - cpu, value


@contextmanager
def _event_loop_time() -> Iterator[list[float]]:
    """Thread CPU seconds spent inside ``simpy.Environment.run`` meanwhile (in this process)."""
    import simpy

    spent = [0.0]
    original = simpy.Environment.run

    def run(self, until=None):
        started = time.thread_time()
        try:
            return original(self, until)
        finally:
            spent[0] += time.thread_time() - started

    simpy.Environment.run = run  # type: ignore[method-assign]
    try:
        yield spent
    finally:
        simpy.Environment.run = original  # type: ignore[method-assign]


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def raw_simpy_rate(timeouts: int) -> float:
    """Timeouts per second of a bare SimPy process loop."""
    import simpy

    def loop(env: simpy.Environment):
        for _ in range(timeouts):
            yield env.timeout(1)

    env = simpy.Environment()
    env.process(loop(env))
    wall, _ = _timed(env.run)
    return timeouts / wall


def measure_propagation(scale: int, workers: int) -> dict[str, float]:
    """The propagation run, warm, three times (best kept: a run is short)."""
    import rassim

    propagation = _propagation(scale)
    rassim.simulate(propagation, seed=1)  # warm: imports, first draws, caches
    walls, loops = [], []
    for _ in range(3):
        with _event_loop_time() as loop:
            wall, result = _timed(lambda: rassim.simulate(propagation, seed=1))
        walls.append(wall)
        loops.append(loop[0])
    wall, loop_s = min(walls), min(loops)
    consumed = int(result.ues["consumptions"].gt(0).sum())
    raw = raw_simpy_rate(max(len(result.hops), 500_000))
    return {
        "ue_per_s": consumed / wall,
        "ue_per_loop_s": consumed / loop_s,
        "hops_per_ue": len(result.hops) / consumed,
        "raw_per_s": raw,
        "ratio": len(result.hops) / wall / raw,
    }


def measure_fleet(scale: int, workers: int) -> dict[str, float]:
    import rassim

    hosts = scenario("fleet").fleet.hosts // scale
    fleet = scenario("fleet", fleet__hosts=hosts)
    wall, cpu, _ = _timed_cpu(lambda: rassim.simulate(fleet, seed=1, workers=workers))
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss if workers > 1 else 0
    with _event_loop_time() as loop:
        rassim.simulate(scenario("fleet", fleet__hosts=max(1, hosts // 10)), seed=1)
    return {
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_gib": (own + workers * child) / 2**20,
        "parent_gib": own / 2**20,
        "loop_s": loop[0],
    }


def measure_scaling(scale: int, workers: int) -> dict[str, float]:
    """A tenth of the fleet on 1 worker and on 2: Dask workers of a ``LocalCluster``
    where ``simulate`` takes a scheduler, else (the baseline) its process pool against
    one process. Each count runs the tenth once untimed first: a process's first run of
    that size is slower (its workers' first groups, the parent's first merge: fresh
    memory), by 0.5 s on 2 workers, and a lighter warm-up left that on one count or the
    other. The speed-up and the projection are derived from the best of the rounds
    (:func:`scaling`)."""
    import inspect

    import rassim

    whole = scenario("fleet").fleet.hosts // scale
    tenth = scenario("fleet", fleet__hosts=whole // 10)
    walls = {}
    for count in (1, 2):
        if "scheduler" in inspect.signature(rassim.simulate).parameters:
            from distributed import LocalCluster

            with LocalCluster(
                n_workers=count, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster:
                address = cluster.scheduler_address
                rassim.simulate(tenth, seed=1, scheduler=address)
                walls[count], _ = _timed(lambda a=address: rassim.simulate(tenth, 1, scheduler=a))
        else:
            rassim.simulate(tenth, seed=1, workers=count)
            walls[count], _ = _timed(lambda c=count: rassim.simulate(tenth, seed=1, workers=c))
    return {
        "one_worker_s": walls[1],
        "two_workers_s": walls[2],
        "hosts": tenth.fleet.hosts,
        "whole": whole,
    }


def _speedup(best: dict[str, float]) -> float:
    """The best 1-worker time over the best 2-worker time."""
    return best["one_worker_s"] / best["two_workers_s"]


def scaling(best: dict[str, float]) -> dict[str, float]:
    """Hosts per second on one worker, the 2-worker speed-up, and the fleet's wall time
    on 16 workers projected by Amdahl's law: the serial share ``s`` that gives the
    measured speed-up ``S`` (``s = 2 / S - 1``), applied to the whole fleet's time on one
    worker (the tenth's, times ten): ``T16 = T1 (s + (1 - s) / 16)``."""
    one, hosts = best["one_worker_s"], best["hosts"]
    speedup = _speedup(best)
    serial = min(1.0, max(0.0, 2 / speedup - 1))
    return {
        "hosts_per_s": hosts / one,
        "speedup": speedup,
        "projected_16_s": one * best["whole"] / hosts * (serial + (1 - serial) / 16),
    }


def measure_quiet(scale: int, workers: int) -> dict[str, float]:
    import rassim

    hosts = scenario("fleet-quiet").fleet.hosts // scale
    one, _ = _timed(lambda: rassim.simulate(scenario("fleet-quiet", fleet__hosts=hosts), seed=1))
    ten_years = scenario("fleet-quiet", fleet__hosts=hosts, duration="3650d")
    ten, _ = _timed(lambda: rassim.simulate(ten_years, seed=1))
    return {"ten_over_one": ten / one}


SWEEP_EXPERIMENT = """
[experiment]
name = "bench-scaling"
description = "16 independent points for the scaling benchmark"
scenario = "{scenario}"
replications = 1
seed = 1

[base]
"fleet.hosts" = {hosts}

[[factors]]
key = "hypervisor.policy"
values = ["serror_fallback", "exit_to_user"]

[[factors]]
key = "firmware.p_record"
values = [0.0, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9, 1.0]
"""


def measure_sweep(scale: int, workers: int) -> dict[str, float]:
    """The same 16-point sweep on 1 and on 2 local workers (fresh output each time), based
    on the fleet scenario (written out in full) cut to 30 hosts: runs last a few seconds
    each, as in real sweeps, so the pool's start-up does not dominate."""
    try:
        from rassim.sweep.execute import sweep
        from rassim.sweep.experiment import load_experiment
    except ImportError:  # before the sweep package (baselines up to 5a18884)
        from rassim.experiment import load_experiment  # type: ignore[no-redef]

        from rassim.sweep import sweep  # type: ignore[no-redef,attr-defined]

    walls = {}
    with tempfile.TemporaryDirectory() as tmp:
        experiment = _fleet_experiment(Path(tmp), 30 // scale, load_experiment)
        for count in (1, 2):
            walls[count], outcome = _timed(
                lambda c=count: sweep(experiment, Path(tmp) / f"out{c}", c, progress=False)
            )
            if outcome.failed:  # a failed run is quick: its wall would win the round
                failure = next(r for r in outcome.records.values() if r["status"] != "ok")
                raise RuntimeError(
                    f"sweep on {count} worker(s): {outcome.failed} of "
                    f"{len(experiment.runs)} runs failed, first: {failure.get('error')}"
                )
    return {"one_worker_s": walls[1], "two_workers_s": walls[2]}


def _fleet_experiment(directory: Path, hosts: int, load_experiment: Callable) -> Any:
    """The sweep experiment on the fleet scenario, as a scenario file this side reads:
    scenario files now write rates with their units, which 5a18884's did not accept."""
    from rassim.errors import ConfigError  # this side's

    text = (SCENARIOS / "fleet.toml").read_text()
    base, path = directory / "fleet.toml", directory / "bench.toml"
    path.write_text(SWEEP_EXPERIMENT.format(scenario=base, hosts=hosts))
    base.write_text(_with_units(text))
    try:
        return load_experiment(path, [], None, None)
    except ConfigError:  # a loader that reads bare rates only (5a18884's)
        base.write_text(text)
        return load_experiment(path, [], None, None)


def _with_units(scenario: str) -> str:
    """A benchmark scenario's bare rates (read by ``Scenario.model_validate``: reads an
    hour, work units a second, faults in FIT) written with their units."""
    units = {"access_rate": "/h", "work_rate": "/s", "transient": "FIT", "permanent": "FIT"}
    bare = r"^(access_rate|work_rate|transient|permanent) = ([0-9.e+-]+)$"
    return re.sub(bare, lambda m: f'{m[1]} = "{m[2]}{units[m[1]]}"', scenario, flags=re.M)


def run_workload(name: str, size: int) -> int:
    """Run one workload of the ``instructions`` group; returns its units of work: consumed
    UEs of propagation at its UE rate / ``size``, or ``size`` hosts of the fleet."""
    import rassim

    if name == "propagation":
        result = rassim.simulate(_propagation(size), seed=1)
        return int(result.ues["consumptions"].gt(0).sum())
    rassim.simulate(scenario("fleet", fleet__hosts=size), seed=1)
    return size


def callgrind_missing() -> str:
    """What :func:`callgrind` needs that this machine lacks, and how to get it ('': none)."""
    missing = [tool for tool in ("valgrind", "setarch") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} (Debian: apt install valgrind util-linux)" if missing else ""


def callgrind(workload: str, size: int, script: str = __file__) -> tuple[int, int]:
    """Instructions executed by a fresh interpreter running ``workload`` at ``size`` under
    callgrind (``script --workload W --size N``, which prints its units of work last),
    and its units of work. Address randomisation off, one Arrow thread and a fixed hash
    seed make the count repeat (3,040,136,740 and 3,040,141,346 in two runs of
    propagation / 10)."""
    env = {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}
    command = ["setarch", "-R", "valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null"]
    command += [sys.executable, str(Path(script).resolve())]
    command += ["--workload", workload, "--size", str(size)]
    done = subprocess.run(command, env=env, capture_output=True, text=True)
    refs = re.search(r"I\s+refs:\s+([\d,]+)", done.stderr)
    if done.returncode != 0 or refs is None:
        raise RuntimeError(f"{workload} under callgrind failed:\n{done.stderr}")
    return int(refs.group(1).replace(",", "")), int(done.stdout.splitlines()[-1])


def measure_instructions(scale: int, workers: int) -> dict[str, float]:
    """Instructions per consumed UE (propagation at a tenth of its rate less propagation
    at a hundredth) and per host (31 fleet hosts less 1): the differences leave out the
    interpreter's start, the imports and what every run does once."""
    many, few = callgrind("propagation", 10 * scale), callgrind("propagation", 100 * scale)
    hosts = 30 // scale
    fleet, one = callgrind("fleet", hosts + 1), callgrind("fleet", 1)
    return {
        "per_ue": (many[0] - few[0]) / (many[1] - few[1]),
        "per_host": (fleet[0] - one[0]) / hosts,
    }


MEASURE = {
    "propagation": measure_propagation,
    "sweep": measure_sweep,
    "fleet": measure_fleet,
    "scaling": measure_scaling,
    "quiet": measure_quiet,
    "instructions": measure_instructions,
}

# Figures computed from the best of the rounds of others, not in each round: a ratio of
# two walls taken in the same round is as noisy as the noisier of them (a 1-worker run
# slowed by other load once gave a 2-worker speed-up of 2.34 on 2 cores).
DERIVED: dict[str, Callable[[dict[str, float]], dict[str, float]]] = {
    "sweep": lambda best: {"speedup": _speedup(best)},
    "scaling": scaling,
}


# -- the side-by-side driver -------------------------------------------------------------
def run_child(group: str, checkout: Path, scale: int, workers: int) -> dict[str, float]:
    """``group``'s figures from a fresh interpreter importing rassim from ``checkout``,
    run in it: the baseline's sweep pool starts a forkserver (``python -c``), which puts
    the working directory first on its path, so from this clone's root the baseline's
    workers imported this clone's rassim and every run failed, fast. A child that fails
    is run once more (said on stderr) before the benchmark stops."""
    env = {**os.environ, "PYTHONPATH": str(checkout)}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", group]
    command += ["--scale", str(scale), "--workers", str(workers)]
    for attempt in (1, 2):
        done = subprocess.run(command, env=env, cwd=checkout, capture_output=True, text=True)
        if done.returncode == 0:
            return json.loads(done.stdout.splitlines()[-1])
        error = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "no message"
        if attempt == 1:
            print(f"{group} on {checkout} failed ({error}); running it again", file=sys.stderr)
    raise RuntimeError(f"{group} on {checkout} failed twice:\n{done.stderr}")


def best(figure: Figure, values: list[float]) -> float:
    return max(values) if figure.higher_is_better else min(values)


def _best_of_rounds(group: str, rounds: list[dict[str, float]]) -> dict[str, float]:
    """Each measured figure's best round (the least of what no figure ranks: constants
    such as host counts), then the figures derived from those."""
    figures = {figure.key: figure for figure in FIGURES[group]}
    chosen = {}
    for key in rounds[0]:
        values = [r[key] for r in rounds]
        chosen[key] = best(figures[key], values) if key in figures else min(values)
    if group in DERIVED:
        chosen |= DERIVED[group](chosen)
    return chosen


def side_by_side(groups: list[str], baseline: str, rounds: int, scale: int, workers: int) -> bool:
    from baseline import worktree

    checkouts = {"baseline": worktree(baseline), "current": ROOT}
    print(f"baseline {baseline} ({checkouts['baseline']}) against {ROOT}; best of {rounds}")
    print(f"load average before: {_load()} on {os.cpu_count()} cores")
    print(f"{'figure':<56} {'baseline':>11} {'current':>11} {'cur/base':>9}  target")
    ok = True
    for group in groups:
        seen: dict[str, list[dict[str, float]]] = {"baseline": [], "current": []}
        for _ in range(1 if group in MEASURED_ONCE else rounds):
            for name, checkout in checkouts.items():
                seen[name].append(run_child(group, checkout, scale, workers))
        chosen = {name: _best_of_rounds(group, results) for name, results in seen.items()}
        for figure in FIGURES[group]:
            ok &= _print(figure, chosen["baseline"][figure.key], chosen["current"][figure.key])
    print(f"load average after: {_load()}")
    return ok


def _load() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was."""
    return " ".join(f"{load:.1f}" for load in os.getloadavg())


def _print(figure: Figure, old: float, new: float) -> bool:
    ratio = new / old if old else float("nan")
    verdicts, ok = [], True
    if figure.gain is not None:
        better = ratio if figure.higher_is_better else 1 / ratio
        met = better >= figure.gain
        verdicts.append(f"{figure.gain:g}x the baseline {'ok' if met else 'MISSED'}")
        ok &= met
    if figure.target is not None:
        met = new >= figure.target if figure.higher_is_better else new <= figure.target
        sign = ">=" if figure.higher_is_better else "<="
        verdicts.append(f"{sign} {figure.target:g}{figure.unit} {'ok' if met else 'MISSED'}")
        ok &= met
    if figure.guarded:
        slower = 1 / ratio if figure.higher_is_better else ratio
        held = slower <= TOLERANCE
        verdicts.append(f"within 10% of baseline {'ok' if held else 'MISSED'}")
        ok &= held
    values = f"{old:>11.4g} {new:>11.4g} {ratio:>9.3f}"
    print(
        f"{figure.label + (f' ({figure.unit})' if figure.unit else ''):<56} {values}  "
        + "; ".join(verdicts)
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="workloads / 10 (smoke test)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per figure (best kept)")
    parser.add_argument("--baseline", default=None, help="baseline commit (default 5a18884)")
    parser.add_argument("--only", default=",".join(FIGURES), help="comma-separated groups")
    parser.add_argument("--workers", type=int, default=2, help="processes for the fleet")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, default=1, help=argparse.SUPPRESS)
    parser.add_argument("--workload", help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(MEASURE[args.child](args.scale, args.workers)))
        return 0
    if args.workload:
        print(run_workload(args.workload, args.size))
        return 0
    sys.path.insert(0, str(HERE))
    from baseline import DEFAULT

    groups = [g.strip() for g in args.only.split(",") if g.strip()]
    unknown = sorted(set(groups) - set(FIGURES))
    if unknown:
        parser.error(f"unknown group(s) {', '.join(unknown)}; choose from {', '.join(FIGURES)}")
    if "instructions" in groups and (missing := callgrind_missing()):
        parser.error(f"the instructions group needs {missing}; or leave it out with --only")
    scale = 10 if args.quick else 1
    ok = side_by_side(groups, args.baseline or DEFAULT, args.rounds, scale, args.workers)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
