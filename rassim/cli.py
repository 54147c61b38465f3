"""The ``rassim`` command line: run, compare, sweep, sensitivity, validate, trace, presets,
keys, report, fit, replay."""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from typing import Any, NoReturn

from rassim import __version__
from rassim.config import ConfigError, load_scenario
from rassim.errors import RunFailed
from rassim.interrupts import Terminated, exit_code, terminate_as_interrupt
from rassim.presets import PRESETS
from rassim.report import command as report_command
from rassim.results.outdir import replaced_output, slug
from rassim.results.spreadsheet import FORMATS
from rassim.scenario import Scenario
from rassim.sim.units import format_duration, format_size, parse_duration, parse_size

SWEEP_METRICS = ("recovery_rate", "vm_interruptions_per_1000_vm_years", "goodput", "availability")
POLICY_KEY = "hypervisor.policy"
POLICIES = ("serror_fallback", "exit_to_user")
PA_LIMIT = 1 << 52  # ARM64's largest physical address space (FEAT_LPA): rassim replay's limit


def _scenario_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", nargs="?", type=Path, help="scenario file (TOML)")
    parser.add_argument("--preset", help="start from a named preset (see `rassim presets`)")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key, e.g. --set hypervisor.policy=exit_to_user (repeatable)",
    )


def _run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=_seed, default=0, help="root random seed (default 0)")
    parser.add_argument(
        "--replications", "-r", type=_positive, default=1, help="independent runs (default 1)"
    )
    parser.add_argument(
        "--workers",
        "-j",
        type=_positive,
        help="processes sharing the hosts of each run (default: all cores when the run is "
        "big enough to gain, else 1; results do not depend on it)",
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run each run's groups of hosts on the Dask distributed scheduler at ADDRESS, "
        "e.g. tcp://10.0.0.5:8786 (same results as a local run)",
    )
    _force_argument(parser)


def _format_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default="parquet",
        help="csv: also write every table as CSV beside its Parquet file, for spreadsheets "
        "(default parquet only; trace, report and resuming read the Parquet)",
    )


def _quiet_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar (shown only on a terminal)"
    )


def _force_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--force",
        action="store_true",
        help="run even if the estimated memory is over half this machine's",
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


MAX_SEED = 2**64 - 1


def _seed(text: str) -> int:
    """A seed is a whole number from 0 to 2**64 - 1 (the entropy of a SeedSequence)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"must be from 0 to 2**64 - 1, got {value}")
    return value


class _Parser(argparse.ArgumentParser):
    """Argument errors as one line, like every other rassim error."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``rassim`` and its subcommands."""
    parser = _Parser(
        prog="rassim",
        description=(
            "Simulate how an uncorrected memory error propagates through an ARM64 "
            "virtualized server (memory, CPU, EL3 firmware, KVM, VMM, guest) and what it "
            "costs under KVM's SError-fallback and exit-to-user SEA policies."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rassim {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = commands.add_parser("run", help="simulate one scenario and write its results")
    _scenario_arguments(run)
    _run_arguments(run)
    _quiet_argument(run)
    _format_argument(run)
    run.add_argument(
        "--out",
        type=Path,
        default=Path("rassim-out"),
        help="output directory (default rassim-out); it may only hold an earlier run, "
        "which is replaced",
    )

    compare = commands.add_parser(
        "compare",
        help="run a scenario at two values of a key (default: both KVM policies) and print "
        "each headline metric, the difference and which is better",
        description=(
            "Run the scenario twice, at --values FIRST SECOND of --key (default "
            "hypervisor.policy: serror_fallback, then exit_to_user), with the same "
            "replication seeds, and print every headline metric of both with its 95% "
            "interval, the difference SECOND - FIRST with its paired interval, which is "
            "better, the totals behind them and their definitions (docs/metrics.md)."
        ),
    )
    _scenario_arguments(compare)
    _run_arguments(compare)
    _quiet_argument(compare)
    _format_argument(compare)
    compare.add_argument(
        "--key",
        default=POLICY_KEY,
        metavar="KEY",
        help=f"the scenario key to compare two values of (default {POLICY_KEY})",
    )
    compare.add_argument(
        "--values",
        nargs=2,
        metavar=("FIRST", "SECOND"),
        help="the key's two values, written as for --set (default for "
        f"{POLICY_KEY}: {' '.join(POLICIES)}); differences are SECOND - FIRST",
    )
    compare.add_argument(
        "--out",
        type=Path,
        help="also write each arm's run directory (DIR/FIRST, DIR/SECOND), the printed "
        "table (DIR/comparison.csv) and their report (DIR/report); DIR may only hold an "
        "earlier comparison, which is replaced",
    )

    validate = commands.add_parser("validate", help="check a scenario file without running it")
    _scenario_arguments(validate)
    validate.add_argument("--print", action="store_true", help="print the resolved scenario")

    trace = commands.add_parser("trace", help="print one error's path through the layers")
    trace.add_argument("directory", type=Path, help="a directory written by `rassim run`")
    trace.add_argument("error_id", type=int)
    trace.add_argument("--replication", type=int, default=0)

    commands.add_parser("presets", help="list the named presets")
    keys = commands.add_parser(
        "keys",
        help="print every scenario key with its type, unit, default, range, meaning and "
        "source (docs/scenario.md)",
    )
    keys.add_argument(
        "--out",
        type=Path,
        help="write the reference to this file instead (docs/scenario.md); it may only "
        "hold an earlier reference, which is replaced",
    )
    _sweep_parser(commands)
    _sensitivity_parser(commands)
    _fit_parser(commands)
    _replay_parser(commands)
    report_command.register(commands)
    return parser


def _sweep_parser(commands) -> None:
    sweep = commands.add_parser(
        "sweep",
        help="run an experiment file (factors x replications) in parallel, resumably",
        description=(
            "Run every point x replication of an experiment file on a local process pool "
            "or a Dask cluster. Finished runs are stored as they complete; rerunning the "
            "same command resumes. Writes runs.parquet (one row per run), "
            "aggregate.parquet (each metric per point with its 95% interval), "
            "tallies.parquet (per-host counts) and meta.json into --out."
        ),
    )
    _experiment_arguments(sweep, "sweeps/NAME", "check the file and list its points; run nothing")
    _force_argument(sweep)
    _format_argument(sweep)


def _sensitivity_parser(commands) -> None:
    sensitivity = commands.add_parser(
        "sensitivity",
        help="which uncertain assumptions decide the answer: Morris, Sobol and a robust verdict",
        description=(
            "Sample the [[uncertain]] parameters of an experiment file (Morris screening, "
            "Sobol indices; SALib), run every sample through the sweep machinery (in "
            "parallel, resumably, or on a Dask cluster) and, with [sensitivity.arms], each "
            "sample under both arms on common random numbers. Writes runs.parquet, "
            "samples.parquet, indices.parquet, verdict.parquet and meta.json into --out. "
            "See README.md (Sensitivity)."
        ),
    )
    _experiment_arguments(
        sensitivity,
        "sensitivity/NAME",
        "check the file, list the parameters and the runs each method needs; run nothing",
    )


def _experiment_arguments(parser: argparse.ArgumentParser, out: str, dry_run: str) -> None:
    """What ``rassim sweep`` and ``rassim sensitivity`` share: an experiment file run on a
    local pool or a Dask cluster into a resumable output directory."""
    parser.add_argument("experiment", type=Path, help="experiment file (TOML)")
    parser.add_argument(
        "--workers", "-j", type=_positive, help="local worker processes (default: all cores)"
    )
    parser.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="run on the Dask distributed scheduler at ADDRESS, e.g. tcp://10.0.0.5:8786",
    )
    parser.add_argument("--out", type=Path, help=f"output directory (default {out})")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key of the base scenario, e.g. --set duration=2d (repeatable)",
    )
    parser.add_argument(
        "--replications", "-r", type=_positive, help="replace the file's replications"
    )
    parser.add_argument("--seed", type=_seed, help="replace the file's seed")
    parser.add_argument(
        "--limit",
        type=_positive,
        metavar="N",
        help="stop after N new runs (they are kept; rerun to finish)",
    )
    parser.add_argument("--dry-run", action="store_true", help=dry_run)
    parser.add_argument("--quiet", "-q", action="store_true", help="no progress bar")


def _fit_parser(commands) -> None:
    default = Scenario.model_validate({})
    fit = commands.add_parser(
        "fit",
        help="fit a scenario to a fleet's error log (rasdaemon databases or a CSV log)",
        description=(
            "Read rasdaemon databases (one per host: ras-mc_event.db, or HOST.db) or CSV "
            "logs, read-only, and write a scenario with the fleet's UE rate per GiB-hour "
            "(exact Poisson interval), its hosts, and the owner mix where memory_failure "
            "page types were logged. The scenario's comments say what was fitted from how "
            "many events over what exposure. Rows that cannot be used are counted and "
            "reported. See docs/replay.md."
        ),
    )
    _log_arguments(
        fit,
        "--host-memory; raise it when the hosts' DRAM sits above a hole in the physical "
        "address map",
    )
    fit.add_argument("--out", "-o", type=Path, required=True, help="scenario file to write")
    fit.add_argument(
        "--host-memory",
        default=format_size(default.memory.host_memory),
        metavar="SIZE",
        help="memory of each host (default %(default)s, the scenario default)",
    )
    _observation_arguments(
        fit, "(default: the log's span from its first to its last event, which underestimates it)"
    )
    fit.add_argument(
        "--vms-per-host",
        type=_positive,
        default=default.fleet.vms_per_host,
        help="VMs on each host (default %(default)s)",
    )
    fit.add_argument(
        "--min-typed",
        type=_positive,
        default=20,
        metavar="N",
        help="fit the owner mix only from N or more typed UEs (default %(default)s)",
    )
    fit.add_argument("--quiet", "-q", action="store_true", help="print nothing but errors")


def _log_arguments(parser: argparse.ArgumentParser, limit: str) -> None:
    """The logs read by ``fit`` and ``replay``, and how their rows are checked (``limit``:
    the default address limit, in words)."""
    parser.add_argument(
        "logs", nargs="+", type=Path, metavar="LOG", help="database, CSV or directory"
    )
    parser.add_argument(
        "--page-size",
        default="4KiB",
        metavar="SIZE",
        help="the hosts' kernel page size, the unit of memory_failure_event pfns (default 4KiB)",
    )
    parser.add_argument(
        "--address-limit",
        metavar="SIZE",
        help=f"skip rows with addresses at or above this (default: {limit})",
    )


def _observation_arguments(parser: argparse.ArgumentParser, default: str) -> None:
    parser.add_argument(
        "--observed",
        metavar="DURATION",
        help=f"how long each host was observed, e.g. 90d {default}",
    )
    parser.add_argument(
        "--hosts",
        type=_positive,
        help="hosts observed, if more than the log names (default: those it names)",
    )


def _replay_parser(commands) -> None:
    replay = commands.add_parser(
        "replay",
        help="replay a fleet's logged memory errors under each KVM policy (or strategy) and "
        "compare what they cost",
        description=(
            "Read rasdaemon databases or CSV logs (as rassim fit does) and replay every "
            "uncorrected error as one UE on its host, at its time, in its page, owned as its "
            "page type says; corrected errors feed memory.predictive_offline. The rest of the "
            "stack runs as in any run, once per arm: by default both KVM policies "
            f"({' and '.join(POLICIES)}), or every combination of the --compare keys. Every "
            "arm runs with the same seeds (common random numbers): the differences from the "
            "first arm are paired. The platform (host memory, VMs, guests, firmware) is the "
            "scenario's (--scenario, --preset, --set). See docs/replay.md."
        ),
    )
    _log_arguments(replay, "4PiB, a 52-bit physical address space, ARM64's largest")
    replay.add_argument("--scenario", type=Path, metavar="FILE", help="the fleet's scenario")
    replay.add_argument("--preset", help="start from a named preset (see `rassim presets`)")
    replay.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override one key of the scenario, e.g. --set memory.host_memory=256GiB",
    )
    replay.add_argument(
        "--compare",
        action="append",
        default=[],
        metavar="KEY[=V1,V2,...]",
        help=f"a key to compare (repeatable; default {POLICY_KEY}): every value of a choice "
        "or flag, or the values given; several keys give every combination, the first "
        "values first (the baseline)",
    )
    _observation_arguments(
        replay,
        "(default: from the log's first event to a scrub period, at least a day, after its last)",
    )
    _run_arguments(replay)
    replay.add_argument(
        "--out",
        type=Path,
        help="write the log, a run directory per arm, comparison.csv and the report "
        "(DIR/report); DIR may only hold an earlier replay, which is replaced",
    )
    replay.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar; print nothing but errors"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rassim`` console script; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_usage(sys.stderr)
        print("rassim: error: give a command (rassim --help lists them)", file=sys.stderr)
        return 2
    args.argv = ["rassim", *argv]
    try:
        with terminate_as_interrupt():
            return COMMANDS[args.command](args)
    except ConfigError as error:
        print(f"rassim: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as interrupt:
        what = "terminated" if isinstance(interrupt, Terminated) else "interrupted"
        print(f"rassim: {what}; earlier results are untouched", file=sys.stderr)
        return exit_code(interrupt)
    except RunFailed as error:  # a group of hosts failed twice on a cluster
        print(f"rassim: error: {error}", file=sys.stderr)
        return 1
    except BrokenPipeError:  # the reader left (`rassim keys | head`): stop quietly, as
        # a pipeline's writers do, without a second error when Python flushes stdout
        with suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except OSError as error:  # the disk filled up, a file vanished, ...: not a bug
        where = f"{error.filename}: " if error.filename else ""
        print(f"rassim: error: {where}{error.strerror or error}", file=sys.stderr)
        return 2


def _load(args: argparse.Namespace) -> Scenario:
    if args.scenario is None and args.preset is None:
        raise ConfigError("give a scenario file or --preset NAME (`rassim presets` lists them)")
    return load_scenario(args.scenario, args.preset, args.overrides)


def _check_scheduler(args: argparse.Namespace) -> None:
    """``--scheduler ADDRESS`` is a Dask address, and leaves the workers to the cluster."""
    if args.scheduler is None:
        return
    from rassim.run.executors import check_scheduler

    if args.workers is not None:
        raise ConfigError("--workers sets the local pool; with --scheduler the cluster decides")
    check_scheduler(args.scheduler)


@contextmanager
def _progress(
    label: str, scenario: Scenario, args: argparse.Namespace
) -> Iterator[Callable[[int], None]]:
    """Hosts done, simulated host time and an ETA on stderr, if it is a terminal and
    not --quiet; yields what :func:`rassim.run.simulate` calls as hosts finish."""
    from tqdm import tqdm

    duration = scenario.duration
    with tqdm(
        total=scenario.fleet.hosts * args.replications,
        desc=label,
        unit="host",
        file=sys.stderr,
        disable=True if args.quiet else None,  # None: only on a terminal
        leave=False,
        dynamic_ncols=True,
    ) as bar:

        def advance(hosts: int) -> None:
            bar.set_postfix_str(
                f"{format_duration((bar.n + hosts) * duration, 3)} of host time simulated",
                refresh=False,
            )
            bar.update(hosts)

        yield advance


def cmd_run(args: argparse.Namespace) -> int:
    _check_scheduler(args)
    scenario = _load(args)
    _plan_work(args, [("this run", scenario)])
    from rassim.results.comparison import Arm, format_comparison
    from rassim.results.replications import run_replications
    from rassim.results.rundir import write_run

    with replaced_output(args.out, "run") as stage:
        started = time.perf_counter()
        with _progress("run", scenario, args) as progress:
            results = run_replications(
                scenario, args.seed, args.replications, progress, args.workers, args.scheduler
            )
        write_run(stage, results, args.seed, args.argv, csv=args.format == "csv")
    label = args.preset or (args.scenario.stem if args.scenario else "scenario")
    print(_header(label, scenario, args, time.perf_counter() - started))
    print(format_comparison([Arm(label, [r.summary for r in results])]))
    print(f"results in {args.out}/")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    _check_scheduler(args)
    arms = _arms(args)
    _plan_work(args, [(f"the arm {args.key}={value}", scenario) for value, scenario in arms])
    from rassim.results.comparison import Arm, comparison_frame, format_comparison

    with ExitStack() as stack:
        stage = None if args.out is None else stack.enter_context(_compare_output(args))
        runs, wall = _compare(arms, args, stage)
        compared = [Arm(value, runs[value]) for value, _ in arms]
        if stage is not None:  # the printed table, for a spreadsheet
            comparison_frame(compared, paired=True).to_csv(stage / "comparison.csv", index=False)
    label = args.preset or (args.scenario.stem if args.scenario else "scenario")
    print(_header(label, arms[0][1], args, wall))
    first, second = (value for value, _ in arms)
    print(f"{args.key}: {first} vs {second}, same seeds in both (differences are paired)\n")
    print(format_comparison(compared, paired=True))
    if args.out is not None:
        from rassim.report.build import build_report

        build_report(args.out, args.out / "report", args.argv, progress=not args.quiet)
        print(f"results in {args.out}/: a run directory per arm, comparison.csv and report/")
    return 0


def _plan_work(args: argparse.Namespace, runs: list[tuple[str, Scenario]]) -> None:
    """Refuse work too big for this machine before anything starts (unless --force), and
    choose the workers if -j was not given: processes only where they gain."""
    from rassim.work_estimate import check, estimate, workers_for

    works = [(what, estimate(scenario, args.replications)) for what, scenario in runs]
    if not args.force:
        for what, work in works:
            check(work, what)
    if args.workers is None:
        args.workers = max(workers_for(work, _cores()) for _, work in works)


def _arms(args: argparse.Namespace) -> list[tuple[str, Scenario]]:
    """The two scenarios compared: the loaded one at each of the key's two values."""
    if args.values is None:
        if args.key != POLICY_KEY:
            raise ConfigError(f"--key {args.key}: give its two values with --values FIRST SECOND")
        args.values = list(POLICIES)
    first, second = args.values
    if first == second:
        raise ConfigError(
            f"--values: compare two different values of {args.key}, not {first} twice"
        )
    if slug(first) == slug(second):
        raise ConfigError(f"--values {first} {second}: too alike to name two directories")
    overrides = [*args.overrides]
    arms = [
        (value, load_scenario(args.scenario, args.preset, [*overrides, f"{args.key}={value}"]))
        for value in (first, second)
    ]
    if arms[0][1] == arms[1][1]:
        raise ConfigError(f"--values {first} {second}: both give the same scenario")
    return arms


def _compare(
    arms: list[tuple[str, Scenario]], args: argparse.Namespace, stage: Path | None
) -> tuple[dict[str, list[dict[str, Any]]], float]:
    """Run every arm with the same replication seeds; with ``stage``, write each arm's run
    directory into it."""
    from rassim.results.replications import run_replications
    from rassim.results.rundir import write_run

    runs: dict[str, list[dict[str, Any]]] = {}
    started = time.perf_counter()
    for value, scenario in arms:
        with _progress(value, scenario, args) as progress:
            results = run_replications(
                scenario, args.seed, args.replications, progress, args.workers, args.scheduler
            )
        runs[value] = [r.summary for r in results]
        if stage is not None:
            directory = stage / slug(value)
            directory.mkdir()
            write_run(directory, results, args.seed, args.argv, "compare", args.format == "csv")
    return runs, time.perf_counter() - started


@contextmanager
def _compare_output(args: argparse.Namespace) -> Iterator[Path]:
    """``--out DIR``: the arms' run directories and a meta.json naming ``compare``,
    replacing an earlier comparison whole."""
    import json

    from rassim.results.outdir import meta_fields

    with replaced_output(args.out, "compare") as stage:
        yield stage
        meta = {**meta_fields("compare", args.argv), "seed": args.seed}
        (stage / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def cmd_validate(args: argparse.Namespace) -> int:
    from rassim.config import dump_scenario

    scenario = _load(args)
    if args.print:
        print(dump_scenario(scenario), end="")
    else:
        print(f"{args.scenario or args.preset}: ok")
    return 0


def cmd_trace(args: argparse.Namespace) -> int:
    from rassim.report.trace import format_trace

    print(format_trace(args.directory, args.error_id, args.replication))
    return 0


def cmd_presets(args: argparse.Namespace) -> int:
    width = max(len(name) for name in PRESETS)
    for preset in PRESETS.values():
        print(f"{preset.name:<{width}}  {preset.summary}  [seed {preset.seed}]")
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    from rassim import keys_reference

    text = keys_reference.render()
    if args.out is None:
        print(text, end="")
    else:
        keys_reference.write(args.out, text)
        print(f"wrote {args.out}")
    return 0


def cmd_sweep(args: argparse.Namespace) -> int:
    from rassim.sweep.experiment import load_experiment

    if args.scheduler is not None and args.workers is not None:
        raise ConfigError("--workers sets the local pool; with --scheduler the cluster decides")
    experiment = load_experiment(args.experiment, args.overrides, args.replications, args.seed)
    out = args.out if args.out is not None else Path("sweeps") / experiment.name
    runs, points = len(experiment.runs), len(experiment.points)
    if args.dry_run:
        from rassim.sweep.tables import factor_frame

        print(f"{experiment.name}: {points} point(s) x {experiment.replications} = {runs} runs")
        print(factor_frame(experiment).to_string(index=False))
        return 0
    from rassim.sweep.execute import sweep

    workers = args.workers or _cores()
    if not args.force:
        from rassim.work_estimate import check, estimate

        at_once = min(workers, runs)
        for point in experiment.points:
            check(estimate(point.scenario), f"point {point.point_id} ({point.label})", at_once)
    try:
        outcome = sweep(
            experiment,
            out,
            workers,
            args.scheduler,
            args.limit,
            not args.quiet,
            args.argv,
            csv=args.format == "csv",
        )
    except KeyboardInterrupt as interrupt:
        return _stopped(interrupt, out)
    done = f"{experiment.name}: {outcome.computed} run(s) computed"
    if outcome.computed:
        done += f" on {outcome.workers} worker(s) in {outcome.wall_s:.1f} s"
    print(f"{done}, {outcome.reused} reused from {out}/.runs, {outcome.failed} failed")
    if not outcome.complete(experiment):
        left = runs - len(outcome.records)
        print(f"stopped after {args.limit} new run(s) (--limit); {left} left: rerun to finish")
        return 0
    print(_sweep_table(out, experiment))
    print(f"results in {out}/")
    if outcome.failed:
        print(
            f"rassim: {outcome.failed} run(s) failed; see the error column of "
            f"{out}/runs.parquet (a rerun retries them)",
            file=sys.stderr,
        )
        return 1
    return 0


def _stopped(interrupt: KeyboardInterrupt, out: Path) -> int:
    """Ctrl-C or SIGTERM during a sweep or a study: what is kept, and the exit code."""
    what = "terminated" if isinstance(interrupt, Terminated) else "interrupted"
    print(
        f"rassim: {what}; finished runs are kept in {out}/.runs and earlier "
        "results are untouched; rerun the same command to resume",
        file=sys.stderr,
    )
    return exit_code(interrupt)


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from rassim.sensitivity.design import load_study

    if args.scheduler is not None and args.workers is not None:
        raise ConfigError("--workers sets the local pool; with --scheduler the cluster decides")
    study = load_study(args.experiment, args.overrides, args.replications, args.seed)
    out = args.out if args.out is not None else Path("sensitivity") / study.name
    if args.dry_run:
        from rassim.sensitivity.summary import format_plan

        print(format_plan(study))
        return 0
    from rassim.sensitivity.execute import sensitivity
    from rassim.sensitivity.summary import format_indices, format_verdict

    try:
        outcome = sensitivity(
            study,
            out,
            args.workers or _cores(),
            args.scheduler,
            args.limit,
            not args.quiet,
            argv=args.argv,
        )
    except KeyboardInterrupt as interrupt:
        return _stopped(interrupt, out)
    computed, failed = outcome.total("computed"), outcome.total("failed")
    done = f"{study.name}: {computed} run(s) computed"
    if computed:
        done += f" in {outcome.wall_s:.1f} s"
    print(f"{done}, {outcome.total('reused')} reused from {out}/.runs, {failed} failed")
    if not outcome.complete:
        print(f"stopped after {args.limit} new run(s) (--limit); rerun to finish")
        return 0
    output = "metric"
    if study.arms is not None:
        output = f"{study.arm_labels[1]} - {study.arm_labels[0]}:"
    shown = list(study.better) or list(study.header.metrics or study.metrics[:4])
    for metric in shown:
        print(format_indices(outcome.indices, metric, output))
    if outcome.verdict is not None:
        a, b = study.arm_labels
        print(format_verdict(outcome.verdict, a, b, study.settings.confidence))
    print(f"results in {out}/")
    if failed:
        print(
            f"rassim: {failed} run(s) failed; see the error column of {out}/runs.parquet "
            "(a rerun retries them)",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_fit(args: argparse.Namespace) -> int:
    from rassim.replay.fit import fit_log, fitted_scenario, scenario_text, write_scenario

    host_memory = _quantity(parse_size, args.host_memory, "--host-memory")
    if host_memory <= 0:
        raise ConfigError("--host-memory must be larger than 0")
    log = _read_log(args, host_memory)
    fit = fit_log(log, host_memory, _page_size(args), args.hosts, _observed(args))
    scenario, comments = fitted_scenario(fit, args.vms_per_host, args.min_typed)
    write_scenario(args.out, scenario_text(fit, scenario, comments))
    if not args.quiet:
        print("\n".join(fit.summary()))
        print(f"scenario in {args.out}")
    return 0


def _page_size(args: argparse.Namespace) -> int:
    page_size = _quantity(parse_size, args.page_size, "--page-size")
    if page_size <= 0:
        raise ConfigError("--page-size must be larger than 0")
    return page_size


def _read_log(args: argparse.Namespace, limit: int):
    """The logs of ``fit`` or ``replay``, addresses checked against ``limit`` (or
    ``--address-limit``)."""
    from rassim.replay import ReadOptions, read_log

    if args.address_limit is not None:
        limit = _quantity(parse_size, args.address_limit, "--address-limit")
    return read_log(args.logs, ReadOptions(address_limit=limit, page_size=_page_size(args)))


def _observed(args: argparse.Namespace) -> int | None:
    if args.observed is None:
        return None
    return _quantity(parse_duration, args.observed, "--observed")


def cmd_replay(args: argparse.Namespace) -> int:
    from rassim.replay.arms import check_fixed, settings
    from rassim.replay.fleet import fleet_of

    _check_scheduler(args)
    for item in args.overrides:
        check_fixed("--set", item.partition("=")[0].strip())
    base = load_scenario(args.scenario, args.preset, args.overrides)
    arms = settings(args.compare)
    log = _read_log(args, PA_LIMIT)
    fleet = fleet_of(log, base, args.hosts, _observed(args))
    from rassim.replay.counterfactual import arm_scenarios, replay

    scenarios = arm_scenarios(fleet, base, arms)
    _plan_work(args, [(f"the arm {arm.label}", scenario) for arm, scenario in scenarios])
    total = len(arms) * args.replications
    with ExitStack() as stack:
        stage = None
        if args.out is not None:
            stage = stack.enter_context(replaced_output(args.out, "replay"))
        bar = stack.enter_context(_progress_bar("replay", total, args.quiet))
        started = time.perf_counter()
        replayed = replay(
            fleet,
            scenarios,
            args.seed,
            args.replications,
            args.workers,
            bar,
            stage,
            args.argv,
            args.scheduler,
        )
        wall = time.perf_counter() - started
    if args.out is not None:
        from rassim.report.build import build_report

        build_report(args.out, args.out / "report", args.argv)
    if not args.quiet:
        from rassim.replay.summary import format_replay

        print(format_replay(fleet, replayed, args.seed, args.replications, wall))
        if args.out is not None:
            print(f"results in {args.out}/: a run directory per arm, comparison.csv, report/")
    return 0


@contextmanager
def _progress_bar(label: str, total: int, quiet: bool) -> Iterator[Any]:
    """Runs done, on stderr when it is a terminal (and not ``--quiet``)."""
    from tqdm import tqdm

    disable = quiet or not sys.stderr.isatty()
    with tqdm(
        total=total, desc=label, unit="run", file=sys.stderr, leave=False, disable=disable
    ) as bar:
        yield lambda done: bar.update(done - bar.n)


def _quantity(parse, text: str, option: str):
    try:
        return parse(text)
    except ValueError as error:
        raise ConfigError(f"{option}: {error}") from None


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _sweep_table(out: Path, experiment) -> str:
    """Factor columns and a few metrics per point, each with its 95% interval."""
    import pandas as pd

    from rassim.results.comparison import interval_text

    table = pd.read_parquet(out / "aggregate.parquet")
    wanted = [m for m in experiment.metrics if m in SWEEP_METRICS or experiment.header.metrics]
    factors = list(experiment.columns.values())
    shown = table[[*factors, "runs_ok"]].copy()
    shown[factors] = shown[factors].astype(object).where(shown[factors].notna(), "none")  # unset
    for metric in wanted[:4]:
        shown[f"{metric}, 95% CI"] = [
            interval_text(row[f"{metric}_mean"], row[f"{metric}_ci_low"], row[f"{metric}_ci_high"])
            for _, row in table.iterrows()
        ]
    with pd.option_context("display.width", 250, "display.max_columns", 20):
        return shown.to_string(index=False)


COMMANDS = {
    "run": cmd_run,
    "sweep": cmd_sweep,
    "sensitivity": cmd_sensitivity,
    "compare": cmd_compare,
    "validate": cmd_validate,
    "trace": cmd_trace,
    "presets": cmd_presets,
    "keys": cmd_keys,
    "report": report_command.run,
    "fit": cmd_fit,
    "replay": cmd_replay,
}


def _header(label: str, scenario: Scenario, args: argparse.Namespace, wall: float) -> str:
    header = (
        f"{label}: {args.replications} replication(s), seed {args.seed}, "
        f"{format_duration(scenario.duration)} simulated on {scenario.fleet.hosts} host(s) x "
        f"{scenario.fleet.vms_per_host} VM(s), {wall:.1f} s wall on "
        + (
            f"the Dask cluster at {args.scheduler}"
            if args.scheduler
            else f"{args.workers} process(es)"
        )
    )
    acceleration = scenario.memory.acceleration
    if acceleration != 1:
        header += (
            f"\nerror rates x{acceleration:g} (memory.acceleration): about {acceleration:g} "
            "times the UEs a field fleet sees in that time; rates per VM-, host- or TiB-year "
            "are divided by it (field-scaled), goodput, availability and totals are not "
            "(docs/metrics.md)"
        )
    return header
