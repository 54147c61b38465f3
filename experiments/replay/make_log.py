"""Write the example's synthetic fleet log: four hosts' rasdaemon databases.

The log is drawn from known rates with a fixed seed, so `rassim fit` on it can be checked
against the truth: UEs at 2e-5/GiB/h (twice the scenario default, so that 120 days of
four hosts give a few dozen), CEs at 4e-5/GiB/h, and memory_failure() page types in the
mix below. host02 runs a rasdaemon built without --enable-memory-failure (no page types);
each host stamps its local time in its own zone, as rasdaemon does.

    python experiments/replay/make_log.py            # rewrites experiments/replay/log/
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rassim.replay.synthetic import FleetSpec, synthetic_errors, write_database
from rassim.sim.units import NS_PER_D, GiB

SPEC = FleetSpec(
    hosts=4,
    host_memory=256 * GiB,
    duration_ns=120 * NS_PER_D,
    ue_rate=2e-5,
    ce_rate=4e-5,
    page_types={
        "dirty LRU page": 0.45,
        "clean LRU page": 0.15,
        "huge page": 0.1,
        "free buddy page": 0.15,
        "reserved kernel page": 0.1,
        "unknown page": 0.05,
    },
)
SEED = 2025
ZONES_MIN = (0, 60, -300, 540)  # UTC offsets of the hosts' local time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "log")
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    for (host, errors), zone in zip(synthetic_errors(SPEC, SEED).items(), ZONES_MIN, strict=True):
        path = out / f"{host}.db"
        path.unlink(missing_ok=True)  # this script's own output
        write_database(path, errors, memory_failure=host != "host02", utc_offset_min=zone)
        ues = sum(not e.corrected for e in errors)
        print(f"{path}: {ues} UEs, {len(errors) - ues} CEs")


if __name__ == "__main__":
    main()
