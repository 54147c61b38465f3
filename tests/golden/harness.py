"""Golden scenarios: the distributions a run produces, recorded once on a baseline commit
and compared with the current code.

A refactor may change the order in which random numbers are drawn, so the tables of one
seed change; the distributions may not. :func:`observe` reduces the runs of a scenario
to what must stay the same (outcome, event-kind and UE-state counts, handling latencies,
events per host, VM crashes and host panics); :func:`compare` tests the current code's
observation against the recorded one: chi-square homogeneity and per-category binomial
bounds on the counts, two-sample Kolmogorov-Smirnov on latencies (with effective sample
sizes: a run's latencies are clustered) and on per-host counts.

This module runs under both the baseline and the current code (``record_reference.py``
imports it with the baseline on ``PYTHONPATH``), so it uses only ``rassim.simulate``,
``rassim.Scenario`` and the result tables' columns.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
SCENARIOS = HERE / "scenarios"
REFERENCE = HERE / "reference.json"
BASELINE = "5a18884"  # the last commit before the layers became SimPy processes

REFERENCE_SEEDS = range(1000, 1040)  # recorded once, offline: a tight reference
TEST_SEEDS = range(1, 17)  # what the test suite runs: about two seconds per scenario
LATENCY_SAMPLE = 4000  # a reference keeps at most this many latencies (KS needs no more)

COUNTED = ("outcome", "kind")  # error-table columns whose value counts are compared
TOTALS = ("vm_crashes", "vm_restarts", "host_panics")  # summary counts compared per run
Observation = dict[str, Any]


def scenario_names() -> list[str]:
    return sorted(path.stem for path in SCENARIOS.glob("*.toml"))


def load(name: str):
    """The golden scenario ``name`` (read with ``rassim.Scenario`` of whichever code runs)."""
    from rassim import Scenario

    return Scenario.model_validate(tomllib.loads((SCENARIOS / f"{name}.toml").read_text()))


def observe(name: str, seeds: range, scenario=None) -> Observation:
    """Run scenario ``name`` (or ``scenario`` in its place) once per seed and keep what
    must not change, per run."""
    import rassim

    scenario = scenario if scenario is not None else load(name)
    runs: dict[str, list[dict[str, int]]] = {column: [] for column in (*COUNTED, "ue_state")}
    latencies: list[np.ndarray] = []
    per_host: list[int] = []
    totals: dict[str, list[int]] = {key: [] for key in TOTALS}
    for seed in seeds:
        result = rassim.simulate(scenario, seed=seed)
        errors, ues = result.errors, result.ues
        for column in COUNTED:
            runs[column].append(_counts(errors[column]))
        runs["ue_state"].append(_counts(ues["state"]))
        latencies.append(errors["latency_ns"].to_numpy(dtype=np.int64))
        hosts = errors["host"].value_counts().reindex(range(scenario.fleet.hosts), fill_value=0)
        per_host += [int(n) for n in hosts]
        for key in TOTALS:
            totals[key].append(int(result.summary[key]))
    return {
        "seeds": [seeds.start, seeds.stop],
        "runs": runs,
        "latency_ns": np.concatenate(latencies).tolist(),
        "latency_runs": [len(run) for run in latencies],  # each run's share of them, in order
        "events_per_host": per_host,
        "totals": totals,
    }


def _counts(column) -> dict[str, int]:
    return {str(key): int(value) for key, value in column.value_counts().items()}


def thin(observation: Observation, size: int = LATENCY_SAMPLE) -> Observation:
    """The observation with at most ``size`` latencies (a fixed-seed random subset)."""
    latencies = np.asarray(observation["latency_ns"], dtype=np.int64)
    if len(latencies) > size:
        keep = np.random.default_rng(0).choice(len(latencies), size, replace=False)
        latencies = np.sort(latencies[keep])
    kept = {key: value for key, value in observation.items() if key != "latency_runs"}
    return {**kept, "latency_ns": latencies.tolist()}  # runs no longer split the subset


def read_reference() -> dict[str, Observation]:
    return json.loads(REFERENCE.read_text())["scenarios"]


# -- the comparison -------------------------------------------------------------------------
ALPHA = 1e-3  # per check; every check of every scenario is a separate test
Z = 4.0  # per-category bound: |difference of shares| within 4 standard errors


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str


def compare(reference: Observation, current: Observation) -> list[Check]:
    """Every check of ``current`` against ``reference`` (both from :func:`observe`).

    Events of one run are not independent (a permanent UE is consumed again and again, a
    VM crash ends every event in flight on it), so binomial variances are inflated by the
    design effect measured between runs (Rao-Scott): a share's variance across runs over
    the variance it would have if every event were independent. The runs of both samples
    count (each about its own shares): under the hypothesis tested they come from one
    model, and a heavy run of the current code (a crash loop) is evidence of the variance
    too. On the current code at other seeds, the reference's runs alone failed 2 of 12
    blocks of 16 seeds of ``no-feat-ras`` (z up to 5.8); both samples' runs, none."""
    from scipy import stats

    checks = []
    for column, ref_runs in reference["runs"].items():
        cur_runs = current["runs"][column]
        keys = sorted({key for run in ref_runs + cur_runs for key in run})
        ref = np.array([[run.get(k, 0) for k in keys] for run in ref_runs])
        cur = np.array([[run.get(k, 0) for k in keys] for run in cur_runs])
        effect = design_effects(ref, cur)
        table = np.array([ref.sum(axis=0), cur.sum(axis=0)])
        if len(keys) > 1:
            statistic = stats.chi2_contingency(table, correction=False).statistic
            p = stats.chi2.sf(statistic / effect.mean(), len(keys) - 1)
            checks.append(Check(f"{column} shares (chi-square)", p > ALPHA, f"p = {p:.3g}"))
        n = (int(table[0].sum()), int(table[1].sum()))
        for i, key in enumerate(keys):
            k = (int(table[0, i]), int(table[1, i]))
            checks.append(_share_bound(column, key, n, k, effect[i]))
    checks.append(_latency_ks(reference, current))
    ref, cur = np.asarray(reference["events_per_host"]), np.asarray(current["events_per_host"])
    p = stats.ks_2samp(ref, cur).pvalue if len(ref) and len(cur) else 1.0
    checks.append(Check("events_per_host (two-sample KS)", p > ALPHA, f"p = {p:.3g}"))
    for key in TOTALS:
        checks.append(_rate_bound(key, reference["totals"][key], current["totals"][key]))
    return checks


def _latency_ks(reference: Observation, current: Observation) -> Check:
    """Two-sample KS on the handling latencies, with effective sample sizes. A run's
    latencies are not independent (a crash loop repeats one path many times), so each
    sample counts as its size over the design effect of the latency distribution: that
    of the shares of the reference's deciles, measured between the current runs (the
    reference keeps no runs of its latencies; under the null hypothesis both come from
    the same runs). The reference's latencies are a random subset of its events: its
    effective size combines the subset's and the clustered whole's."""
    from scipy import stats

    name = "latency_ns (two-sample KS, effective sizes)"
    ref, cur = np.asarray(reference["latency_ns"]), np.asarray(current["latency_ns"])
    if not (len(ref) and len(cur)):
        return Check(name, True, "no latencies")
    runs = np.split(cur, np.cumsum(current["latency_runs"])[:-1])
    edges = np.quantile(ref, np.linspace(0, 1, 11)[1:-1])
    deciles = np.array(
        [np.bincount(np.searchsorted(edges, run, "right"), minlength=10) for run in runs]
    )
    effect = float(design_effects(deciles).mean())
    events = sum(sum(run.values()) for run in reference["runs"]["kind"])  # before the subset
    n_ref = 1 / (1 / len(ref) - 1 / events + effect / events)
    n_cur = len(cur) / effect
    statistic = stats.ks_2samp(ref, cur).statistic
    p = float(stats.kstwobign.sf(statistic * math.sqrt(n_ref * n_cur / (n_ref + n_cur))))
    detail = f"p = {p:.3g} (D = {statistic:.3g}, design effect {effect:.2g})"
    return Check(name, p > ALPHA, detail)


def design_effects(*samples: np.ndarray) -> np.ndarray:
    """Per category: the variance of its share between the runs of a sample (a ratio
    estimator over runs of different sizes), pooled within the ``samples`` (rows: runs,
    columns: categories), over the binomial variance of the pooled share; at least 1.
    Under the hypothesis that the samples come from the same model, every sample's runs
    tell of the variance: a heavy run (a crash loop) in either counts."""
    runs = np.vstack(samples)
    total = runs.sum()
    degrees = len(runs) - len(samples)
    if degrees < 1 or total == 0:
        return np.ones(runs.shape[1])
    shares = runs.sum(axis=0) / total
    squares = np.zeros(runs.shape[1])
    for sample in samples:
        size = sample.sum(axis=1)
        own = sample.sum(axis=0) / max(size.sum(), 1)
        squares += ((sample - np.outer(size, own)) ** 2).sum(axis=0)
    between = len(runs) / degrees * squares / total**2
    binomial = shares * (1 - shares) / total
    with np.errstate(divide="ignore", invalid="ignore"):
        effect = np.where(binomial > 0, between / binomial, 1.0)
    return np.maximum(effect, 1.0)


def _share_bound(
    column: str, key: str, n: tuple[int, int], k: tuple[int, int], effect: float
) -> Check:
    """The share of ``key`` in the two samples differs by at most ``Z`` pooled binomial
    standard errors, inflated by the design effect."""
    name = f"{column} = {key} share"
    if min(n) == 0:
        return Check(name, n[0] == n[1], f"{n[0]} vs {n[1]} events")
    shares = (k[0] / n[0], k[1] / n[1])
    p = (k[0] + k[1]) / (n[0] + n[1])
    se = math.sqrt(effect * p * (1 - p) * (1 / n[0] + 1 / n[1]))
    z = abs(shares[1] - shares[0]) / se if se else 0.0
    detail = f"{k[0]}/{n[0]} = {shares[0]:.4f} vs {k[1]}/{n[1]} = {shares[1]:.4f}"
    detail += f" (z = {z:.2f}, design effect {effect:.2g})"
    return Check(name, z <= Z, detail)


def _rate_bound(key: str, reference: list[int], current: list[int]) -> Check:
    """Counts per run (VM crashes, panics) agree: the means differ by at most ``Z``
    standard errors of a Poisson count, inflated by the dispersion index of the runs of
    both samples (each about its own mean)."""
    ref, cur = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    pooled = (ref.sum() + cur.sum()) / (len(ref) + len(cur))
    if pooled == 0:
        return Check(f"{key} per run", True, "none in either")
    both = np.concatenate([ref - ref.mean(), cur - cur.mean()])
    variance = (both**2).sum() / (len(both) - 2) if len(both) > 2 else pooled
    dispersion = max(1.0, variance / pooled)
    se = math.sqrt(dispersion * pooled * (1 / len(ref) + 1 / len(cur)))
    z = abs(cur.mean() - ref.mean()) / se
    detail = f"{ref.mean():.3g} vs {cur.mean():.3g} per run (z = {z:.2f})"
    return Check(f"{key} per run", z <= Z, detail)
