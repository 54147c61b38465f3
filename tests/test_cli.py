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
