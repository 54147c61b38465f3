"""The timed event the model builds on, written like SimPy's own ``Timeout``.

:class:`Timer` is a ``Timeout`` that calls back and can be cancelled (the wake-up of a
host's calendar, :mod:`rassim.sim.deadlines`). A wait that no longer matters is
cancelled by whoever made it moot: when its time comes, nothing happens. No stale-timer
checks, no epoch counters. (A message in flight is a
:class:`~rassim.sim.channel.Delivery`, cancelled the same way.)

It sets ``_ok`` and ``_value`` on itself, exactly as ``simpy.events.Timeout`` does;
nothing else of SimPy's is touched but its public API (``Environment.schedule``,
``Event.callbacks``).
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any, Generic, TypeVar

import simpy
from simpy.events import NORMAL, Event

T = TypeVar("T")
Callback = Callable[[Any], None]
Waits = Generator[Event, Any, None]  # a process that waits on timeouts and events


class Timer(Event, Generic[T]):
    """Processed ``delay`` after creation with ``payload`` as its value, calling
    ``callback`` with itself; :meth:`cancel` before then and nothing happens.

    A process must not wait on a timer that can be cancelled (it would never resume):
    processes wait on ``Timeout``s and are interrupted instead.
    """

    def __init__(
        self,
        env: simpy.Environment,
        delay: int,
        payload: T,
        callback: Callback | None = None,
    ) -> None:
        if delay < 0:
            raise ValueError(f"negative delay {delay}")
        self.env = env
        self.callbacks = [] if callback is None else [callback]
        self._value = payload
        self._ok = True
        env.schedule(self, NORMAL, delay)

    @property
    def payload(self) -> T:
        """What it was made with (its value, typed)."""
        return self._value  # type: ignore[no-any-return]

    def cancel(self) -> None:
        """This wait no longer matters (a no-op once processed)."""
        if self.callbacks:
            self.callbacks.clear()
