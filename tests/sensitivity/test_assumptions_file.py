"""experiments/assumptions.toml gives every assumed default a range and a reason."""

import tomllib
from pathlib import Path

import numpy as np
from pydantic import BaseModel

from rassim.scenario import Scenario
from rassim.sensitivity.design import load_study, sobol_design

FILE = Path(__file__).parents[2] / "experiments" / "assumptions.toml"


def _assumed(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Keys whose source says "assumption", or whose description does."""
    found = []
    for name, field in model.model_fields.items():
        key = f"{prefix}{name}"
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found += _assumed(field.annotation, f"{key}.")
            continue
        extra = field.json_schema_extra if isinstance(field.json_schema_extra, dict) else {}
        source = str(extra.get("source", ""))
        if source.startswith("assumption") or "assumption" in (field.description or ""):
            found.append(key)
    return found


def test_every_assumed_default_has_a_range_and_a_reason() -> None:
    entries = tomllib.loads(FILE.read_text())["uncertain"]
    keys = [entry["key"] for entry in entries]
    assumed = _assumed(Scenario)
    assert len(assumed) > 20
    missing = [k for k in assumed if not any(x == k or x.startswith(f"{k}.") for x in keys)]
    assert missing == [], f"assumed defaults without a range in {FILE.name}: {missing}"
    assert all(len(entry.get("reason", "")) > 10 for entry in entries)
    assert len(load_study(FILE).parameters) == len(entries)


def test_sobol_halves_are_paired_at_random() -> None:
    """In 59 dimensions with 64 samples the halves of a Sobol' sequence are correlated row
    by row (|r| up to 0.98 for some parameter); the design pairs them at random, so no
    column of B follows A's more than chance allows (|r| < 4 / sqrt(N))."""
    study = load_study(FILE)
    design = sobol_design(study, [p.key for p in study.parameters[:4]])
    width = len(design.groups) + 2
    a, b = design.unit[0::width], design.unit[width - 1 :: width]
    r = [abs(np.corrcoef(a[:, j], b[:, j])[0, 1]) for j in range(a.shape[1])]
    assert max(r) < 4 / np.sqrt(len(a)), max(r)
