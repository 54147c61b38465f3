"""Where a sweep keeps its state: finished runs in ``DIR/.runs``, and the directory lock.

A run is stored as ``<fingerprint>.json`` plus ``<fingerprint>.<table>.parquet`` for each
kept table. Every file is written under a temporary name and renamed, and the JSON comes
last, so a run counts as finished only once all of it is on disk; a kill at any moment
leaves at most an ignored temporary file.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from rassim.config import ConfigError
from rassim.interrupts import deferred_interrupts
from rassim.results.outdir import check_output, read_meta, written_by
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
        Ctrl-C and SIGTERM wait for the run to be stored whole."""
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
def claim(out: Path, name: str, command: str = "sweep") -> Iterator[None]:
    """Make ``out`` ours for this ``rassim COMMAND`` (sweep, sensitivity): a new or empty
    directory, or one of this experiment, locked; leftovers of a killed run are removed."""
    check_output(out, command, lambda d, meta: _experiment(d, meta, command) is not None)
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
            raise ConfigError(f"{out}: another rassim {command} is writing here") from None
        owner = _experiment(out, read_meta(out), command)
        if owner is None:
            (out / MARKER).write_text(json.dumps({"experiment": name, "command": command}) + "\n")
        elif owner != name:
            raise ConfigError(
                f"{out}: holds the results of experiment {owner!r}, not {name!r}; "
                "choose another --out"
            )
        for stage in out.glob(".final-*"):  # the final-table stage of a killed sweep
            shutil.rmtree(stage, ignore_errors=True)
        yield


MARKER = ".sweep.json"


def _experiment(directory: Path, meta: dict[str, Any] | None, command: str) -> str | None:
    """The experiment whose ``rassim COMMAND`` results ``directory`` holds (its marker, else
    its meta.json); markers without a command are a sweep's."""
    try:
        marked = json.loads((directory / MARKER).read_text())
    except (OSError, ValueError):
        marked = None
    if isinstance(marked, dict) and isinstance(marked.get("experiment"), str):
        return marked["experiment"] if marked.get("command", "sweep") == command else None
    if written_by(meta, command) and isinstance(meta, dict):
        return str(meta.get("experiment"))
    return None
