"""Grouping result rows into what a figure draws: one series per policy (and per value of
the other factors), point labels, and the checks that say why a figure cannot be drawn."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd

from rassim.report.results import Results
from rassim.report.style import (
    LINESTYLES,
    MARKERS,
    POLICY_COLOURS,
    POLICY_COLUMN,
    factor_label,
    policy_colour,
    show_value,
)


class Unavailable(Exception):
    """A figure the directory has no inputs for; the message says what is missing."""


@dataclass(frozen=True)
class Series:
    """Rows of one line (or bar group): one policy and one combination of other factors."""

    label: str
    policy: str
    colour: str
    linestyle: str
    marker: str
    rows: pd.DataFrame


def policy_rank(policy: object) -> int:
    order = list(POLICY_COLOURS)
    return order.index(str(policy)) if str(policy) in order else len(order)


def series(
    results: Results, frame: pd.DataFrame, exclude: tuple[str, ...] = ()
) -> Iterator[Series]:
    """Split ``frame`` by policy and by every other factor that varies (except ``exclude``).

    The policy sets the colour; the other factors set line style and marker, so one policy
    keeps one colour in every figure.
    """
    others = [
        c
        for c in results.varying(exclude=(*exclude, POLICY_COLUMN))
        if c in frame.columns and not follows(results, c, exclude)
    ]
    frame = frame if POLICY_COLUMN in frame.columns else frame.assign(**{POLICY_COLUMN: "?"})
    keys = [POLICY_COLUMN, *others]
    combos = frame[others].drop_duplicates().apply(tuple, axis=1).tolist() if others else [()]
    groups = []
    for key, rows in frame.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        policy, rest = str(key[0]), tuple(key[1:])
        style = combos.index(rest) if rest in combos else 0
        label = ", ".join([policy, *(show_value(c, v) for c, v in zip(others, rest, strict=True))])
        groups.append((policy_rank(policy), style, label, policy, rows))
    for _, style, label, policy, rows in sorted(groups, key=lambda g: g[:2]):
        yield Series(
            label=label,
            policy=policy,
            colour=policy_colour(policy),
            linestyle=LINESTYLES[style % len(LINESTYLES)],
            marker=MARKERS[style % len(MARKERS)],
            rows=rows,
        )


def follows(results: Results, column: str, others: tuple[str, ...] | list[str]) -> bool:
    """True if ``column`` varies in lockstep with one of ``others`` (the factors were set
    together, e.g. the guest kernel and anonymous shares of guest RAM)."""
    table = results.aggregate
    for other in others:
        if other == column or other not in table.columns:
            continue
        pairs = len(table[[column, other]].drop_duplicates())
        if pairs == table[column].nunique(dropna=False) == table[other].nunique(dropna=False):
            return True
    return False


def point_labels(results: Results, exclude: tuple[str, ...] = ()) -> dict[int, str]:
    """``point_id`` -> a short multi-line label: the policy, then the other factor values."""
    table = results.aggregate
    others = results.varying(exclude=(*exclude, POLICY_COLUMN))
    labels = {}
    for _, row in table.iterrows():
        parts = [str(row.get(POLICY_COLUMN, ""))] + [show_value(c, row[c]) for c in others]
        labels[int(row["point_id"])] = "\n".join(p for p in parts if p)
    return labels


def points_label(results: Results) -> str:
    """What :func:`point_labels` name, for the axis they label: the KVM policy, then the
    other factors varied (``KVM policy, VMM SEA handling, VMM unmaps the page``)."""
    return ", ".join(factor_label(c) for c in [POLICY_COLUMN, *results.varying((POLICY_COLUMN,))])


def name_points(
    axes, results: Results, ys: np.ndarray, points: list[int], fontsize: float | None = 8
) -> None:
    """Label ``points`` at ``ys`` on the y axis of ``axes``, each label in its KVM
    policy's colour, and name the axis after the factors they list (:func:`points_label`)."""
    labels = point_labels(results)
    text = {} if fontsize is None else {"fontsize": fontsize}
    axes.set_yticks(ys, [labels[p].replace("\n", ", ") for p in points], **text)
    policy = results.aggregate.set_index("point_id").get(POLICY_COLUMN)
    for tick, point in zip(axes.get_yticklabels(), points, strict=True):
        tick.set_color(policy_colour(None if policy is None else policy.get(point)))
    axes.set_ylabel(points_label(results))


def ordered_points(results: Results) -> list[int]:
    """Points ordered by policy, then as the experiment listed them."""
    table = results.aggregate
    policies = table.get(POLICY_COLUMN, pd.Series(["?"] * len(table), index=table.index))
    order = sorted(
        zip(policies.map(policy_rank), table["point_id"].astype(int), strict=True),
    )
    return [point for _, point in order]


def need_metric(results: Results, metric: str) -> None:
    if f"{metric}_mean" not in results.aggregate.columns:
        raise Unavailable(f"needs the metric {metric} (not in aggregate.parquet)")


def need_factor(results: Results, column: str, key: str) -> None:
    """``column`` must be a factor with at least two values."""
    if column not in results.varying():
        if column in results.aggregate.columns:
            values = ", ".join(str(v) for v in results.aggregate[column].unique())
            raise Unavailable(f"needs a sweep over {key} (this directory has only {values})")
        raise Unavailable(f"needs a sweep over {key}")


_WHERE = {
    "errors": 'keep = ["errors"] in the experiment, or `rassim run`',
    "vms": 'keep = ["vms"] in the experiment, or `rassim run`',
    "hops": "`rassim run` with record_hops = true",
}


def need_table(results: Results, name: str) -> pd.DataFrame:
    table = getattr(results, name)
    if table is None:
        raise Unavailable(f"needs {name}.parquet (written by {_WHERE.get(name, 'a run')})")
    if table.empty:
        raise Unavailable(f"{name}.parquet has no rows")
    return table
