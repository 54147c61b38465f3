"""Reading rasdaemon's SQLite database (``/var/lib/rasdaemon/ras-mc_event.db``), read-only.

The column sets are those rasdaemon's ras-record.c has created in every release from
v0.1 (2013) to v0.8.5 (2026): ``mc_event`` has never changed, and ``memory_failure_event``
(built with ``--enable-memory-failure``, v0.6.7 and later) has not changed since it was
added. rasdaemon appends columns a newer version adds with ``ALTER TABLE``, so columns
are read by name (``docs/replay.md`` lists the statements). The file is opened through
a ``mode=ro`` URI: SQLite then never writes it and never creates a journal beside it.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path

from rassim.errors import ConfigError
from rassim.replay.pagetypes import Placement, placement
from rassim.replay.records import (
    BEYOND_MEMORY,
    LoggedError,
    ReadOptions,
    RowProblem,
    Tally,
    error_count,
    error_kind,
    parse_timestamp,
    physical_address,
)

MC_EVENT = (
    "id",
    "timestamp",
    "err_count",
    "err_type",
    "err_msg",
    "label",
    "mc",
    "top_layer",
    "middle_layer",
    "lower_layer",
    "address",
    "grain",
    "syndrome",
    "driver_detail",
)
MEMORY_FAILURE_EVENT = ("id", "timestamp", "pfn", "page_type", "action_result")
SQLITE_MAGIC = b"SQLite format 3\x00"
DATABASE_NAME = "ras-mc_event.db"  # RAS_DB_FNAME in rasdaemon's configure.ac


@dataclass(frozen=True, slots=True)
class _Failure:
    """One memory_failure_event row: what the host kernel's memory_failure() did."""

    time_ns: int
    pfn: int
    page_type: str | None
    action_result: str | None
    origin: str


def read_database(
    path: Path, host: str, options: ReadOptions, skipped: Tally, notes: Tally
) -> list[LoggedError]:
    """Every usable error of one host's database, in row order; UEs carry the page type
    of their ``memory_failure_event`` where one matches (same pfn, close in time)."""
    _check_header(path)
    try:
        with closing(_connect(path, options.busy_timeout_s)) as db:
            tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
            if "mc_event" not in tables:
                found = ", ".join(sorted(tables)) or "none"
                raise ConfigError(
                    f"{path}: no mc_event table, so not a rasdaemon database (tables: {found})"
                )
            errors = _mc_events(db, path, host, options, skipped, notes)
            if "memory_failure_event" not in tables:
                return errors
            failures = _memory_failures(db, path, skipped, notes)
    except sqlite3.Error as error:
        raise ConfigError(_describe(path, error)) from None
    return _attach_page_types(errors, failures, host, options, skipped, notes)


def _check_header(path: Path) -> None:
    try:
        with path.open("rb") as handle:
            header = handle.read(100)
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from None
    if not header.startswith(SQLITE_MAGIC):
        raise ConfigError(f"{path}: not an SQLite database (nor a .csv log)")
    if len(header) == 100 and header[18] == 2:
        # Reading a WAL database creates -wal and -shm files beside it; rasdaemon never
        # switches to WAL, so this file was converted after it was written.
        raise ConfigError(
            f"{path}: is in WAL journal mode, which rasdaemon never uses, and cannot be read "
            f"without writing beside it; convert a copy first: sqlite3 COPY "
            f"'PRAGMA journal_mode=DELETE'"
        )


def _connect(path: Path, timeout: float) -> sqlite3.Connection:
    db = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, timeout=timeout)
    db.execute("PRAGMA query_only = ON")
    return db


def _describe(path: Path, error: sqlite3.Error) -> str:
    """A one-line message for what SQLite said about ``path``."""
    name = getattr(error, "sqlite_errorname", "")
    if name in {"SQLITE_BUSY", "SQLITE_LOCKED"}:
        return (
            f"{path}: is locked by another process (rasdaemon writing?); "
            "try again, or read a copy of it"
        )
    if name == "SQLITE_READONLY_ROLLBACK":
        return (
            f"{path}: holds an unfinished write (hot journal {path.name}-journal) that only "
            "a writer may roll back; read a copy of both files instead"
        )
    if name in {"SQLITE_NOTADB", "SQLITE_CORRUPT"} or name.startswith("SQLITE_CORRUPT"):
        return f"{path}: corrupt SQLite database ({error})"
    return f"{path}: cannot read the database: {error}"


def _columns(
    db: sqlite3.Connection, table: str, wanted: tuple[str, ...], path: Path, notes: Tally
) -> None:
    """Check that ``table`` has the columns of rasdaemon's released versions."""
    present = [row[1] for row in db.execute(f"PRAGMA table_info({table})")]
    missing = [name for name in wanted if name not in present]
    if missing:
        raise ConfigError(
            f"{path}: {table} lacks column(s) {', '.join(missing)} that every released "
            f"rasdaemon writes ({', '.join(wanted)}): not a rasdaemon database"
        )
    for name in present:
        if name not in wanted:
            reason = f"{table} column(s) no released rasdaemon writes, ignored"
            notes.add(reason, f"{path.name} {name}")


def _mc_events(
    db: sqlite3.Connection,
    path: Path,
    host: str,
    options: ReadOptions,
    skipped: Tally,
    notes: Tally,
) -> list[LoggedError]:
    _columns(db, "mc_event", MC_EVENT, path, notes)
    errors = []
    seen: set[tuple] = set()
    query = f"SELECT {', '.join(MC_EVENT)} FROM mc_event ORDER BY id"
    for row in db.execute(query):
        values = dict(zip(MC_EVENT, row, strict=True))
        origin = f"{path.name} mc_event id {values['id']}"
        if _duplicate(row, seen):
            skipped.add("duplicate rows (same values, another id)", origin)
            continue
        try:
            error = LoggedError(
                host=host,
                time_ns=parse_timestamp(values["timestamp"]),
                corrected=error_kind(values["err_type"]),
                count=error_count(values["err_count"]),
                address=physical_address(values["address"], options),
                origin=origin,
            )
        except RowProblem as problem:
            skipped.add(str(problem), origin)
            continue
        if error.address is None:
            notes.add("errors without an address (0): page left to the memory map", origin)
        errors.append(error)
    return errors


def _memory_failures(
    db: sqlite3.Connection, path: Path, skipped: Tally, notes: Tally
) -> list[_Failure]:
    _columns(db, "memory_failure_event", MEMORY_FAILURE_EVENT, path, notes)
    failures = []
    seen: set[tuple] = set()
    query = f"SELECT {', '.join(MEMORY_FAILURE_EVENT)} FROM memory_failure_event ORDER BY id"
    for row in db.execute(query):
        row_id, timestamp, pfn, page_type, action_result = row
        origin = f"{path.name} memory_failure_event id {row_id}"
        if _duplicate(row, seen):
            skipped.add("duplicate rows (same values, another id)", origin)
            continue
        try:
            failures.append(
                _Failure(parse_timestamp(timestamp), _pfn(pfn), page_type, action_result, origin)
            )
        except RowProblem as problem:
            skipped.add(str(problem), origin)
    return failures


def _duplicate(row: tuple, seen: set[tuple]) -> bool:
    """True when a row with the same values (all but its id) was seen before."""
    values = row[1:]
    if values in seen:
        return True
    seen.add(values)
    return False


def _pfn(text: object) -> int:
    """rasdaemon writes the pfn as ``"0x%llx"`` text (ras-memory-failure-handler.c)."""
    try:
        pfn = int(text, 0) if isinstance(text, str) else text
    except ValueError:
        raise RowProblem("memory_failure rows with an unreadable pfn") from None
    if not isinstance(pfn, int) or isinstance(pfn, bool) or pfn <= 0:
        raise RowProblem("memory_failure rows with an unreadable pfn")
    return pfn


def _attach_page_types(
    errors: list[LoggedError],
    failures: list[_Failure],
    host: str,
    options: ReadOptions,
    skipped: Tally,
    notes: Tally,
) -> list[LoggedError]:
    """Give each UE the page type of the nearest-in-time unmatched memory_failure_event
    of its pfn within the match window; a memory_failure_event no UE claims is a UE
    itself (on a host without ghes_edac it is the only record), unless it repeats a page
    already poisoned."""
    by_pfn: dict[int, list[int]] = defaultdict(list)
    for index, failure in enumerate(failures):
        by_pfn[failure.pfn].append(index)
    matched: set[int] = set()
    out = []
    for error in errors:
        if not error.corrected and error.address is not None:
            window = options.match_window_ns
            candidates = [
                i
                for i in by_pfn.get(error.address // options.page_size, ())
                if i not in matched and abs(failures[i].time_ns - error.time_ns) <= window
            ]
            if candidates:
                best = min(candidates, key=lambda i: abs(failures[i].time_ns - error.time_ns))
                matched.add(best)
                found = failures[best]
                error = replace(error, page_type=found.page_type, action_result=found.action_result)
        out.append(error)
    for index, failure in enumerate(failures):
        if index in matched:
            continue
        if placement(failure.page_type) is Placement.REPEAT:
            skipped.add("memory_failure rows repeating a page already poisoned", failure.origin)
            continue
        address = failure.pfn * options.page_size
        if address >= options.address_limit:
            skipped.add(BEYOND_MEMORY, failure.origin)
            continue
        notes.add("memory_failure rows with no mc_event, kept as UEs", failure.origin)
        out.append(
            LoggedError(
                host=host,
                time_ns=failure.time_ns,
                address=address,
                corrected=False,
                page_type=failure.page_type,
                action_result=failure.action_result,
                origin=failure.origin,
            )
        )
    return out
