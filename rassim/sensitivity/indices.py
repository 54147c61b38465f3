"""Sensitivity indices computed by SALib from one output per sample, as tidy rows.

Morris (Campolongo et al. 2007): ``mu_star``, the mean absolute elementary effect, ranks
the parameters (its bootstrap interval from SALib); ``mu`` and ``sigma`` tell monotone
effects from interacting or non-linear ones. Effects are per unit of the parameter's
probability scale, so they compare across parameters of any unit.

Sobol (Saltelli et al. 2010 estimators): ``S1``, the share of the output variance due to
a parameter alone, and ``ST``, including all its interactions; intervals are SALib's
bootstrap (normal approximation at the study's confidence).

An output that is undefined in some sample (NaN) or the same in every sample has no
indices: its rows carry NaN and a note saying why.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd

from rassim.sensitivity.design import Design

COLUMNS = (
    "method",
    "metric",
    "parameter",
    "parameters",
    "index",
    "value",
    "ci_low",
    "ci_high",
    "rank",
    "note",
)
RANKED = {"morris": "mu_star", "sobol": "ST"}


def indices(
    design: Design,
    outputs: dict[str, np.ndarray],
    resamples: int,
    confidence: float,
    seed: int,
) -> pd.DataFrame:
    """Indices of every output (metric -> one value per design row) in tidy rows."""
    rows: list[dict[str, Any]] = []
    kinds: tuple[str, ...]
    for metric, y in outputs.items():
        note = _undefined(y)
        if design.method == "morris":
            found = None if note else _morris(design, y, resamples, confidence, seed)
            names = {key: [key] for key in design.problem["names"]}
            kinds = ("mu_star", "mu", "sigma")
        else:
            found = None if note else _sobol(design, y, resamples, confidence, seed)
            names = _members(design)
            kinds = ("S1", "ST")
        for index in kinds:
            values = found[index] if found else {g: (np.nan, np.nan, np.nan) for g in names}
            ranks = _ranks({g: v[0] for g, v in values.items()})
            for group, (value, low, high) in values.items():
                rows.append(
                    {
                        "method": design.method,
                        "metric": metric,
                        "parameter": group,
                        "parameters": ", ".join(names[group]),
                        "index": index,
                        "value": value,
                        "ci_low": low,
                        "ci_high": high,
                        "rank": ranks[group] if index == RANKED[design.method] else pd.NA,
                        "note": note,
                    }
                )
    frame = pd.DataFrame(rows, columns=list(COLUMNS))
    frame["rank"] = frame["rank"].astype("Int64")
    return frame


def _undefined(y: np.ndarray) -> str | None:
    missing = int(np.isnan(y).sum())
    if missing:
        return f"undefined in {missing} of {len(y)} samples"
    if np.ptp(y) == 0:
        return "the same in every sample"
    return None


def _members(design: Design) -> dict[str, list[str]]:
    """Each Sobol group's parameters (a parameter alone is its own group)."""
    keys = design.problem["names"]
    groups = design.problem.get("groups") or keys
    members: dict[str, list[str]] = {}
    for key, group in zip(keys, groups, strict=True):
        members.setdefault(group, []).append(key)
    return members


def _ranks(values: dict[str, float]) -> dict[str, Any]:
    """1 for the largest value, ties sharing the best rank; NaN values get no rank."""
    ranks = pd.Series(values, dtype=np.float64).rank(ascending=False, method="min")
    return {str(g): pd.NA if r != r else int(r) for g, r in ranks.items()}


def _morris(
    design: Design, y: np.ndarray, resamples: int, confidence: float, seed: int
) -> dict[str, dict[str, tuple[float, float, float]]]:
    from SALib.analyze import morris

    result = morris.analyze(
        design.problem,
        design.unit,
        y,
        num_resamples=resamples,
        conf_level=confidence,
        num_levels=design.levels,
        seed=seed,
    )
    names = design.problem["names"]
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    star, half = np.asarray(result["mu_star"]), np.asarray(result["mu_star_conf"])
    out["mu_star"] = {
        n: (star[i], star[i] - half[i], star[i] + half[i]) for i, n in enumerate(names)
    }
    for index in ("mu", "sigma"):
        values = np.asarray(result[index])
        out[index] = {n: (values[i], np.nan, np.nan) for i, n in enumerate(names)}
    return out


def _sobol(
    design: Design, y: np.ndarray, resamples: int, confidence: float, seed: int
) -> dict[str, dict[str, tuple[float, float, float]]]:
    from SALib.analyze import sobol

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # SALib's own 0/0 guards
        result = sobol.analyze(
            design.problem,
            y,
            calc_second_order=False,
            num_resamples=resamples,
            conf_level=confidence,
            seed=seed,
        )
    out: dict[str, dict[str, tuple[float, float, float]]] = {}
    for index in ("S1", "ST"):
        values, half = np.asarray(result[index]), np.asarray(result[f"{index}_conf"])
        out[index] = {
            g: (values[i], values[i] - half[i], values[i] + half[i])
            for i, g in enumerate(design.groups)
        }
    return out


def screening(table: pd.DataFrame, metrics: list[str]) -> pd.DataFrame:
    """The Morris screening over ``metrics``, one row per parameter, most influential
    first: ``influence`` is its largest ``mu_star`` relative to the metric's largest, so a
    parameter that matters for any metric ranks high; ties keep the file's order.
    Metrics without indices are skipped."""
    star = table[(table["index"] == "mu_star") & table["metric"].isin(metrics)]
    star = star[star["value"].notna()]
    scale = star.groupby("metric")["value"].transform("max")
    star = star.assign(influence=(star["value"] / scale.where(scale > 0)).fillna(0.0))
    found = star.groupby("parameter", sort=False)["influence"].max()
    found = found.sort_values(ascending=False, kind="stable").reset_index()
    found["screening_rank"] = range(1, len(found) + 1)
    return found


def screen(table: pd.DataFrame, metrics: list[str], top: int) -> list[str]:
    """The ``top`` parameters of a Morris screening (:func:`screening`)."""
    return screening(table, metrics)["parameter"].head(top).tolist()
