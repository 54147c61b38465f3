"""A fleet's error log: rasdaemon databases (one per host) and CSV logs, read into one
time-ordered list of :class:`LoggedError` with the rows left out counted by reason."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from rassim.errors import ConfigError
from rassim.replay.csvlog import read_csv
from rassim.replay.rasdaemon import DATABASE_NAME, read_database
from rassim.replay.records import LoggedError, ReadOptions, Tally

DATABASE_SUFFIXES = (".db", ".sqlite", ".sqlite3")


@dataclass(frozen=True)
class ErrorLog:
    """Every usable error of a fleet's logs, ordered by time, then host, then row."""

    errors: tuple[LoggedError, ...]
    hosts: tuple[str, ...]  # every host read, with or without errors
    files: tuple[Path, ...]
    skipped: Tally = field(default_factory=Tally)  # rows left out, by reason
    notes: Tally = field(default_factory=Tally)  # rows kept that deserve a word

    @property
    def uncorrected(self) -> list[LoggedError]:
        return [error for error in self.errors if not error.corrected]

    @property
    def corrected(self) -> list[LoggedError]:
        return [error for error in self.errors if error.corrected]

    @property
    def span_ns(self) -> int:
        """From the first to the last error of the whole log (0 with fewer than two)."""
        return self.errors[-1].time_ns - self.errors[0].time_ns if self.errors else 0


def read_log(paths: Sequence[str | Path], options: ReadOptions) -> ErrorLog:
    """Read rasdaemon databases and CSV logs: files, or directories holding them."""
    files = _files([Path(p) for p in paths])
    skipped, notes = Tally(), Tally()
    errors: list[LoggedError] = []
    hosts: dict[str, Path] = {}
    for path in files:
        if path.suffix.lower() == ".csv":
            found = read_csv(path, options, skipped, notes)
            names = dict.fromkeys(error.host for error in found)
        else:
            name = host_name(path)
            found = read_database(path, name, options, skipped, notes)
            names = {name: None}
        for name in names:
            if name in hosts:
                raise ConfigError(f"host {name!r} is in both {hosts[name]} and {path}")
            hosts[name] = path
        errors.extend(found)
    order = sorted(range(len(errors)), key=lambda i: (errors[i].time_ns, errors[i].host, i))
    return ErrorLog(
        errors=tuple(errors[i] for i in order),
        hosts=tuple(hosts),
        files=tuple(files),
        skipped=skipped,
        notes=notes,
    )


def host_name(path: Path) -> str:
    """A database's host: its file name without suffix, or for rasdaemon's own file name
    (``node17/ras-mc_event.db``) the directory it sits in."""
    if path.name == DATABASE_NAME and path.resolve().parent.name:
        return path.resolve().parent.name
    return path.stem


def _files(paths: list[Path]) -> list[Path]:
    """The log files ``paths`` name: a file as given, a directory's databases and CSV
    logs (``DIR/*.db``, ``DIR/*.csv``, ``DIR/*/ras-mc_event.db``), sorted by name."""
    if not paths:
        raise ConfigError("give at least one log: a rasdaemon database, a CSV log or a directory")
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            found = sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in (*DATABASE_SUFFIXES, ".csv")
            )
            found += sorted(p for p in path.glob(f"*/{DATABASE_NAME}") if p.is_file())
            if not found:
                raise ConfigError(
                    f"{path}: no rasdaemon databases (*.db, */{DATABASE_NAME}) or CSV logs in it"
                )
            files.extend(found)
        elif path.is_file():
            files.append(path)
        elif path.exists():
            raise ConfigError(f"{path}: not a regular file or directory")
        else:
            raise ConfigError(f"{path}: no such file or directory")
    seen: dict[Path, Path] = {}
    for path in files:
        real = path.resolve()
        if real in seen:
            raise ConfigError(f"{path}: given twice (also as {seen[real]})")
        seen[real] = path
    return files
