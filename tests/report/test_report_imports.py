"""Plotting reads result tables only: rassim.report never imports SimPy, the model or run."""

import ast
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
                assert not name.startswith(FORBIDDEN), f"{source.name} imports {name}"


def test_building_a_report_loads_no_simulator_module(run_report):
    page, loaded = run_report
    assert page.is_file()
    assert loaded == ""
