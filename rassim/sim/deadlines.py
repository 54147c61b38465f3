"""Many cancellable deadlines behind one SimPy event: a calendar of one environment's clocks.

A host's memory keeps a clock for each of its poisoned pages and for each owner class of
its pool of rewritten pages, and most of them are cancelled before they run out (the
page is retired, its VM stops, the host panics). As one :class:`~rassim.sim.events.Timer`
each, every cancelled clock still cost an event, a push and a pop on SimPy's queue and a
step of the event loop. :class:`Deadlines` keeps the clocks in a heap of its own; only
the earliest has a ``Timer`` on SimPy's queue (the *wake-up*):

- :meth:`Deadlines.arm` returns a :class:`Deadline`, whose :meth:`~Deadline.cancel` is
  the one idiom for "this wait no longer matters", as for a ``Timer``; a cancelled
  deadline stays in the heap until it reaches the top, and is dropped then;
- a deadline earlier than the wake-up gets a wake-up of its own, and the later one
  stays for the deadline it was for; a wake-up whose deadline was cancelled meanwhile
  runs nothing and schedules the next (so a cancelled deadline costs a SimPy step only
  if it was the earliest when its wake-up was scheduled);
- :meth:`Deadlines.clear` drops every deadline at once (the host stopped);
- deadlines due at the same instant run in the order they were armed, as their ``Timer``
  events would have; one armed during a wake-up for that same instant runs after the
  events already queued for it, as a ``Timer`` of delay 0 would.

Only SimPy's public API is used (the wake-up is a ``Timer``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from heapq import heappop, heappush
from typing import Any, TypeVar

from rassim.sim.environment import Environment
from rassim.sim.events import Timer

T = TypeVar("T")


class Deadline:
    """One armed deadline: ``callback(payload)`` runs at its time unless cancelled first.

    Made by :meth:`Deadlines.arm` without a Python-level ``__init__`` (it sets the two
    slots itself), which saves a call on each of the thousand deadlines a fleet host arms.
    """

    __slots__ = ("callback", "payload")
    payload: Any
    callback: Callable[[Any], None] | None

    def cancel(self) -> None:
        """This wait no longer matters (a no-op once it ran, or its calendar was cleared)."""
        self.callback = None


_new_deadline = object.__new__


class Deadlines:
    """The deadlines of one environment (one host) before ``horizon_ns``; see the module
    docstring."""

    def __init__(self, env: Environment, horizon_ns: int) -> None:
        self.env = env
        self.horizon_ns = horizon_ns
        self._heap: list[tuple[int, int, Deadline]] = []  # (at, sequence, deadline)
        self._armed = 0  # deadlines armed so far: the next one's sequence number
        # Pending wake-ups, latest first: each was earlier than the others when scheduled.
        self._wakes: list[tuple[int, Timer[None]]] = []

    def arm(self, at: float, payload: T, callback: Callable[[T], None]) -> Deadline | None:
        """``callback(payload)`` at ``at`` ns (rounded up; at least now); None, and nothing
        armed, if ``at`` is not before the horizon."""
        if at >= self.horizon_ns:
            return None
        when = math.ceil(at)
        deadline = _new_deadline(Deadline)
        deadline.payload = payload
        deadline.callback = callback
        heappush(self._heap, (when, self._armed, deadline))
        self._armed += 1
        wakes = self._wakes
        if not wakes or when < wakes[-1][0]:
            self._wake(when)
        return deadline

    def clear(self) -> None:
        """Every deadline no longer matters: none of them runs."""
        self._heap.clear()
        for _, wake in self._wakes:
            wake.cancel()
        self._wakes.clear()

    def _wake(self, when: int) -> None:
        """A wake-up at ``when``, earlier than any pending."""
        self._wakes.append((when, Timer(self.env, when - self.env.now, None, self._run)))

    def _run(self, _: Timer[None]) -> None:
        """Run the deadlines due now that were armed before this wake-up, in the order
        they were armed; then make sure a wake-up is pending for the earliest one left.

        A deadline armed meanwhile for now has a wake-up of its own, which SimPy runs
        after the events already queued for now (as a ``Timer`` of delay 0)."""
        heap = self._heap
        self._wakes.pop()  # this one: the earliest
        due = (self.env.now, self._armed)  # what is due now and was armed before this
        while heap and heap[0] < due:
            deadline = heappop(heap)[2]
            callback = deadline.callback
            if callback is not None:
                deadline.callback = None  # it ran: cancelling it now does nothing
                callback(deadline.payload)
        while heap and heap[0][2].callback is None:
            heappop(heap)  # cancelled: dropped on its way to the top
        if heap:
            when = heap[0][0]
            if not self._wakes or when < self._wakes[-1][0]:
                self._wake(when)
