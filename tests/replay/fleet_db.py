"""A small fleet's rasdaemon databases, drawn row by row with rasdaemon's schema, and the
UEs a replay of them must hold: worked out from the rows written, not by the reader."""

from collections import Counter
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
from rasdaemon_db import make_database

START = datetime(2025, 6, 2, 8, 0, tzinfo=UTC)
ZONES = (0, 60, -300)  # each host stamps its local time (ras-mc-handler.c strftime %z)
UE_TYPES = ("Uncorrected", "Uncorrected", "Deferred", "Fatal")
PAGE_TYPES = ("dirty LRU page", "free buddy page", "reserved kernel page", "huge page")
HOST_MEMORY = 512 << 30


def stamp(moment: datetime, offset_min: int) -> str:
    return moment.astimezone(timezone(timedelta(minutes=offset_min))).strftime(
        "%Y-%m-%d %H:%M:%S %z"
    )


def write_fleet(directory: Path, seed: int = 7, hosts: int = 3, events: int = 14) -> Counter:
    """``hosts`` databases of about ``events`` rows each (a third of them UEs, some with a
    memory_failure_event; the last host built without memory_failure), and the expected
    UEs as a Counter of (host index, seconds since the fleet's first row, page or None)."""
    rng = np.random.default_rng(seed)
    directory.mkdir(parents=True, exist_ok=True)
    expected: list[tuple[int, int, int | None]] = []
    first = None
    for host in range(hosts):
        mc, mf = [], []
        seconds = np.sort(rng.integers(0, 40 * 86400, events))
        for i, second in enumerate(seconds):
            moment = START + timedelta(seconds=int(second))
            text = stamp(moment, ZONES[host % len(ZONES)])
            address = int(rng.integers(1, HOST_MEMORY >> 12)) << 12 | int(rng.integers(0, 64)) * 64
            if i == 3:
                address = 0  # EDAC had no address: the memory map places it
            first = moment if first is None or moment < first else first
            if rng.random() < 0.35:
                kind = UE_TYPES[int(rng.integers(len(UE_TYPES)))]
                mc.append((text, 1, kind, address))
                expected.append((host, moment, address >> 12 if address else None))
                if rng.random() < 0.6 and address:
                    page_type = PAGE_TYPES[int(rng.integers(len(PAGE_TYPES)))]
                    mf.append((text, f"0x{address >> 12:x}", page_type, "Recovered"))
            else:
                mc.append((text, int(rng.integers(1, 4)), "Corrected", address))
        make_database(directory / f"node{host:02d}.db", mc, mf if host < hosts - 1 else None)
    assert first is not None
    return Counter(
        (host, int((moment - first).total_seconds()), page) for host, moment, page in expected
    )


def assert_each_logged_ue_replayed_once(ues, expected: Counter) -> None:
    """Every expected UE is one replayed UE of ``ues`` (a ues table) on its host, at its
    second since the fleet's first row, in its page where it had one; and no other."""
    logged = ues[ues["source"].str.startswith("log")]
    assert logged["created_ns"].mod(10**9).eq(0).all()
    seconds = logged["created_ns"] // 10**9
    found = Counter(zip(logged["host"].tolist(), seconds.tolist(), strict=True))
    assert found == Counter((host, second) for host, second, _ in expected.elements())
    pages = Counter(
        zip(
            logged["host"].tolist(), seconds.tolist(), (logged["hpa"] // 4096).tolist(), strict=True
        )
    )
    placed = Counter(key for key in expected.elements() if key[2] is not None)
    assert not placed - pages, placed - pages
