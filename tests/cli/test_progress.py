"""Progress on a terminal, nothing of it elsewhere or with --quiet; workers chosen by size."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import tqdm

import rassim.work_estimate
from rassim.cli import main
from rassim.config import load_scenario
from rassim.work_estimate import estimate, workers_for

RUN = ["--preset", "sea-to-user", "--set", "fleet.hosts=3", "--set", "memory.acceleration=3e4"]


class Terminal(io.StringIO):
    """stderr as a terminal would be: tqdm draws on it."""

    def isatty(self) -> bool:
        return True


class Eager(tqdm.tqdm):  # type: ignore[type-arg]
    """A bar that draws at every update, as it would on a run slower than tqdm's 0.1 s
    refresh interval: this run may finish all its hosts inside one interval."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**{**kwargs, "mininterval": 0, "miniters": 1})


@pytest.mark.parametrize(
    "command",
    [["run", *RUN, "-r", "2", "--out", "{tmp}/run"], ["compare", *RUN], ["sweep", "{tmp}/x.toml"]],
)
def test_a_terminal_sees_progress_and_a_log_does_not(
    command: list[str],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    (tmp_path / "x.toml").write_text(
        '[experiment]\nname = "x"\npreset = "sea-to-user"\nreplications = 2\n'
        '[base]\nduration = "1d"\n'
    )
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in command]
    if argv[0] == "sweep":
        argv += ["--out", str(tmp_path / "sweep"), "-j", "1"]
    assert main(argv) == 0  # stderr is not a terminal under pytest
    assert capsys.readouterr().err == ""
    terminal = Terminal()
    monkeypatch.setattr("sys.stderr", terminal)
    monkeypatch.setattr("tqdm.tqdm", Eager)
    assert main(argv) == 0
    drawn = terminal.getvalue()
    if argv[0] == "sweep":
        assert "/2 [" in drawn and "run/s" in drawn
    else:
        assert f"/{6 if argv[0] == 'run' else 3} [" in drawn  # hosts x replications
        assert "host/s" in drawn and "<" in drawn  # tqdm's elapsed<remaining: the ETA
        if argv[0] == "run":
            assert "of host time simulated" in drawn
    quiet = Terminal()
    monkeypatch.setattr("sys.stderr", quiet)
    assert main([*argv, "--quiet"]) == 0
    assert quiet.getvalue() == ""


def test_processes_only_where_they_gain(monkeypatch: pytest.MonkeyPatch) -> None:
    small = estimate(load_scenario(preset="sea-to-user", overrides=["fleet.hosts=20"]))
    big = estimate(
        load_scenario(
            preset="sea-to-user", overrides=["fleet.hosts=2000", "memory.acceleration=1e5"]
        )
    )
    assert small.cpu_s < rassim.work_estimate.PROCESSES_PAY_S < big.cpu_s
    assert workers_for(small, 2) == 1 and workers_for(big, 2) == 2 and workers_for(big, 1) == 1
    one_host = estimate(load_scenario(preset="sea-to-user", overrides=["memory.acceleration=1e8"]))
    assert one_host.cpu_s > rassim.work_estimate.PROCESSES_PAY_S
    assert workers_for(one_host, 2) == 1  # a single host cannot be shared


def test_the_header_says_how_many_processes_ran(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["run", *RUN, "--out", str(tmp_path / "a")]) == 0
    assert "on 1 process(es)" in capsys.readouterr().out
    assert main(["run", *RUN, "-j", "2", "--out", str(tmp_path / "b")]) == 0
    assert "on 2 process(es)" in capsys.readouterr().out
