"""SimPy's environment on rassim's integer-nanosecond clock.

Every delay rassim schedules is an ``int``, so the clock never leaves the integers; SimPy
types ``now`` as ``int | float``. This subclass tells the type checker what the model
relies on, and binds SimPy's event classes (``env.timeout``, ``env.process``, ...) to the
instance as ``simpy.Environment`` does for itself: ``BoundClass.bind_early`` binds only
those in the instance's own class, so a subclass would otherwise bind them again on
every call.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import simpy
from simpy.core import BoundClass


class Environment(simpy.Environment):
    """A ``simpy.Environment`` whose ``now`` is integer nanoseconds."""

    def __init__(self, initial_time: int = 0) -> None:
        super().__init__(initial_time)
        for name, value in vars(simpy.Environment).items():
            if type(value) is BoundClass:
                setattr(self, name, getattr(self, name))

    if TYPE_CHECKING:

        @property
        def now(self) -> int: ...
