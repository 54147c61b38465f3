"""Ctrl-C and SIGTERM: one exception for both, and safe places for them to land.

Python raises a signal's exception wherever the main thread happens to be. Inside a
process pool's bookkeeping (spawning a worker, queueing work) that can leave the pool
waiting forever, and between the renames that swap a result into place it would leave
the result half moved. Such code holds both signals with :func:`deferred_interrupts`
and, where waiting is safe, lets a received one through with ``check()``.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from concurrent.futures import FIRST_COMPLETED, Future, wait
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
POLL_S = 0.2  # how often a wait on a pool looks for a held signal


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so cleanup is the same."""


def exit_code(interrupt: KeyboardInterrupt) -> int:
    """The shell's code for a process ended by the signal: 143 (SIGTERM) or 130 (SIGINT)."""
    return 128 + (signal.SIGTERM if isinstance(interrupt, Terminated) else signal.SIGINT)


@contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def terminated(signum: int, frame: object) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class Held:
    """The signals received while held; :meth:`check` raises the first one now."""

    def __init__(self) -> None:
        self.received: list[int] = []

    def check(self) -> None:
        if self.received:
            signum, self.received = self.received[0], []
            raise Terminated if signum == signal.SIGTERM else KeyboardInterrupt


@contextmanager
def deferred_interrupts() -> Iterator[Held]:
    """Hold Ctrl-C and SIGTERM within the block; one received is raised at its end, or
    earlier by ``check()``. Outside the main thread signals cannot arrive: nothing held."""
    held = Held()
    if threading.current_thread() is not threading.main_thread():
        yield held
        return
    handlers = {
        signum: signal.signal(signum, lambda number, frame: held.received.append(number))
        for signum in (signal.SIGINT, signal.SIGTERM)
    }
    try:
        yield held
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
    held.check()


def as_completed_checked(futures: set[Future[T]], held: Held) -> Iterator[Future[T]]:
    """``futures`` as they complete, letting a held signal through between waits."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=POLL_S, return_when=FIRST_COMPLETED)
        held.check()
        yield from done
