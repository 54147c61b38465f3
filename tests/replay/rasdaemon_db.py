"""Rasdaemon databases built row by row with rasdaemon's own schema (for the replay tests)."""

import sqlite3
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path

# The statements ras_mc_create_table() (ras-record.c, v0.8.5) builds from mc_event_fields
# and mf_event_fields; v0.1-v0.8.0 create the same columns (docs/replay.md).
CREATE_MC_EVENT = (
    "CREATE TABLE IF NOT EXISTS mc_event (id INTEGER PRIMARY KEY, timestamp TEXT, "
    "err_count INTEGER, err_type TEXT, err_msg TEXT, label TEXT, mc INTEGER, "
    "top_layer INTEGER, middle_layer INTEGER, lower_layer INTEGER, address INTEGER, "
    "grain INTEGER, syndrome INTEGER, driver_detail TEXT)"
)
CREATE_MEMORY_FAILURE_EVENT = (
    "CREATE TABLE IF NOT EXISTS memory_failure_event (id INTEGER PRIMARY KEY, "
    "timestamp TEXT, pfn TEXT, page_type TEXT, action_result TEXT)"
)

McRow = tuple[str, int, str, int]  # timestamp, err_count, err_type, address
MfRow = tuple[str, str, str, str]  # timestamp, pfn, page_type, action_result


def make_database(path: Path, mc: Sequence[McRow] = (), mf: Sequence[MfRow] | None = None) -> Path:
    """A database as rasdaemon leaves it; ``mf=None``: built without memory_failure."""
    with closing(sqlite3.connect(path)) as db, db:
        db.execute(CREATE_MC_EVENT)
        for timestamp, count, err_type, address in mc:
            db.execute(
                "INSERT INTO mc_event VALUES (NULL, ?, ?, ?, 'read error', 'CPU_SrcID#0_MC#0',"
                " 0, 1, 2, -1, ?, 6, 0, 'APEI location: node:0 card:1')",
                (timestamp, count, err_type, address),
            )
        if mf is not None:
            db.execute(CREATE_MEMORY_FAILURE_EVENT)
            db.executemany("INSERT INTO memory_failure_event VALUES (NULL, ?, ?, ?, ?)", mf)
    return path
