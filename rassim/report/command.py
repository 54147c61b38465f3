"""``rassim report RESULTS_DIR [--out DIR]``: the command-line face of :func:`build_report`.

Importing this module is cheap (no matplotlib, pandas or model); the work is imported
when the command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def register(subparsers) -> None:
    """Add the ``report`` subcommand to the ``rassim`` argument parser's subparsers."""
    report = subparsers.add_parser(
        "report",
        help="draw the figures and a self-contained HTML report of sweep or run results",
        description=(
            "Read a sweep directory (`rassim sweep`), a run directory (`rassim run`), a "
            "sensitivity study (`rassim sensitivity`) or a directory of them, and write PNG "
            "and SVG figures and one self-contained "
            "report.html: a verdict first (which policy or strategy is better, by how much, "
            "with intervals), then figures, every metric with its 95% interval, parameters."
        ),
    )
    report.add_argument("results_dir", type=Path, metavar="RESULTS_DIR", help="results to report")
    report.add_argument(
        "--out",
        type=Path,
        metavar="DIR",
        help=(
            "output directory (default RESULTS_DIR/report); it may only hold an earlier "
            "report, which is replaced"
        ),
    )
    report.add_argument(
        "--quiet", "-q", action="store_true", help="no progress bar (shown only on a terminal)"
    )
    report.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Handler of ``rassim report``; returns the exit code. Bad input raises ConfigError."""
    from rassim.report.build import build_report

    page = build_report(
        args.results_dir, args.out, getattr(args, "argv", None), progress=not args.quiet
    )
    figures = sorted(p.relative_to(page.parent) for p in page.parent.rglob("*.png"))
    print(f"{len(figures)} figure(s) and {page.name} in {page.parent}/")
    return 0
