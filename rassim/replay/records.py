"""Logged memory errors as typed records, and the checks every row of a log goes through.

A row that cannot be used (an unreadable timestamp, an address beyond the host's memory,
a duplicate) is not an error for the whole log: it is counted under its reason in a
:class:`Tally` and reported, never dropped silently. Problems with a whole file (missing
table, unknown columns, corrupt or locked database) raise :class:`ConfigError` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from rassim.sim.units import NS_PER_MIN

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BEYOND_MEMORY = "rows with an address beyond the host's memory"

# rasdaemon's mc_event.err_type strings (ras-mc-handler.c), as HW_EVENT_ERR_* of the
# kernel's mc_event tracepoint: True = corrected. ghes_edac gives Uncorrected for a
# recoverable CPER severity and Fatal for a fatal one; Deferred is an uncorrected error
# not yet consumed. Info events are not memory errors.
ERROR_TYPES: dict[str, bool] = {
    "corrected": True,
    "uncorrected": False,
    "deferred": False,
    "fatal": False,
}


@dataclass(frozen=True, slots=True)
class LoggedError:
    """One logged memory error on one host."""

    host: str
    time_ns: int  # since the Unix epoch, UTC
    address: int | None  # physical address; None when the log gives none (0)
    corrected: bool
    count: int = 1  # errors the row stands for (mc_event.err_count)
    page_type: str | None = None  # the kernel's action_page_types string, where logged
    action_result: str | None = None  # what memory_failure() did: Ignored/Failed/...
    origin: str = ""  # file and row, for messages


@dataclass(frozen=True)
class ReadOptions:
    """How rows are checked: the host's memory, its kernel page size, and so on."""

    address_limit: int  # a physical address at or above this is skipped
    page_size: int = 4096  # the host kernel's page size: memory_failure_event pfn units
    match_window_ns: int = 5 * NS_PER_MIN  # memory_failure_event to mc_event, same pfn
    busy_timeout_s: float = 5.0  # wait this long for a database another process locks


class RowProblem(Exception):
    """A row that cannot be used; its reason is counted, not raised to the user."""


class Tally:
    """Rows counted by reason, each with the first row it applies to."""

    def __init__(self) -> None:
        self._reasons: dict[str, list] = {}

    def add(self, reason: str, origin: str) -> None:
        entry = self._reasons.setdefault(reason, [0, origin])
        entry[0] += 1

    def __bool__(self) -> bool:
        return bool(self._reasons)

    @property
    def total(self) -> int:
        return sum(count for count, _ in self._reasons.values())

    def count(self, reason: str) -> int:
        return self._reasons.get(reason, [0])[0]

    def lines(self) -> list[str]:
        """``"3 duplicate rows (first: a.db mc_event id 7)"``, in order of first sight."""
        return [f"{n} {reason} (first: {first})" for reason, (n, first) in self._reasons.items()]


def parse_timestamp(text: object) -> int:
    """Nanoseconds since the epoch of a rasdaemon timestamp, ``"2024-03-05 10:22:01 +0100"``
    (strftime ``"%Y-%m-%d %H:%M:%S %z"`` of the local time, ras-mc-handler.c). A time
    without a zone is taken as UTC; ISO 8601 (``2024-03-05T10:22:01Z``) is accepted too."""
    if not isinstance(text, str) or not text.strip():
        raise RowProblem("rows without a timestamp")
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise RowProblem("rows with an unreadable timestamp") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    if moment == EPOCH:
        # rasdaemon writes the epoch when localtime() fails (ras-memory-failure-handler.c)
        raise RowProblem("rows stamped 1970-01-01 00:00:00 (rasdaemon's unknown time)")
    return (moment - EPOCH) // timedelta(microseconds=1) * 1_000


def error_kind(err_type: object) -> bool:
    """True for a corrected error, False for an uncorrected one (``ERROR_TYPES``)."""
    name = err_type.strip().lower() if isinstance(err_type, str) else None
    if name == "info":
        raise RowProblem("Info events (not memory errors)")
    if name not in ERROR_TYPES:
        raise RowProblem(f"rows with an unknown err_type {err_type!r}")
    return ERROR_TYPES[name]


def error_count(value: object) -> int:
    """``err_count`` as a count of errors: 0 counts as 1, as rasdaemon's own page
    accounting does ("the fault error_count BIOS reports sometimes is 0")."""
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if value is None or value == "":
        return 1
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise RowProblem("rows with an err_count that is not a count")
    return max(value, 1)


def physical_address(value: object, options: ReadOptions) -> int | None:
    """A physical address, or None for 0 (EDAC reports 0 when it has none). rasdaemon
    binds the kernel's u64 as a signed int64, so negative values are wrapped back."""
    if isinstance(value, str):
        try:
            value = int(value.strip(), 0) if value.strip() else 0
        except ValueError:
            raise RowProblem("rows with an unreadable address") from None
    if not isinstance(value, int) or isinstance(value, bool):
        raise RowProblem("rows with an unreadable address")
    if value < 0:
        value += 1 << 64
    if value == 0:
        return None
    if value >= options.address_limit:
        raise RowProblem(BEYOND_MEMORY)
    return value
