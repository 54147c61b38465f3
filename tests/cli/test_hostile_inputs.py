"""Hostile input, table-driven: every case ends with one line on stderr and exit 2 (or a
correct result), no traceback, nothing of the user's lost, and no stage directory left.

Each case runs ``rassim.cli.main`` in-process in a fresh directory made by its ``setup``;
the few that need a real process (signals, the console script) are at the end.
"""

from __future__ import annotations

import json
import os
import re
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from rassim.cli import main

QUICK = ["--preset", "qemu-ras", "--set", "duration=1h", "--set", "fleet.vms_per_host=1"]
LEFTOVER = re.compile(r"^\..+\.(partial|old)-[0-9]+$")
EXPERIMENT = """\
[experiment]
name = "tiny"
preset = "sea-to-user"
[base]
duration = "1h"
fleet.vms_per_host = 1
[[factors]]
key = "hypervisor.policy"
values = ["serror_fallback", "exit_to_user"]
"""


def _user_files(name: str) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        (root / name).mkdir(parents=True)
        (root / name / "notes.txt").write_text("my notes\n")

    return setup


def _earlier(command: str, name: str = "out", **extra: object) -> Callable[[Path], None]:
    """A directory holding what ``rassim COMMAND`` wrote before (its meta.json)."""

    def setup(root: Path) -> None:
        (root / name).mkdir(parents=True)
        (root / name / "meta.json").write_text(json.dumps({"command": command, **extra}))
        (root / name / "summary.json").write_text("{}")

    return setup


def _read_only(setup: Callable[[Path], None], name: str = "out") -> Callable[[Path], None]:
    def read_only(root: Path) -> None:
        setup(root)
        for path in (root / name, *(root / name).iterdir()):
            path.chmod(path.stat().st_mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))

    return read_only


def _both(*setups: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(root: Path) -> None:
        for one in setups:
            one(root)

    return setup


def _file(name: str, content: bytes) -> Callable[[Path], None]:
    return lambda root: (root / name).write_bytes(content)


def _fifo(name: str) -> Callable[[Path], None]:
    return lambda root: os.mkfifo(root / name)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _stale_stage(root: Path) -> None:
    """What a SIGKILL leaves: the stage of a dead process, and an earlier result it
    moved aside; the next run into the same parent cleans the one and restores the other."""
    pid = _dead_pid()
    stage = root / f".out.partial-{pid}"
    stage.mkdir()
    (stage / ".rassim-stage").touch()
    (stage / "errors.parquet").write_bytes(b"half written")
    _earlier("run", f".kept.old-{pid}")(root)
    (root / f".out.partial-{_dead_pid()}").mkdir()  # killed before marking its stage


def _nothing(root: Path) -> None:
    pass


def _run(name: str) -> Callable[[Path], None]:
    """A real run directory."""
    return lambda root: _quiet_main(["run", *QUICK, "--out", str(root / name)])


def _quiet_main(argv: list[str]) -> None:
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0


@dataclass(frozen=True)
class Case:
    name: str
    argv: list[str]
    setup: Callable[[Path], None] = _nothing
    message: str = ""  # in the one line on stderr (exit 2)
    code: int = 2
    replaced: str | None = None  # a directory the command may replace (exit 0)
    lines: int = 1  # on stderr


CASES = [
    # 1. output directories are never destroyed
    Case(
        "run into user files",
        ["run", *QUICK, "--out", "mine"],
        _user_files("mine"),
        "mine: holds files rassim did not write",
    ),
    Case(
        "run into the repository's results/",
        ["run", *QUICK, "--out", "results"],
        _both(_user_files("results"), _earlier("sweep", "results/ue-rate", experiment="x")),
        "results: holds files rassim did not write",
    ),
    Case(
        "run into a sweep",
        ["run", *QUICK, "--out", "out"],
        _earlier("sweep", experiment="tiny"),
        "holds the results of `rassim sweep`",
    ),
    Case(
        "run into a report",
        ["run", *QUICK, "--out", "out"],
        _earlier("report"),
        "not an earlier `rassim run` result",
    ),
    Case(
        "run into the current directory",
        ["run", *QUICK, "--out", "."],
        _file("notes.txt", b"mine"),
        ".: holds files rassim did not write",
    ),
    Case(
        "run into an empty current directory",
        ["run", *QUICK, "--out", "."],
        _nothing,
        "is the current directory",
    ),
    Case(
        "run into the parent directory",
        ["run", *QUICK, "--out", ".."],
        _nothing,
        "..: holds files rassim did not write",
    ),
    Case(
        "run into a file",
        ["run", *QUICK, "--out", "notes.txt"],
        _file("notes.txt", b"x"),
        "notes.txt: exists and is not a directory",
    ),
    Case(
        "run below a file",
        ["run", *QUICK, "--out", "notes.txt/out"],
        _file("notes.txt", b"x"),
        "cannot write the output directory",
    ),
    Case(
        "run into a read-only earlier run",
        ["run", *QUICK, "--out", "out"],
        _read_only(_earlier("run")),
        "the earlier result is read-only",
    ),
    Case(
        "run into a broken link",
        ["run", *QUICK, "--out", "link"],
        lambda root: (root / "link").symlink_to(root / "gone"),
        "broken symbolic link",
    ),
    Case(
        "run replaces an earlier run",
        ["run", *QUICK, "--out", "out"],
        _earlier("run"),
        code=0,
        replaced="out",
    ),
    Case(
        "run replaces an empty directory",
        ["run", *QUICK, "--out", "out"],
        lambda root: (root / "out").mkdir(),
        code=0,
        replaced="out",
    ),
    Case(
        "run cleans what a killed run left",
        ["run", *QUICK, "--out", "out"],
        _stale_stage,
        code=0,
        replaced="out",
    ),
    Case(
        "compare into user files",
        ["compare", *QUICK, "--out", "mine"],
        _user_files("mine"),
        "mine: holds files rassim did not write",
    ),
    Case(
        "compare into a run",
        ["compare", *QUICK, "--out", "out"],
        _earlier("run"),
        "holds the results of `rassim run`",
    ),
    Case(
        "compare replaces an earlier comparison",
        ["compare", *QUICK, "--out", "out"],
        _earlier("compare"),
        code=0,
        replaced="out",
    ),
    Case(
        "sweep into user files",
        ["sweep", "x.toml", "--out", "mine", "-q"],
        _both(_file("x.toml", EXPERIMENT.encode()), _user_files("mine")),
        "mine: holds files rassim did not write",
    ),
    Case(
        "sweep into a run",
        ["sweep", "x.toml", "--out", "out", "-q"],
        _both(_file("x.toml", EXPERIMENT.encode()), _earlier("run")),
        "holds the results of `rassim run`",
    ),
    Case(
        "sweep into another experiment",
        ["sweep", "x.toml", "--out", "out", "-q"],
        _both(_file("x.toml", EXPERIMENT.encode()), _earlier("sweep", experiment="other")),
        "holds the results of experiment 'other', not 'tiny'",
    ),
    Case(
        "report into user files",
        ["report", "out", "--out", "mine"],
        _both(_run("out"), _user_files("mine")),
        "mine: holds files rassim did not write",
    ),
    Case(
        "report into its own input",
        ["report", "out", "--out", "out"],
        _run("out"),
        "not an earlier `rassim report` result",
    ),
    # 2. units are required for every duration, size and rate (a bare 0 means off)
    *[
        Case(
            f"--set {item}", ["validate", "--preset", "qemu-ras", "--set", item], _nothing, message
        )
        for item, message in [
            ("duration=30", "duration: 30 has no unit: write a duration as text"),
            ("memory.scrub_period=24", "memory.scrub_period: 24 has no unit"),
            ("memory.ue_rate=1e-4", "memory.ue_rate: 0.0001 has no unit"),
            ("memory.host_memory=512", "memory.host_memory: 512 has no unit"),
            ("firmware.latency=50", "firmware.latency: 50 has no unit"),
            ("guest.work_rate=2", "guest.work_rate: 2 has no unit"),
            ("memory.access.guest_anon.access_rate=6", "access_rate: 6 has no unit"),
            ("memory.faults.single_bit.transient=14", "transient: 14 has no unit"),
            ("duration=1.5", "duration: 1.5 has no unit"),
        ]
    ],
    Case(
        "a bare 0 means off",
        [
            "validate",
            "--preset",
            "qemu-ras",
            "--set",
            "memory.scrub_period=0",
            "--set",
            "memory.ue_rate=0",
        ],
        _nothing,
        code=0,
    ),
    Case(
        "units in a scenario file",
        ["validate", "s.toml"],
        _file("s.toml", b"[memory]\nscrub_period = 24\n"),
        "s.toml: memory.scrub_period: 24 has no unit",
    ),
    Case(
        "units in an experiment's base",
        ["sweep", "x.toml", "--dry-run"],
        _file("x.toml", EXPERIMENT.replace('"1h"', "3600").encode()),
        "duration: 3600 has no unit",
    ),
    Case(
        "units in an experiment's factor",
        ["sweep", "x.toml", "--dry-run"],
        _file(
            "x.toml",
            (EXPERIMENT + '[[factors]]\nkey = "memory.ue_rate"\nvalues = [1e-4]\n').encode(),
        ),
        "memory.ue_rate=0.0001): memory.ue_rate: 0.0001 has no unit",
    ),
    # 5. "none" is no value for optional keys everywhere
    Case(
        "--set none",
        ["validate", "--preset", "qemu-ras", "--set", "vmm.restart_after=none"],
        _nothing,
        code=0,
    ),
    Case(
        "none in a scenario file",
        ["validate", "s.toml"],
        _file("s.toml", b'[vmm]\nrestart_after = "none"\n'),
        code=0,
    ),
    Case(
        "none in an experiment",
        ["sweep", "x.toml", "--dry-run"],
        _file(
            "x.toml",
            (
                EXPERIMENT + '[[factors]]\nkey = "vmm.restart_after"\nvalues = [2, "none"]\n'
            ).encode(),
        ),
        code=0,
    ),
    Case(
        "none where a value is needed",
        ["validate", "--preset", "qemu-ras", "--set", "vmm.sea_exit=none"],
        _nothing,
        "vmm.sea_exit: Input should be",
    ),
    # 3. validation bounds where the physics has them
    Case(
        "a billion hosts",
        ["run", *QUICK, "--set", "fleet.hosts=1000000000"],
        _nothing,
        "fleet.hosts: must be less than or equal to 1000000",
    ),
    Case(
        "acceleration 1e300",
        ["run", *QUICK, "--set", "memory.acceleration=1e300"],
        _nothing,
        "memory.acceleration: must be less than or equal to 1000000000",
    ),
    Case(
        "VMs per host",
        ["run", *QUICK, "--set", "fleet.vms_per_host=100000"],
        _nothing,
        "fleet.vms_per_host: must be less than or equal to 4096",
    ),
    Case(
        "work far beyond the machine",
        ["run", *QUICK, "--set", "memory.acceleration=1e9", "--set", "fleet.hosts=1000000"],
        _nothing,
        "this run would take about 1.54e+09 UEs",
    ),
    Case(
        "a sweep point beyond the machine",
        ["sweep", "x.toml", "--set", "memory.acceleration=1e9", "--set", "fleet.hosts=100000"],
        _file("x.toml", EXPERIMENT.encode()),
        "point 0 (hypervisor.policy=serror_fallback) would take",
    ),
    # 4. no traceback for any user error
    Case(
        "scenario not UTF-8",
        ["validate", "s.toml"],
        _file("s.toml", b'duration = "1\xffd"\n'),
        "s.toml: not UTF-8 text (byte 0xff",
    ),
    Case(
        "experiment not UTF-8",
        ["sweep", "x.toml"],
        _file("x.toml", b"[experiment]\n#\xfe\n"),
        "x.toml: not UTF-8 text (byte 0xfe",
    ),
    Case("scenario is a pipe", ["validate", "s.toml"], _fifo("s.toml"), "not a regular file"),
    Case(
        "scenario is a directory",
        ["run", "s.toml"],
        lambda root: (root / "s.toml").mkdir(),
        "is a directory",
    ),
    Case(
        "run with a negative seed",
        ["run", *QUICK, "--seed", "-1"],
        _nothing,
        "--seed: must be from 0 to 2**64 - 1, got -1",
    ),
    Case(
        "compare with a negative seed",
        ["compare", *QUICK, "--seed", "-1"],
        _nothing,
        "--seed: must be from 0 to 2**64 - 1",
    ),
    Case(
        "sweep with an oversized seed",
        ["sweep", "x.toml", "--seed", str(2**64)],
        _file("x.toml", EXPERIMENT.encode()),
        "--seed: must be from 0 to 2**64 - 1",
    ),
    Case(
        "seed not a number",
        ["run", *QUICK, "--seed", "1e3"],
        _nothing,
        "'1e3' is not a whole number",
    ),
    Case(
        "unknown option",
        ["run", *QUICK, "--outt", "x"],
        _nothing,
        "unrecognized arguments: --outt (see rassim --help)",
    ),
    Case(
        "trace of a damaged table",
        ["trace", "out", "0"],
        _both(_file("errors.parquet", b""), lambda root: _move(root, "errors.parquet", "out")),
        "out/errors.parquet: cannot read",
    ),
    Case("no command", [], _nothing, "give a command", lines=2),  # and the usage
    Case(
        "keys over a user's file",
        ["keys", "--out", "notes.md"],
        _file("notes.md", b"# my notes\n"),
        "notes.md: exists and was not written by `rassim keys`",
    ),
    Case(
        "keys over a non-UTF-8 file",
        ["keys", "--out", "notes.md"],
        _file("notes.md", b"\xff\xfe"),
        "refusing to overwrite it",
    ),
    Case("keys into a directory", ["keys", "--out", "."], _nothing, ".: is a directory"),
    Case("keys into no directory", ["keys", "--out", "no/such.md"], _nothing, "no directory no"),
]


def _move(root: Path, name: str, directory: str) -> None:
    (root / directory).mkdir()
    (root / name).rename(root / directory / name)


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(root)): path.read_bytes()
        for path in root.rglob("*")
        if path.is_file() and not path.is_symlink() and not stat.S_ISFIFO(path.stat().st_mode)
    }


def _leftovers(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob(".*") if LEFTOVER.match(p.name))


def _call(argv: list[str]) -> int:
    try:
        return main(argv)
    except SystemExit as exit_:  # argparse
        return int(exit_.code or 0)


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_hostile_input(
    case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    root = tmp_path / "cwd"
    root.mkdir()
    monkeypatch.chdir(root)
    case.setup(root)
    before = _snapshot(root)
    code = _call(case.argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == case.code, err
    if case.code == 2:
        assert len(err.strip().splitlines()) == case.lines, err
        assert case.message in err
    after = _snapshot(root)
    for path, content in before.items():
        if case.replaced and path.startswith(f"{case.replaced}/"):
            continue
        if re.match(r"\.out\.partial-[0-9]+/", path):  # a dead process's stage: ours
            continue
        if re.match(r"\.kept\.old-[0-9]+/", path):  # put back where it was
            path = re.sub(r"^\.kept\.old-[0-9]+", "kept", path)
        assert after.get(path) == content, f"{path} was changed or removed"
    if case.replaced:
        meta = json.loads((root / case.replaced / "meta.json").read_text())
        assert meta["argv"] == ["rassim", *case.argv]
    assert _leftovers(root) == []


# Signals need a real process: wait until the run has staged its output, then signal.
BIG = ["--preset", "qemu-ras", "--set", "fleet.hosts=20000"]


def _start(args: list[str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "rassim", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def _wait_for_stage(cwd: Path, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 60
    while not _leftovers(cwd):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("signum", "code", "workers"),
    [(signal.SIGINT, 130, "1"), (signal.SIGTERM, 143, "1"), (signal.SIGTERM, 143, "2")],
)
def test_a_signal_keeps_the_earlier_result_and_leaves_nothing(
    tmp_path: Path, signum: int, code: int, workers: str
) -> None:
    assert main(["run", *QUICK, "--out", str(tmp_path / "out")]) == 0
    before = _snapshot(tmp_path)
    process = _start(["run", *BIG, "-j", workers, "--out", "out"], tmp_path)
    _wait_for_stage(tmp_path, process)
    process.send_signal(signum)
    _, err = process.communicate(timeout=60)
    assert process.returncode == code, err
    assert "Traceback" not in err, err
    assert err.strip().splitlines() == [
        f"rassim: {'terminated' if signum == signal.SIGTERM else 'interrupted'}; "
        "earlier results are untouched"
    ]
    assert _snapshot(tmp_path) == before
    assert _leftovers(tmp_path) == []


def test_after_a_kill_the_next_run_cleans_up(tmp_path: Path) -> None:
    assert main(["run", *QUICK, "--out", str(tmp_path / "out")]) == 0
    before = _snapshot(tmp_path)
    process = _start(["run", *BIG, "--out", "out"], tmp_path)
    _wait_for_stage(tmp_path, process)
    process.kill()
    process.communicate(timeout=60)
    assert len(_leftovers(tmp_path)) == 1  # SIGKILL cannot be handled ...
    after = _snapshot(tmp_path)
    assert {k: v for k, v in after.items() if not k.startswith(".")} == before
    assert main(["run", *QUICK, "--out", str(tmp_path / "other")]) == 0
    assert _leftovers(tmp_path) == []  # ... the next run into the same parent cleans up


def test_the_console_script_without_a_command_prints_usage() -> None:
    script = Path(sys.executable).with_name("rassim")
    result = subprocess.run([script], capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: rassim")
    assert "Traceback" not in result.stderr
