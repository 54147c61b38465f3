"""Which figures a results directory gets, in reading order, each with its caption.

Every figure is attempted; one whose inputs the directory lacks raises
:class:`~rassim.report.series.Unavailable` and the report lists it as skipped, with why.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from matplotlib.figure import Figure

from rassim.report import distributions, figures, sensitivity, timeline
from rassim.report.results import Results, Study
from rassim.report.series import follows
from rassim.report.style import POLICY_COLUMN, factor_label, numeric


@dataclass(frozen=True)
class Planned:
    """A figure to draw: its file name (no suffix), title, caption and how to draw it."""

    name: str
    title: str
    caption: str
    draw: Callable[..., Figure]  # of Results, or of a Study for the STUDY figures


MAIN = (
    Planned(
        "outcomes_vs_ue_rate",
        "Recovery and interruptions vs UE rate",
        "Per-UE recovery rate, VM interruptions per 1,000 VM-years and goodput against the UE "
        "rate, one line per KVM policy; shaded bands are 95% confidence intervals, pooled "
        "over every host of every run.",
        figures.outcomes_vs_ue_rate,
    ),
    Planned(
        "recovery_vs_kernel_share",
        "Recovery vs guest kernel share",
        "Share of consumed UEs recovered without an outage, and VM interruptions per 1,000 "
        "VM-years, against the guest kernel's share of guest RAM; shaded bands are 95% "
        "confidence intervals.",
        figures.recovery_vs_kernel_share,
    ),
    Planned(
        "recovery_vs_event_survival",
        "Per-UE recovery vs event-weighted survival",
        "Each point's recovery rate (filled: the share of consumed UEs none of whose events "
        "took a VM or host down) beside its event-weighted VM survival (hollow: the share of "
        "consumption events after which the VM kept running, a UE counted once per event), "
        "with 95% confidence intervals. Repeat consumptions push the hollow marker right of "
        "the filled one; where lines cross, the two rank points differently (the verdict "
        "says why).",
        figures.recovery_vs_event_survival,
    ),
    Planned(
        "blast_radius",
        "Blast radius per consumed UE",
        "Each consumed UE counted once, at the worst outcome of all its events, as shares of "
        "the consumed UEs per point; error bars are 95% confidence intervals of the "
        "cumulative share at each segment boundary, pooled over every host of every run.",
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
        "Memory retired by backing page size",
        "Memory retired by offlining, in KiB per TiB of host memory per year (field-scaled), "
        "by the guest's backing page size (log scale); error bars are 95% confidence "
        "intervals.",
        figures.memory_lost_by_page_size,
    ),
    Planned(
        "downtime",
        "VM downtime per VM-year",
        "Boxes: quartiles over VMs of each VM's downtime in minutes per VM-year "
        "(field-scaled); diamonds: the estimate pooled over all VMs with its 95% confidence "
        "interval.",
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


STUDY = (
    Planned(
        "screening",
        "Which assumptions matter",
        "Morris screening: the mean absolute elementary effect (mu*) of each assumption on "
        "each metric's difference between the arms, relative to the metric's largest; rows "
        "ranked by their largest value. Faded italic: the bootstrap interval reaches zero, so "
        "simulation noise may explain the value. Starred: the assumptions given their own "
        "Sobol indices.",
        sensitivity.screening,
    ),
    Planned(
        "sobol",
        "How much each assumption decides",
        "Sobol indices of each metric's difference: S1, the share of its variance an "
        "assumption explains alone, and ST, including its interactions; the screened-out "
        "assumptions vary together as one group. Whiskers are bootstrap intervals. Simulation "
        "noise is part of the variance, so the indices sum to less than one by its share.",
        sensitivity.sobol_bars,
    ),
    Planned(
        "verdict",
        "The verdict over the assumptions",
        "In how many independent samples of the assumptions the candidate arm did better, "
        "the same or worse than the baseline on each metric, both on common random numbers; "
        "whiskers are exact (Clopper-Pearson) intervals of the better and worse shares.",
        sensitivity.verdict_shares,
    ),
    Planned(
        "regions",
        "Where the verdict flips",
        "Every sample of the last stage (not only the independent ones the verdict counts) "
        "placed by the two assumptions that most influence the metric's difference, coloured "
        "by whether the candidate arm did better, the same or worse: the colours change "
        "where the verdict flips.",
        sensitivity.verdict_regions,
    ),
)


def plan(results: Results | Study) -> list[Planned]:
    """The main figures, then one figure per other swept factor with a numeric or ordered
    axis; if no figure has a factor on its axis (only categories were swept, such as the
    VMM strategy), a side-by-side comparison of every point."""
    if isinstance(results, Study):
        return list(STUDY)
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
                    "and other factor; shaded bands are 95% confidence intervals, pooled "
                    "over every host of every run.",
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
