import io
import signal
import subprocess
import sys

import pytest

from rassim import __version__
from rassim.cli import main


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"rassim {__version__}"


def test_help_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rassim", "--help"], capture_output=True, text=True, check=True
    )
    assert "SError-fallback" in result.stdout


class _LeftReader(io.StringIO):
    """Standard output whose reader has gone (`rassim keys | head -1`)."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_reader_that_leaves_early_ends_the_command_quietly(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdout", _LeftReader())
    assert main(["keys"]) == 128 + signal.SIGPIPE  # what a shell shows for a SIGPIPE'd writer
    assert capsys.readouterr().err == ""
