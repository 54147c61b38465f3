"""A plain CSV log with the essentials of rasdaemon's records, for logs from elsewhere.

The header names the columns; ``host``, ``timestamp``, ``address`` and ``err_type`` are
required, ``err_count``, ``page_type`` and ``action_result`` optional, in any order::

    host,timestamp,address,err_type,page_type
    node17,2024-03-05 10:22:01 +0100,0x8a3f5c000,Uncorrected,dirty LRU page
    node17,2024-03-05 11:02:44 +0100,0x8a3f5c040,Corrected,

Values follow rasdaemon: ``err_type`` is Corrected / Uncorrected / Deferred / Fatal (any
case), ``address`` a physical address in decimal or ``0x`` hex (empty or 0: unknown),
``page_type`` one of the kernel's ``action_page_types`` strings.
"""

from __future__ import annotations

import csv
from pathlib import Path

from rassim.config import did_you_mean
from rassim.errors import ConfigError
from rassim.replay.records import (
    LoggedError,
    ReadOptions,
    RowProblem,
    Tally,
    error_count,
    error_kind,
    parse_timestamp,
    physical_address,
)

REQUIRED = ("host", "timestamp", "address", "err_type")
OPTIONAL = ("err_count", "page_type", "action_result")


def read_csv(path: Path, options: ReadOptions, skipped: Tally, notes: Tally) -> list[LoggedError]:
    """Every usable row of a CSV log, in file order."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            return _rows(path, csv.reader(handle), options, skipped, notes)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text, so not a CSV log") from None
    except csv.Error as error:
        raise ConfigError(f"{path}: not a readable CSV file: {error}") from None
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None


def _rows(
    path: Path, reader, options: ReadOptions, skipped: Tally, notes: Tally
) -> list[LoggedError]:
    header = [name.strip() for name in next(reader, [])]
    if not any(header):
        raise ConfigError(f"{path}: empty; a CSV log starts with a header: {','.join(REQUIRED)}")
    for name in header:
        if name not in REQUIRED + OPTIONAL:
            hint = did_you_mean(name, REQUIRED + OPTIONAL)
            raise ConfigError(
                f"{path}: unknown column {name!r}{hint}; columns are "
                f"{', '.join(REQUIRED)} and optionally {', '.join(OPTIONAL)}"
            )
    missing = [name for name in REQUIRED if name not in header]
    if missing:
        raise ConfigError(f"{path}: no {', '.join(missing)} column (header: {','.join(header)})")
    if len(set(header)) < len(header):
        raise ConfigError(f"{path}: a column is named twice (header: {','.join(header)})")
    errors = []
    seen: set[tuple[str, ...]] = set()
    for line, row in enumerate(reader, start=2):
        origin = f"{path.name} line {line}"
        if not any(field.strip() for field in row):
            continue
        if len(row) != len(header):
            skipped.add(f"rows without the header's {len(header)} fields", origin)
            continue
        if tuple(row) in seen:
            skipped.add("duplicate rows (same values)", origin)
            continue
        seen.add(tuple(row))
        values = dict(zip(header, (field.strip() for field in row), strict=True))
        try:
            if not values["host"]:
                raise RowProblem("rows without a host")
            error = LoggedError(
                host=values["host"],
                time_ns=parse_timestamp(values["timestamp"]),
                corrected=error_kind(values["err_type"]),
                count=error_count(values.get("err_count")),
                address=physical_address(values["address"], options),
                page_type=values.get("page_type") or None,
                action_result=values.get("action_result") or None,
                origin=origin,
            )
        except RowProblem as problem:
            skipped.add(str(problem), origin)
            continue
        if error.address is None:
            notes.add("errors without an address (0): page left to the memory map", origin)
        errors.append(error)
    return errors
