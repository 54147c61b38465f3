"""What a replay compares: every combination of the values of the keys asked for.

``--compare KEY`` takes every value of a key that has a fixed set (a choice such as
``hypervisor.policy`` or ``vmm.sea_exit``, or a flag such as ``vmm.unmap``);
``--compare KEY=V1,V2`` takes the values given, for any key. Several keys give every
combination, the first value of each key first: that arm is the baseline the others are
compared with. Without ``--compare`` the two KVM policies are compared.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Literal, get_args, get_origin

from pydantic import BaseModel

from rassim.config import did_you_mean
from rassim.errors import ConfigError
from rassim.scenario import Scenario

POLICY_KEY = "hypervisor.policy"
# Keys a replay sets itself, and why.
FIXED = {
    "duration": "the log sets it (--observed)",
    "fleet.hosts": "the log sets it (--hosts)",
    "memory.source": "the log is the source",
    "memory.replayed": "the log sets it",
    "memory.acceleration": "the logged errors happened at the fleet's own rate",
}


@dataclass(frozen=True)
class Setting:
    """One arm: the value of each compared key, as text (``--set`` syntax)."""

    values: tuple[tuple[str, str], ...]  # (key, value), in --compare order

    @property
    def label(self) -> str:
        return ", ".join(value for _, value in self.values)

    @property
    def directory(self) -> str:
        """A directory name: the values joined by ``+``, anything else dashed."""
        name = "+".join(value for _, value in self.values)
        return re.sub(r"[^A-Za-z0-9._+-]+", "-", name).strip("-.") or "arm"

    @property
    def overrides(self) -> list[str]:
        return [f"{key}={value}" for key, value in self.values]


def settings(specs: list[str]) -> list[Setting]:
    """The arms ``--compare`` asks for (``KEY`` or ``KEY=V1,V2,...`` each), baseline first."""
    axes: list[tuple[str, tuple[str, ...]]] = []
    for spec in specs or [POLICY_KEY]:
        key, sep, listed = spec.partition("=")
        key = key.strip()
        check_fixed("--compare", key)
        values = tuple(v.strip() for v in listed.split(",")) if sep else choices(key)
        if any(key == other for other, _ in axes):
            raise ConfigError(f"--compare {key}: given twice")
        if len(values) < 2 or len(set(values)) < len(values) or not all(values):
            raise ConfigError(f"--compare {spec}: give two or more different values")
        axes.append((key, values))
    combos = itertools.product(*[[(key, v) for v in values] for key, values in axes])
    arms = [Setting(tuple(combo)) for combo in combos]
    directories = [arm.directory for arm in arms]
    if len(set(directories)) < len(directories):
        raise ConfigError(f"--compare {' '.join(specs)}: values too alike to name a directory each")
    return arms


def check_fixed(option: str, key: str) -> None:
    """Refuse ``option KEY`` (``--set``, ``--compare``) for a key a replay sets itself."""
    for fixed, why in FIXED.items():
        if key == fixed or key.startswith(f"{fixed}."):
            raise ConfigError(f"{option} {key}: not in a replay: {why}")


def choices(key: str) -> tuple[str, ...]:
    """Every value of a key with a fixed set of them, as ``--set`` writes them."""
    model: type[BaseModel] = Scenario
    *sections, name = key.split(".")
    for section in sections:
        annotation = (
            model.model_fields[section].annotation if section in model.model_fields else None
        )
        if not (isinstance(annotation, type) and issubclass(annotation, BaseModel)):
            raise ConfigError(f"--compare {key}: no such section {section!r}")
        model = annotation
    if name not in model.model_fields:
        hint = did_you_mean(name, model.model_fields)
        raise ConfigError(f"--compare {key}: unknown key{hint}")
    annotation = model.model_fields[name].annotation
    if annotation is bool:
        return ("false", "true")
    if get_origin(annotation) is Literal:
        return tuple(str(v) for v in get_args(annotation))
    raise ConfigError(
        f"--compare {key}: give the values to compare, e.g. --compare {key}=A,B "
        "(only a choice or a flag has a fixed set of values)"
    )
