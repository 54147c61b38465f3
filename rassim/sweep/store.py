"""Where a sweep keeps its state: finished runs in ``DIR/.runs``, and the directory lock.

A run is stored as ``<fingerprint>.json`` plus ``<fingerprint>.<table>.parquet`` for each
kept table. Every file is written under a temporary name and renamed, and the JSON comes
last, so a run counts as finished only once all of it is on disk; a kill at any moment
leaves at most an ignored temporary file.
"""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from rassim.config import ConfigError
from rassim.sweep.experiment import Run

Record = dict[str, Any]


class RunStore:
    """Finished runs under ``DIR/.runs``, one JSON per run written last (its commit)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        for leftover in directory.glob(".*.tmp"):  # from a killed sweep (we hold the lock)
            leftover.unlink(missing_ok=True)

    def _json(self, fingerprint: str) -> Path:
        return self.directory / f"{fingerprint}.json"

    def _table(self, fingerprint: str, table: str) -> Path:
        return self.directory / f"{fingerprint}.{table}.parquet"

    def load(self, run: Run, keep: Iterable[str]) -> Record | None:
        """The stored record of ``run``, if it is complete and kept every table in ``keep``."""
        path = self._json(run.fingerprint)
        try:
            record = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if record.get("status") != "ok" or not set(keep) <= set(record.get("kept", ())):
            return None
        if not all(self._table(run.fingerprint, t).is_file() for t in keep):
            return None
        return record

    def table(self, run: Run, table: str) -> pd.DataFrame:
        return pd.read_parquet(self._table(run.fingerprint, table))

    def save(self, record: Record) -> Record:
        """Store an ``ok`` record: tables first, then the JSON that makes the run count.
        Ctrl-C waits for the run to be stored whole."""
        with deferred_interrupts():
            return self._save(record)

    def _save(self, record: Record) -> Record:
        fingerprint = record["fingerprint"]
        for name, frame in record["tables"].items():
            target = self._table(fingerprint, name)
            temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            frame.to_parquet(temporary, index=False)
            os.replace(temporary, target)
        stored = {k: v for k, v in record.items() if k != "tables"}
        stored["kept"] = sorted(record["tables"])
        target = self._json(fingerprint)
        temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temporary.write_text(json.dumps(stored, default=_plain) + "\n")
        os.replace(temporary, target)
        return stored


def _plain(value: Any) -> Any:
    """JSON for numpy scalars that may sit in a summary."""
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"cannot store {type(value).__name__} in a run record")


@contextmanager
def claim(out: Path, name: str) -> Iterator[None]:
    """Make ``out`` ours for this sweep: a directory of this experiment, locked."""
    if out.exists() and not out.is_dir():
        raise ConfigError(f"{out}: exists and is not a directory")
    try:
        out.mkdir(parents=True, exist_ok=True)
        lock = (out / ".lock").open("a")
    except OSError as error:
        raise ConfigError(f"{out}: cannot write the output directory: {error.strerror}") from None
    with lock:
        try:
            import fcntl

            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except ImportError:  # no advisory locks on this platform
            pass
        except OSError:
            raise ConfigError(f"{out}: another rassim sweep is writing here") from None
        marker = out / ".sweep.json"
        if marker.exists():
            owner = json.loads(marker.read_text()).get("experiment")
            if owner != name:
                raise ConfigError(
                    f"{out}: holds the results of experiment {owner!r}, not {name!r}; "
                    "choose another --out"
                )
        else:
            marker.write_text(json.dumps({"experiment": name}) + "\n")
        yield


@contextmanager
def deferred_interrupts() -> Iterator[None]:
    """Hold Ctrl-C until the block is done (renaming the final files into place)."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    previous: Callable | int | None = signal.signal(
        signal.SIGINT, lambda signum, frame: received.append(signum)
    )
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if received:
            raise KeyboardInterrupt
