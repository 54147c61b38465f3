"""A fleet's log as a scenario to replay: its hosts numbered, each uncorrected row a
``memory.replayed`` UE, the run long enough to cover the log.

The log's first event (corrected or not, on any host) is time 0 of the run. Simulated
host ``i`` is the log's ``i``-th host (in the order the files were read); hosts given by
``--hosts`` beyond those logged nothing. Each uncorrected row becomes one UE at its time,
on its host, in its 4 KiB page (rasdaemon logs one row per error it was told of), placed
as its page type says (:mod:`rassim.replay.pagetypes`), and carries the corrected errors
logged on that page before it, which rasdaemon's page CE accounting counts
(``memory.predictive_offline``). CEs on pages no UE hits change nothing in the model
(an offlined page without a UE costs nothing there), so they are not carried.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from rassim.config import apply_override, validate
from rassim.errors import ConfigError
from rassim.replay.log import ErrorLog
from rassim.replay.pagetypes import placement
from rassim.replay.records import EPOCH
from rassim.scenario import Scenario
from rassim.sim.units import NS_PER_D, format_duration, format_size

CE_PAGE = 4096  # rasdaemon counts CEs per 4 KiB page (PAGE_SHIFT 12, ras-page-isolation.h)
SOURCE = "rassim replay"


@dataclass(frozen=True)
class Fleet:
    """The simulated fleet a log describes: which log host each simulated host is, when
    the run starts (the log's first event, UTC) and how long it lasts."""

    log: ErrorLog
    hosts: tuple[str, ...]  # simulated host i is hosts[i]; "(unlogged N)" beyond the log's
    start_ns: int  # since the Unix epoch, UTC
    duration_ns: int
    duration_from_log: bool  # no --observed: the log's span and a scrub period after it
    host_memory: int  # the scenario's memory.host_memory, for the notes

    @property
    def start(self) -> datetime:
        return EPOCH + timedelta(microseconds=self.start_ns // 1_000)

    @property
    def ues(self) -> int:
        return len(self.log.uncorrected)

    def notes(self) -> list[str]:
        """What a reader of the replay should know about the log beyond its own notes."""
        above = [e for e in self.log.uncorrected if (e.address or 0) >= self.host_memory]
        if not above:
            return []
        return [
            f"{len(above)} UE(s) at addresses at or above memory.host_memory "
            f"({format_size(self.host_memory)}), replayed at those addresses (first: "
            f"{above[0].origin}): DRAM above a hole in the physical address map, or hosts "
            "with more memory than the scenario's"
        ]

    def replayed(self) -> list[dict[str, Any]]:
        """``memory.replayed``: one entry per uncorrected row, in log order."""
        index = {name: i for i, name in enumerate(self.hosts)}
        corrected: dict[tuple[str, int], list[list[Any]]] = defaultdict(list)
        entries = []
        for error in self.log.errors:
            page = None if error.address is None else (error.host, error.address // CE_PAGE)
            at = format_duration(error.time_ns - self.start_ns)
            if error.corrected:
                if page is not None:
                    corrected[page].append([at, error.count])
                continue
            entry: dict[str, Any] = {
                "host": index[error.host],
                "at": at,
                "placement": placement(error.page_type).value,
                "corrected_before": [list(ce) for ce in corrected.get(page, ())]
                if page is not None
                else [],
                "origin": error.origin,
            }
            if error.address is not None:
                entry["address"] = error.address
            entries.append(entry)
        return entries

    def scenario(self, base: Scenario, overrides: Sequence[str] = ()) -> Scenario:
        """``base`` (the fleet's platform, VMs and guests) with this log as its UE source,
        this fleet's hosts and duration, and ``overrides`` (``key=value``) on top."""
        data = base.model_dump(mode="json", exclude_none=True)
        data["duration"] = format_duration(self.duration_ns)
        data["fleet"]["hosts"] = len(self.hosts)
        data["memory"]["source"] = "replay"
        data["memory"]["replayed"] = self.replayed()
        for item in overrides:
            apply_override(data, item)
        return validate(data, SOURCE)


def fleet_of(
    log: ErrorLog, base: Scenario, hosts: int | None = None, observed_ns: int | None = None
) -> Fleet:
    """The fleet ``log`` describes, on ``hosts`` hosts (default: the log's) observed for
    ``observed_ns`` (default: from the first event to one scrub period, at least a day,
    after the last, so the patrol scrubber passes every logged page once more)."""
    if not log.uncorrected:
        raise ConfigError(
            f"{_files(log)}: no uncorrected error to replay ({len(log.corrected)} corrected); "
            "rassim fit estimates the fleet's rates from it"
        )
    if hosts is not None and hosts < len(log.hosts):
        raise ConfigError(f"--hosts {hosts} is fewer than the {len(log.hosts)} hosts in the log")
    names = list(log.hosts)
    names += [f"(unlogged {i})" for i in range(len(names), hosts or len(names))]
    span = log.span_ns
    if observed_ns is None:
        duration = span + max(NS_PER_D, base.memory.scrub_period)
    elif observed_ns <= span:
        raise ConfigError(
            f"--observed {format_duration(observed_ns, 4)} does not cover the log, which spans "
            f"{format_duration(span, 4)} from its first to its last event"
        )
    else:
        duration = observed_ns
    return Fleet(
        log=log,
        hosts=tuple(names),
        start_ns=log.errors[0].time_ns,
        duration_ns=duration,
        duration_from_log=observed_ns is None,
        host_memory=base.memory.host_memory,
    )


def _files(log: ErrorLog) -> str:
    shown = ", ".join(str(f) for f in log.files[:3])
    return shown + (f" and {len(log.files) - 3} more" if len(log.files) > 3 else "")
