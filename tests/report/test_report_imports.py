"""Plotting reads result tables only: rassim.report never imports SimPy, the model or run
(units formatting, ``rassim.sim.units``, is the one piece of the kernel it may use)."""

import ast
import subprocess
import sys
from pathlib import Path

import rassim.report

FORBIDDEN = (
    "simpy",
    "rassim.model",
    "rassim.run",
    "rassim.sim",
    "rassim.scenario",
    "rassim.config",
)
PACKAGE = Path(rassim.report.__file__).parent


def test_no_module_of_the_package_imports_the_simulator():
    for source in sorted(PACKAGE.glob("*.py")):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                allowed = name == "rassim.sim.units"
                assert allowed or not name.startswith(FORBIDDEN), f"{source.name} imports {name}"


def test_the_trace_loads_no_simulator_module():
    code = (
        "import sys, rassim.report.trace; "
        f"print(sorted(m for m in sys.modules if m.startswith({FORBIDDEN!r}) "
        "and m != 'rassim.sim.units' and m != 'rassim.sim'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_building_a_report_loads_no_simulator_module(run_report):
    page, loaded = run_report
    assert page.is_file()
    assert loaded == ""
