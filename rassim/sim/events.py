"""Two SimPy events the model builds on, both written like SimPy's own ``Timeout``.

- :class:`Timer`: a ``Timeout`` that calls back and can be cancelled. A wait that no
  longer matters (a page's next touch after the page was retired, a message in flight
  to a VM that went down) is cancelled by whoever made it moot: when its time comes,
  nothing happens. No stale-timer checks, no epoch counters.
- :class:`Receive`: what ``inbox.get()`` returns to a process; the channel that
  delivers a message succeeds it at the delivery's instant.

Both set ``_ok`` and ``_value`` on themselves, exactly as ``simpy.events.Timeout`` does;
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
        self.payload = payload  # what it is for (a plain attribute: read on every hop)
        self._value = payload
        self._ok = True
        env.schedule(self, NORMAL, delay)

    def cancel(self) -> None:
        """This wait no longer matters (a no-op once processed)."""
        if self.callbacks:
            self.callbacks.clear()


class Receive(Event):
    """The event a process waits on for its next message (``msg = yield inbox.get()``)."""

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self.callbacks = []

    def deliver(self, message: object) -> None:
        """Succeed with ``message`` and resume the waiting process now.

        This runs inside the processing of the delivery that carries ``message``, at the
        same simulated instant: one queue entry per hop instead of two (a delivery, then
        this event). ``Environment.step()`` would do exactly this if it popped the event
        next: take its callbacks and call them.
        """
        self._ok = True
        self._value = message
        callbacks, self.callbacks = self.callbacks, None  # type: ignore[assignment]
        for callback in callbacks:
            callback(self)

    @classmethod
    def delivered(cls, env: simpy.Environment, message: object) -> Receive:
        """An already processed receive: a process that yields it continues at once."""
        receive = cls(env)
        receive.deliver(message)
        return receive
