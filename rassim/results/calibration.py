"""A run's fleet figures set against the published field studies (docs/calibration.md).

Three figures the field studies report per year, computed from a run's tables at field
scale (divided by ``memory.acceleration``) with exact intervals:

- the share of servers with at least one UE (Schroeder, Pinheiro & Weber 2009);
- the share of DIMMs with at least one UE (same study, per DIMM);
- UE-driven host crashes per server-year: bounded above by the share of servers with a
  UE, since in the studied fleets a UE "typically lead[s] to a catastrophic failure".

A figure is *consistent* with the field when its interval meets the published range.
Injected (EINJ) UEs are not field errors and are left out. A UE of the direct rate is on
the DIMM holding its host address; a DRAM fault is on the DIMM holding its rank.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from rassim.results.stats import binomial_interval, poisson_interval
from rassim.run import RunResult

YEAR_NS = 365.25 * 86400 * 10**9


@dataclass(frozen=True)
class Published:
    """A per-year figure of the field studies: the range they report and where."""

    name: str
    label: str
    low: float
    high: float
    source: str


PUBLISHED: dict[str, Published] = {
    p.name: p
    for p in (
        Published(
            "servers_with_ue",
            "servers with >= 1 UE per year",
            0.0129,
            0.0415,
            "Schroeder, Pinheiro & Weber, SIGMETRICS 2009, Sec. 3.1 and Table 1: 1.29% of "
            "machines fleet-wide, platforms up to 4.15% ('some platforms seeing as many as "
            "2-4%')",
        ),
        Published(
            "dimms_with_ue",
            "DIMMs with >= 1 UE per year",
            0.0005,
            0.0039,
            "Schroeder, Pinheiro & Weber, SIGMETRICS 2009, Table 1: 0.22% of DIMMs "
            "fleet-wide, 0.05% (platform A) to 0.39% (platform F)",
        ),
        Published(
            "host_crashes",
            "UE-driven host crashes per server-year",
            0.0,
            0.0129,
            "Schroeder, Pinheiro & Weber, CACM 54(2) 2011, p. 103: UEs 'typically lead to a "
            "catastrophic failure' (machine shutdown), so at most the 1.29% of machines "
            "with a UE per year",
        ),
    )
}


@dataclass(frozen=True)
class FieldFigure:
    """One figure of a run at field scale, with its interval, against the field range."""

    published: Published
    value: float
    ci_low: float
    ci_high: float
    count: int  # servers, DIMMs or crashes counted
    exposure: float  # servers, DIMMs or server-years

    @property
    def consistent(self) -> bool:
        """The interval meets the published range."""
        return self.ci_low <= self.published.high and self.ci_high >= self.published.low


def field_figures(result: RunResult, confidence: float = 0.99) -> list[FieldFigure]:
    """The figures of :data:`PUBLISHED` for ``result``, per field-equivalent year.

    A share over a run of ``t`` field-equivalent years (duration x acceleration) becomes a
    share per year as ``1 - (1 - share) ** (1 / t)``, which holds for Poisson arrivals
    per server (and DIMM); the exact (Clopper-Pearson) interval maps the same way. It says
    little once nearly every server has a UE. Crashes get the exact Poisson interval of
    their count.
    """
    scenario = result.scenario
    memory = scenario.memory
    hosts = scenario.fleet.hosts
    years = scenario.duration * memory.acceleration / YEAR_NS
    ues = result.ues[result.ues["source"] != "einj"]
    faults = result.faults[result.faults["uncorrected"].astype(bool)]
    dimm_bytes = memory.rank_bytes * memory.ranks_per_dimm
    rated = ues[ues["source"] == "rate"]  # one page anywhere: DIMMs hold consecutive ranks
    dimms = pd.concat(
        [
            pd.DataFrame({"host": rated["host"], "dimm": rated["hpa"] // dimm_bytes}),
            pd.DataFrame({"host": faults["host"], "dimm": faults["rank"] // memory.ranks_per_dimm}),
        ]
    )
    crashes = int(result.summary["host_panics"])
    low, high = poisson_interval(crashes, confidence)
    return [
        _share(PUBLISHED["servers_with_ue"], ues["host"].nunique(), hosts, years, confidence),
        _share(
            PUBLISHED["dimms_with_ue"],
            len(dimms.drop_duplicates()),
            hosts * memory.dimms,
            years,
            confidence,
        ),
        FieldFigure(
            PUBLISHED["host_crashes"],
            crashes / (hosts * years),
            low / (hosts * years),
            high / (hosts * years),
            crashes,
            hosts * years,
        ),
    ]


def _share(
    published: Published, count: int, units: int, years: float, confidence: float
) -> FieldFigure:
    low, high = binomial_interval(count, units, confidence)

    def per_year(share: float) -> float:
        return 1 - (1 - share) ** (1 / years)

    return FieldFigure(
        published,
        per_year(count / units),
        per_year(low),
        per_year(high),
        count,
        units,
    )


def comparison_table(figures: list[FieldFigure]) -> pd.DataFrame:
    """One row per figure: the run's value and interval against the published range."""
    return pd.DataFrame(
        {
            "figure": [f.published.label for f in figures],
            "rassim": [f.value for f in figures],
            "ci_low": [f.ci_low for f in figures],
            "ci_high": [f.ci_high for f in figures],
            "published_low": [f.published.low for f in figures],
            "published_high": [f.published.high for f in figures],
            "consistent": [f.consistent for f in figures],
        }
    )
