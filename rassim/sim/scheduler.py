"""Timed calls on a SimPy event queue, with the provably next one run in place.

Most of what the model schedules is a plain call at a future time: a channel delivery, a
page's next touch, the next UE arrival. A SimPy ``Timeout`` plus a callback costs an
event object, a heap push and a heap pop per call. :class:`Scheduler` puts calls on the
same queue as SimPy's own events (so processes, timeouts and calls interleave in one
order) and adds one exact shortcut: when a call made *while another call runs* would be
the very next entry popped, it runs as soon as the current call returns, with the clock
moved to its time, without going through the queue.

The shortcut never changes the order of anything. Every call reserves its place (time,
priority, SimPy event id) when it is made, exactly as ``env.schedule()`` would; the call
runs in place only if that place sorts before every entry on the queue, which is the
condition under which SimPy would pop it next. Calls made from SimPy processes (outside
a running call) always go on the queue. ``tests/sim/test_scheduler.py`` checks that whole
runs are identical with the shortcut off.

This relies on SimPy 4's ``Environment`` internals (``_queue``, ``_eid``, ``_now``); the
tests fail loudly if a SimPy release changes them.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heappush
from typing import Any

import simpy
from simpy.events import NORMAL

Call = Callable[[Any], None]


class _Queued:
    """A call waiting on SimPy's queue, shaped as the event ``Environment.step()`` pops."""

    __slots__ = ("arg", "callbacks", "fn")
    _ok = True

    def __init__(self, callbacks: list, fn: Call, arg: Any) -> None:
        self.callbacks = callbacks
        self.fn = fn
        self.arg = arg


class Scheduler:
    """Schedules ``fn(arg)`` at absolute simulated times on ``env``'s queue."""

    inline = True  # run the provably next call in place (off only to test equivalence)

    def __init__(self, env: simpy.Environment) -> None:
        self.env = env
        self._queue: list = env._queue  # type: ignore[attr-defined]
        self._eid = env._eid  # type: ignore[attr-defined]
        self._callbacks = [self._run]  # shared: step() never mutates the list it takes
        self._outbox: list[tuple[int, int, Call, Any]] | None = None

    def call_at(self, at: int, fn: Call, arg: Any) -> None:
        """Call ``fn(arg)`` at time ``at`` (>= now); ties run in the order calls were made."""
        eid = next(self._eid)
        if self._outbox is not None:
            self._outbox.append((at, eid, fn, arg))
        else:
            self._push(at, eid, fn, arg)

    def _push(self, at: int, eid: int, fn: Call, arg: Any) -> None:
        heappush(self._queue, (at, NORMAL, eid, _Queued(self._callbacks, fn, arg)))

    def _run(self, queued: _Queued) -> None:
        """Run a popped call, then every call it (transitively) made that sorts next."""
        outbox: list[tuple[int, int, Call, Any]] = []
        self._outbox = outbox
        queue, env, inline = self._queue, self.env, self.inline
        fn, arg = queued.fn, queued.arg
        try:
            while True:
                fn(arg)
                if not outbox:
                    return
                if len(outbox) > 1:
                    outbox.sort()  # by (time, event id); ids are unique
                    for entry in outbox[1:]:
                        self._push(*entry)
                at, eid, fn, arg = outbox[0]
                outbox.clear()
                # SimPy's queue holds (time, priority, event id, event); ids are unique.
                if not inline or (queue and (at, NORMAL, eid) > queue[0]):
                    self._push(at, eid, fn, arg)
                    return
                env._now = at  # type: ignore[attr-defined]
        finally:
            self._outbox = None
