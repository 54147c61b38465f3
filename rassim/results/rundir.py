"""Result directories: written whole or not at all, and read back for ``rassim trace``.

A run directory holds ``scenario.toml`` (resolved), ``errors.parquet``,
``hops.parquet``, ``ues.parquet``, ``summary.json`` and ``meta.json``. It is written
into a hidden sibling and renamed into place only when complete, so a failed or
interrupted run leaves any earlier results at that path intact.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from rassim import __version__
from rassim.config import ConfigError, dump_scenario
from rassim.results.replications import aggregate
from rassim.run import RunResult


def _stack(results: list[RunResult], table: str) -> pd.DataFrame:
    frames = [getattr(r, table).assign(replication=i) for i, r in enumerate(results)]
    frame = pd.concat(frames, ignore_index=True)
    return frame[["replication", *[c for c in frame.columns if c != "replication"]]]


@contextmanager
def staged_directory(out: Path) -> Iterator[Path]:
    """Yield a fresh hidden directory beside ``out``; on success it replaces ``out``."""
    out = Path(out)
    stage = out.parent / f".{out.name}.partial-{os.getpid()}"
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        if stage.exists():
            shutil.rmtree(stage)
        stage.mkdir()
    except OSError as error:
        raise ConfigError(f"{out}: cannot write the output directory: {error.strerror}") from None
    try:
        yield stage
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    if out.exists() and not out.is_dir():
        shutil.rmtree(stage, ignore_errors=True)
        raise ConfigError(f"{out}: exists and is not a directory")
    old = out.parent / f".{out.name}.old-{os.getpid()}"
    if out.exists():
        out.rename(old)
    stage.rename(out)
    shutil.rmtree(old, ignore_errors=True)


def write_run(stage: Path, results: list[RunResult], seed: int, command: list[str]) -> None:
    """Write every table and summary of ``results`` (one scenario, R replications)."""
    scenario = results[0].scenario
    (stage / "scenario.toml").write_text(dump_scenario(scenario))
    for table in ("errors", "hops", "ues", "vms", "faults"):
        _stack(results, table).to_parquet(stage / f"{table}.parquet", index=False)
    summaries = [r.summary for r in results]
    summary = {"replications": summaries, "aggregate": aggregate(summaries)}
    (stage / "summary.json").write_text(json.dumps(_finite(summary), indent=2) + "\n")
    meta = {
        "version": __version__,
        "seed": seed,
        "replications": len(results),
        "wall_s": sum(r.wall_s for r in results),
        "git_revision": git_revision(),
        "created_utc": datetime.now(UTC).isoformat(timespec="seconds"),
        "python": sys.version.split()[0],
        "command": command,
    }
    (stage / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")


def _finite(value: Any) -> Any:
    """JSON has no NaN: write null instead."""
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def git_revision() -> str | None:
    """The source checkout's commit, if rassim runs from one."""
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return result.stdout.strip() or None if result.returncode == 0 else None


def read_table(directory: str | Path, table: str) -> pd.DataFrame:
    path = Path(directory) / f"{table}.parquet"
    if not path.is_file():
        raise ConfigError(f"{directory}: not a rassim run directory (no {table}.parquet)")
    return pd.read_parquet(path)
