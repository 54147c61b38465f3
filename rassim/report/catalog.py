"""Which figures a results directory gets, in reading order, each with its caption.

Every figure is attempted; one whose inputs the directory lacks raises
:class:`~rassim.report.series.Unavailable` and the report lists it as skipped, with why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from matplotlib.figure import Figure

from rassim.report import distributions, figures, timeline
from rassim.report.results import Results
from rassim.report.series import follows
from rassim.report.style import POLICY_COLUMN, factor_label, numeric


@dataclass(frozen=True)
class Planned:
    """A figure to draw: its file name (no suffix), title, caption and how to draw it."""

    name: str
    title: str
    caption: str
    draw: Callable[[Results], Figure]


MAIN = (
    Planned(
        "goodput_vs_ue_rate",
        "Goodput vs UE rate",
        "Guest goodput (work done over work possible) and VM survival against the UE rate, "
        "one line per KVM policy; shaded bands are 95% confidence intervals of the mean.",
        figures.goodput_vs_ue_rate,
    ),
    Planned(
        "survival_vs_kernel_share",
        "VM survival vs guest kernel share",
        "Share of guest-context consumption events after which the VM kept running, against "
        "the guest kernel's share of guest RAM; shaded bands are 95% confidence intervals.",
        figures.survival_vs_kernel_share,
    ),
    Planned(
        "blast_radius",
        "Blast radius",
        "What each consumed error cost, as shares of all consumed-error events per point "
        "(scrubbed or predicted offlines left out); error bars are 95% confidence intervals "
        "of the cumulative share at each segment boundary, over runs.",
        distributions.blast_radius,
    ),
    Planned(
        "latency_cdf",
        "Handling latency",
        "Empirical CDF of the time from consumption to resolution, per KVM policy, all points "
        "pooled; the band is the 95% Dvoretzky-Kiefer-Wolfowitz confidence band.",
        distributions.latency_cdf,
    ),
    Planned(
        "memory_lost_by_page_size",
        "Memory lost by backing page size",
        "Memory retired by offlining per run, by the guest's backing page size (log scale); "
        "error bars are 95% confidence intervals of the mean.",
        figures.memory_lost_by_page_size,
    ),
    Planned(
        "downtime",
        "Downtime distribution",
        "Boxes: quartiles of downtime (per VM from vms.parquet, else per run); diamonds: the "
        "mean over runs with its 95% confidence interval.",
        distributions.downtime,
    ),
    Planned(
        "timeline",
        "One error, layer by layer",
        "The hops of one representative error (the one crossing the most layers, preferring "
        "an APEI-claimed or exit-to-VMM one), with the message kind and flight time on each "
        "arrow; grey arrows go back up the stack.",
        timeline.timeline,
    ),
)
# Factors the main figures already plot on their x axis.
COVERED = ("memory_ue_rate", "guest_memory_map_guest_kernel", "guest_backing_page")


def plan(results: Results) -> list[Planned]:
    """The main figures, then one figure per other swept factor with a numeric or ordered
    axis; if no figure has a factor on its axis (only categories were swept, such as the
    VMM strategy), a side-by-side comparison of every point."""
    planned = list(MAIN)
    axes = [c for c in COVERED if c in results.varying()]
    categories = []
    for column in results.varying(exclude=(POLICY_COLUMN,)):
        if column in axes or follows(results, column, axes):
            continue
        values = results.aggregate[column].unique().tolist()
        numbers = sum(numeric(column, [v]) is not None for v in values)
        if numbers * 2 >= len(values) and numbers >= 2:
            axes.append(column)
            planned.append(
                Planned(
                    f"metrics_vs_{column}",
                    f"Outcomes vs {factor_label(column)}",
                    f"Key metrics against {factor_label(column)}, one line per KVM policy "
                    "and other factor; shaded bands are 95% confidence intervals of the mean.",
                    partial(figures.metric_vs_factor, factor=column),
                )
            )
        else:
            categories.append(column)
    if categories and not axes:
        planned.append(
            Planned(
                "point_comparison",
                "Every point side by side",
                "Key metrics of every point with 95% confidence intervals, labels coloured "
                "by KVM policy.",
                figures.point_comparison,
            )
        )
    return planned
