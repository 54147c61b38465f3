"""The scheduler's in-place shortcut never changes what happens, or when, or in what order."""

from __future__ import annotations

import pytest
import simpy
from hypothesis import given, settings
from hypothesis import strategies as st

from rassim.sim.scheduler import Scheduler


def test_simpy_internals_the_scheduler_relies_on() -> None:
    env = simpy.Environment()
    assert isinstance(env._queue, list) and isinstance(env._now, int | float)
    assert isinstance(next(env._eid), int)


def test_calls_and_simpy_events_share_one_order() -> None:
    """A call and a SimPy timeout at the same time run in the order they were made."""
    env = simpy.Environment()
    scheduler = Scheduler(env)
    trace: list[tuple[int, str]] = []

    def note(label: str) -> None:
        trace.append((env.now, label))

    scheduler.call_at(5, note, "call 1")
    env.timeout(5).callbacks.append(lambda _: note("timeout"))
    scheduler.call_at(5, note, "call 2")
    scheduler.call_at(3, note, "call 0")
    env.run()
    assert trace == [(3, "call 0"), (5, "call 1"), (5, "timeout"), (5, "call 2")]


def test_a_call_made_inside_a_call_can_run_in_place() -> None:
    env = simpy.Environment()
    scheduler = Scheduler(env)
    trace: list[tuple[int, str]] = []

    def first(_: None) -> None:
        trace.append((env.now, "first"))
        scheduler.call_at(env.now + 4, lambda _: trace.append((env.now, "second")), None)

    scheduler.call_at(10, first, None)
    env.timeout(20).callbacks.append(lambda _: trace.append((env.now, "timeout")))
    env.run()
    assert trace == [(10, "first"), (14, "second"), (20, "timeout")]


def test_run_until_stops_a_cascade_at_the_horizon() -> None:
    env = simpy.Environment()
    scheduler = Scheduler(env)
    seen: list[int] = []

    def tick(_: None) -> None:
        seen.append(env.now)
        scheduler.call_at(env.now + 3, tick, None)

    scheduler.call_at(0, tick, None)
    env.run(until=10)
    assert seen == [0, 3, 6, 9] and env.now == 10


# A random program: each call, when it runs, logs itself and makes more calls (some at
# the same time), starts SimPy timeouts, or starts a process; the trace must not depend
# on the shortcut.
Step = tuple[int, int, int]  # (delay, how many calls, kind: 0 call, 1 timeout, 2 process)


def _trace(program: list[list[Step]], inline: bool) -> list[tuple[int, int]]:
    env = simpy.Environment()
    scheduler = Scheduler(env)
    scheduler.inline = inline
    trace: list[tuple[int, int]] = []
    next_node = iter(range(1, 10_000))

    def node(index: int) -> None:
        trace.append((env.now, index))
        for delay, count, kind in program[index % len(program)]:
            for _ in range(count):
                child = next(next_node, None)
                if child is None:
                    return
                if kind == 0:
                    scheduler.call_at(env.now + delay, node, child)
                elif kind == 1:
                    env.timeout(delay).callbacks.append(lambda _, c=child: node(c))
                else:
                    env.process(_later(env, delay, node, child))

    scheduler.call_at(0, node, 0)
    env.run(until=200)
    return trace


def _later(env: simpy.Environment, delay: int, node, child: int):
    yield env.timeout(delay)
    node(child)


steps = st.tuples(st.integers(0, 6), st.integers(0, 2), st.sampled_from([0, 0, 0, 1, 2]))


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(steps, max_size=3), min_size=1, max_size=6))
def test_in_place_runs_change_nothing(program: list[list[Step]]) -> None:
    assert _trace(program, inline=True) == _trace(program, inline=False)


def test_an_exception_in_a_call_leaves_the_scheduler_usable() -> None:
    env = simpy.Environment()
    scheduler = Scheduler(env)

    def boom(_: None) -> None:
        raise ValueError("boom")

    scheduler.call_at(1, boom, None)
    with pytest.raises(ValueError, match="boom"):
        env.run()
    seen: list[int] = []
    scheduler.call_at(5, seen.append, 5)
    env.run()
    assert seen == [5]
