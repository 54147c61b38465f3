"""The package's shape: what may import what, SimPy through its public API only, and
every dispatch table complete.

Layers: ``sim`` <- ``arch`` <- scenario/config <- ``model`` <- ``run`` <- ``results`` <-
``sweep``/``sensitivity`` <- ``report``/``cli``; a module may import its own tier and
those below. The metric arithmetic of ``results`` (metrics, statistics, estimates:
functions of result tables, no run) sits below ``run``, which summarises each run with
it. The report never imports the model, the run or SimPy. ``rassim.model`` has no import cycle,
``TYPE_CHECKING`` imports included.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
import tomllib
from importlib.metadata import version
from pathlib import Path
from typing import get_args

import pytest
import simpy
import simpy.core
import simpy.events
import simpy.resources.store

import rassim

PACKAGE = Path(rassim.__file__).parent
ROOT = PACKAGE.parent

TIERS = {
    "rassim.sim": 0,
    "rassim.arch": 1,
    "rassim.interrupts": 2,
    "rassim.errors": 2,
    "rassim.files": 2,
    "rassim.provenance": 2,
    "rassim.scenario": 2,
    "rassim.presets": 2,
    "rassim.config": 2,
    "rassim.keys_reference": 2,
    "rassim.model": 3,
    "rassim.results.metrics": 3,
    "rassim.results.stats": 3,
    "rassim.results.estimates": 3,
    "rassim.run": 4,
    "rassim.work_estimate": 4,
    "rassim.results": 5,
    "rassim.replay": 5,
    "rassim.sweep": 6,
    "rassim.sensitivity": 6,
    "rassim.report": 7,
    "rassim.cli": 7,
    "rassim.__main__": 7,
}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(path: Path) -> set[str]:
    """Every rassim module ``path`` imports, anywhere in it (TYPE_CHECKING included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in names if name in MODULES or name.split(".")[0] == "simpy"}


def _tier(module: str) -> int:
    for prefix in sorted(TIERS, key=len, reverse=True):
        if module == prefix or module.startswith(prefix + "."):
            return TIERS[prefix]
    raise AssertionError(f"{module} has no tier in tests/test_architecture.py")


@pytest.mark.parametrize("module", [m for m in MODULES if m != "rassim"])
def test_a_module_imports_only_its_tier_and_below(module: str) -> None:
    """``rassim`` itself (version and lazy ``simulate``/``Scenario``) is exempt."""
    tier = _tier(module)
    above = sorted(
        name
        for name in _imports(MODULES[module])
        if name in MODULES and name != "rassim" and _tier(name) > tier
    )
    assert not above, f"{module} (tier {tier}) imports {above}"


def test_the_report_imports_neither_the_model_nor_simpy() -> None:
    """Units formatting (``rassim.sim.units``) is the one piece of the kernel it uses."""
    for module, path in MODULES.items():
        if module.startswith("rassim.report"):
            bad = [
                name
                for name in _imports(path)
                if name.startswith(("simpy", "rassim.model", "rassim.run", "rassim.sim"))
                and name != "rassim.sim.units"
            ]
            assert not bad, f"{module} imports {bad}"


def test_the_model_has_no_import_cycle() -> None:
    graph = {
        module: {name for name in _imports(path) if name.startswith("rassim.model.")}
        for module, path in MODULES.items()
        if module.startswith("rassim.model.")
    }
    done: set[str] = set()

    def visit(module: str, trail: tuple[str, ...]) -> None:
        if module in trail:
            cycle = " -> ".join((*trail[trail.index(module) :], module))
            raise AssertionError(f"import cycle: {cycle}")
        if module in done:
            return
        for name in graph.get(module, ()):
            visit(name, (*trail, module))
        done.add(module)

    for module in graph:
        visit(module, ())


# -- SimPy through its public API ------------------------------------------------------------
def _simpy_private_names() -> set[str]:
    """Names of SimPy's private attributes: on its classes and on live instances."""
    env = simpy.Environment()

    def wait():
        yield env.timeout(1)

    instances = [env, env.event(), env.timeout(1), env.process(wait())]
    classes = [simpy.core.Environment, simpy.core.BoundClass, simpy.resources.store.Store]
    classes += [c for _, c in inspect.getmembers(simpy.events, inspect.isclass)]
    names = {n for c in classes for n in vars(c)} | {n for i in instances for n in vars(i)}
    return {n for n in names if n.startswith("_") and not n.startswith("__")}


SIMPY_PRIVATE = _simpy_private_names()


def _event_subclasses(module: str) -> set[str]:
    loaded = importlib.import_module(module)
    return {
        name
        for name, value in vars(loaded).items()
        if inspect.isclass(value) and issubclass(value, simpy.events.Event)
    }


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_touches_a_private_simpy_attribute(module: str) -> None:
    """Outside SimPy, ``_queue``, ``_now``, ``_eid``, ``_target`` and the rest are off
    limits. The one exception is SimPy's own idiom for an ``Event`` subclass (as in
    ``Timeout``): setting ``self._ok`` and ``self._value`` in its own methods."""
    tree = ast.parse(MODULES[module].read_text())
    has_classes = any(isinstance(node, ast.ClassDef) for node in ast.walk(tree))
    events = _event_subclasses(module) if has_classes else set()
    allowed: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and node.name in events:
            for inner in ast.walk(node):
                if (
                    isinstance(inner, ast.Attribute)
                    and isinstance(inner.value, ast.Name)
                    and inner.value.id == "self"
                    and inner.attr in ("_ok", "_value")
                ):
                    allowed.add(id(inner))
    touched = [
        f"line {node.lineno}: .{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and node.attr in SIMPY_PRIVATE
        and id(node) not in allowed
    ]
    assert not touched, f"{module}: {touched}"


def test_the_private_attribute_check_sees_the_old_shortcuts() -> None:
    """The names the old scheduler relied on are among those the check refuses."""
    assert {"_queue", "_now", "_eid", "_target", "_resume", "_ok", "_value"} <= SIMPY_PRIVATE


def test_simpy_is_pinned_to_the_tested_minor_range() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    (spec,) = [d for d in project["dependencies"] if re.match(r"simpy\b", d)]
    assert re.fullmatch(r"simpy>=4\.1(\.\d+)?,<4\.2", spec.replace(" ", "")), spec
    assert version("simpy").startswith("4.1.")


# -- dispatch tables -------------------------------------------------------------------------
def _tables():
    from rassim.model.dram import DramDevices
    from rassim.model.guest import GuestKernel
    from rassim.model.hypervisor import Hypervisor
    from rassim.model.sources import SOURCES
    from rassim.model.vmm import Vmm
    from rassim.scenario import (
        AoAction,
        DeviceMf,
        Ecc,
        PfnmapPoison,
        Policy,
        ReadAckMode,
        SeaExit,
        UeSource,
    )

    return {
        "hypervisor.policy": (Hypervisor.UNCLAIMED_SEA, Policy),
        "hypervisor.pfnmap_poison": (Hypervisor.PFNMAP_POISON, PfnmapPoison),
        "vmm.sea_exit": (Vmm.SEA_EXIT, SeaExit),
        "vmm.ao_action": (Vmm.AO_ACTION, AoAction),
        "vmm.read_ack": (Vmm.READ_ACK, ReadAckMode),
        "guest.device_mf": (GuestKernel.DEVICE_MF, DeviceMf),
        "memory.source": (SOURCES, UeSource),
        "memory.ecc": (DramDevices.ECC, Ecc),
    }


@pytest.mark.parametrize("key", sorted(_tables()))
def test_every_setting_value_has_an_entry_in_its_table(key: str) -> None:
    table, setting = _tables()[key]
    assert set(table) == set(get_args(setting)), key


def test_every_scenario_literal_the_model_dispatches_on_has_a_table() -> None:
    """A new ``Literal`` setting of those kinds cannot be added without its table."""
    from rassim import scenario

    section, key = {}, {}
    for name, field_info in scenario.Scenario.model_fields.items():
        section[name] = field_info.annotation
    for name, model in section.items():
        if isinstance(model, type) and issubclass(model, scenario.Section):
            for field_name, field_info in model.model_fields.items():
                key[f"{name}.{field_name}"] = field_info.annotation
    aliases = {scenario.Policy, scenario.SeaExit, scenario.AoAction, scenario.UeSource}
    aliases |= {scenario.Ecc, scenario.PfnmapPoison, scenario.ReadAckMode, scenario.DeviceMf}
    dispatched = sorted(k for k, annotation in key.items() if annotation in aliases)
    assert dispatched == sorted(_tables())
