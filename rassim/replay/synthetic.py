"""Synthetic fleet logs from known Poisson rates, written as rasdaemon would write them.

For tests and examples: a log whose true UE and CE rates are known, so that fitting it
can be checked against them, in rasdaemon's own schema (the ``CREATE TABLE`` statements
ras-record.c issues) or as a CSV log.
"""

from __future__ import annotations

import csv
import sqlite3
from collections.abc import Iterable, Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np

from rassim.replay.rasdaemon import MC_EVENT, MEMORY_FAILURE_EVENT
from rassim.replay.records import EPOCH, LoggedError
from rassim.sim.units import NS_PER_H, GiB

# ras_mc_create_table() in ras-record.c: "CREATE TABLE IF NOT EXISTS %s (" then
# "name type" per field joined by ", "; the types of mc_event_fields / mf_event_fields.
_TYPES = {
    "id": "INTEGER PRIMARY KEY",
    "err_count": "INTEGER",
    "mc": "INTEGER",
    "top_layer": "INTEGER",
    "middle_layer": "INTEGER",
    "lower_layer": "INTEGER",
    "address": "INTEGER",
    "grain": "INTEGER",
    "syndrome": "INTEGER",
}
CREATE_MC_EVENT = (
    "CREATE TABLE IF NOT EXISTS mc_event ("
    + ", ".join(f"{name} {_TYPES.get(name, 'TEXT')}" for name in MC_EVENT)
    + ")"
)
CREATE_MEMORY_FAILURE_EVENT = (
    "CREATE TABLE IF NOT EXISTS memory_failure_event ("
    + ", ".join(f"{name} {_TYPES.get(name, 'TEXT')}" for name in MEMORY_FAILURE_EVENT)
    + ")"
)

# what memory_failure() answers for a page type (me_kernel, me_pagecache_*, me_huge_page...)
ACTION_RESULTS = {
    "reserved kernel page": "Ignored",
    "unknown page": "Ignored",
    "free buddy page": "Recovered",
    "dirty LRU page": "Recovered",
    "clean LRU page": "Recovered",
    "huge page": "Recovered",
    "unsplit thp": "Ignored",
}


@dataclass(frozen=True)
class FleetSpec:
    """A synthetic fleet: its hosts, their memory, how long they ran, and the true rates."""

    hosts: int
    host_memory: int  # bytes
    duration_ns: int
    ue_rate: float  # per GiB per hour
    ce_rate: float  # per GiB per hour
    page_types: Mapping[str, float]  # weights of the page types memory_failure() logs
    start: datetime = datetime(2025, 1, 6, tzinfo=UTC)


def synthetic_errors(spec: FleetSpec, seed: int) -> dict[str, list[LoggedError]]:
    """Each host's errors, in time order: Poisson counts at the spec's rates, uniform
    times and page-aligned addresses; UEs carry a page type drawn from the weights."""
    streams = np.random.SeedSequence(seed).spawn(spec.hosts)
    gib_hours = spec.host_memory / GiB * spec.duration_ns / NS_PER_H
    names = list(spec.page_types)
    weights = np.array([spec.page_types[n] for n in names], dtype=float)
    start_ns = (spec.start - EPOCH) // timedelta(microseconds=1) * 1_000
    fleet = {}
    for index, stream in enumerate(streams):
        rng = np.random.default_rng(stream)
        host = f"host{index:02d}"
        errors = []
        for corrected, rate in ((False, spec.ue_rate), (True, spec.ce_rate)):
            n = int(rng.poisson(rate * gib_hours))
            times = np.sort(rng.integers(0, spec.duration_ns, n))
            pages = rng.integers(1, spec.host_memory // 4096, n)
            types = rng.choice(len(names), n, p=weights / weights.sum()) if names else None
            for i in range(n):
                page_type = None if corrected or types is None else names[int(types[i])]
                errors.append(
                    LoggedError(
                        host=host,
                        time_ns=start_ns + int(times[i]),
                        address=int(pages[i]) * 4096 + 64 * int(rng.integers(0, 64)),
                        corrected=corrected,
                        page_type=page_type,
                        action_result=ACTION_RESULTS.get(page_type or "", "Recovered")
                        if page_type
                        else None,
                    )
                )
        fleet[host] = sorted(errors, key=lambda e: e.time_ns)
    return fleet


def rasdaemon_timestamp(time_ns: int, utc_offset_min: int = 0) -> str:
    """``time_ns`` as rasdaemon writes it: ``"%Y-%m-%d %H:%M:%S %z"`` in local time."""
    zone = timezone(timedelta(minutes=utc_offset_min))
    moment = EPOCH + timedelta(microseconds=time_ns // 1_000)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S %z")


def write_database(
    path: Path,
    errors: Iterable[LoggedError],
    memory_failure: bool = True,
    utc_offset_min: int = 0,
    page_size: int = 4096,
) -> None:
    """One host's rasdaemon database: every error in ``mc_event`` (as ghes_edac reports
    it) and, with ``memory_failure``, each typed UE's ``memory_failure_event``."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(CREATE_MC_EVENT)
        if memory_failure:
            db.execute(CREATE_MEMORY_FAILURE_EVENT)
        for error in errors:
            stamp = rasdaemon_timestamp(error.time_ns, utc_offset_min)
            kind = "Corrected" if error.corrected else "Uncorrected"
            db.execute(
                f"INSERT INTO mc_event ({', '.join(MC_EVENT)}) VALUES "
                "(NULL, ?, ?, ?, '', 'DIMM 0', 0, -1, -1, -1, ?, 6, 0, '')",
                (stamp, error.count, kind, error.address or 0),
            )
            if memory_failure and not error.corrected and error.page_type:
                db.execute(
                    f"INSERT INTO memory_failure_event ({', '.join(MEMORY_FAILURE_EVENT)}) "
                    "VALUES (NULL, ?, ?, ?, ?)",
                    (
                        stamp,
                        f"0x{(error.address or 0) // page_size:x}",
                        error.page_type,
                        error.action_result,
                    ),
                )


def write_csv(path: Path, errors: Sequence[LoggedError]) -> None:
    """A CSV log (``rassim.replay.csvlog``) of ``errors``, timestamps in UTC."""
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["host", "timestamp", "address", "err_type", "err_count", "page_type"])
        for e in errors:
            kind = "Corrected" if e.corrected else "Uncorrected"
            stamp = rasdaemon_timestamp(e.time_ns)
            writer.writerow([e.host, stamp, hex(e.address or 0), kind, e.count, e.page_type or ""])
