"""The ``rassim`` command line."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from rassim import __version__


def build_parser() -> argparse.ArgumentParser:
    """The argument parser for ``rassim`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="rassim",
        description=(
            "Simulate how an uncorrected memory error propagates through an ARM64 "
            "virtualized server (memory, CPU, EL3 firmware, KVM, VMM, guest) and what it "
            "costs under KVM's SError-fallback and exit-to-user SEA policies."
        ),
    )
    parser.add_argument("--version", action="version", version=f"rassim {__version__}")
    parser.add_subparsers(dest="command", metavar="COMMAND")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``rassim`` console script; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
    return 0
