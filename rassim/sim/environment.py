"""SimPy's environment on rassim's integer-nanosecond clock.

Every delay rassim schedules is an ``int``, so the clock never leaves the integers; SimPy
types ``now`` as ``int | float``. This subclass changes nothing at run time and tells the
type checker what the model relies on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy


class Environment(simpy.Environment):
    """A ``simpy.Environment`` whose ``now`` is integer nanoseconds."""

    if TYPE_CHECKING:

        @property
        def now(self) -> int: ...
