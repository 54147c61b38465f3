"""A fleet's own memory errors: rasdaemon's databases or a CSV log in, typed records out
(:func:`read_log`), and a scenario fitted to them (:mod:`rassim.replay.fit`)."""

from rassim.replay.log import ErrorLog, read_log
from rassim.replay.pagetypes import PAGE_TYPES, Placement, placement
from rassim.replay.records import LoggedError, ReadOptions, Tally

__all__ = [
    "PAGE_TYPES",
    "ErrorLog",
    "LoggedError",
    "Placement",
    "ReadOptions",
    "Tally",
    "placement",
    "read_log",
]
