"""Figures and an HTML report from result tables (``rassim report``).

It reads result directories only and never imports SimPy, the model or
:mod:`rassim.run`. Everything is imported on first use, so that the command line (which
imports :mod:`rassim.report.command`) does not pay for matplotlib until it draws.

    from rassim.report import load, figures
    results = load("results/ue-rate")
    figures.outcomes_vs_ue_rate(results)
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rassim.report import distributions, figures, timeline, verdict
    from rassim.report.build import build_report
    from rassim.report.results import Results, discover, load
    from rassim.report.series import Unavailable

_LAZY = {
    "build_report": "rassim.report.build",
    "Results": "rassim.report.results",
    "discover": "rassim.report.results",
    "load": "rassim.report.results",
    "Unavailable": "rassim.report.series",
}
_MODULES = ("distributions", "figures", "timeline", "catalog", "style", "tables", "verdict")

__all__ = [
    "Results",
    "Unavailable",
    "build_report",
    "discover",
    "distributions",
    "figures",
    "load",
    "timeline",
    "verdict",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    if name in _MODULES:
        return import_module(f"rassim.report.{name}")
    raise AttributeError(f"module 'rassim.report' has no attribute {name!r}")
