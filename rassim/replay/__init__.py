"""A fleet's own memory errors: rasdaemon's databases or a CSV log in, typed records out
(:func:`read_log`), a scenario fitted to them (:mod:`rassim.replay.fit`), and the same
errors replayed under each policy or strategy (:mod:`rassim.replay.fleet`,
:mod:`rassim.replay.arms`, :mod:`rassim.replay.counterfactual`)."""

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
