"""The calendar of deadlines behind one SimPy event (rassim.sim.deadlines)."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import simpy

from rassim.sim.deadlines import Deadline, Deadlines
from rassim.sim.environment import Environment
from rassim.sim.events import Timer

HORIZON = 1_000


def _calendar() -> tuple[Environment, Deadlines, list[tuple[int, Any]]]:
    env = Environment()
    return env, Deadlines(env, HORIZON), []


def _steps(env: simpy.Environment) -> int:
    """Run ``env`` to the end, counting its steps."""
    steps = 0
    while env.peek() < simpy.core.Infinity:
        env.step()
        steps += 1
    return steps


def test_deadlines_run_in_time_order_at_their_times() -> None:
    env, calendar, ran = _calendar()
    for at, name in [(30, "c"), (10, "a"), (20, "b"), (40, "d")]:
        calendar.arm(at, name, lambda name: ran.append((env.now, name)))
    env.run()
    assert ran == [(10, "a"), (20, "b"), (30, "c"), (40, "d")]


def test_a_fractional_time_is_rounded_up() -> None:
    env, calendar, ran = _calendar()
    calendar.arm(12.2, "x", lambda name: ran.append((env.now, name)))
    env.run()
    assert ran == [(13, "x")]


def test_same_instant_deadlines_run_in_arming_order() -> None:
    env, calendar, ran = _calendar()
    for name in "abcd":
        calendar.arm(10 if name != "b" else 5, name, lambda name: ran.append((env.now, name)))
    env.run()
    assert ran == [(5, "b"), (10, "a"), (10, "c"), (10, "d")]


def test_one_armed_for_now_during_a_wake_up_runs_after_what_simpy_queued_for_now() -> None:
    """As a Timer of delay 0 would: after the events already on SimPy's queue for now."""
    env, calendar, ran = _calendar()

    def first(_: object) -> None:
        ran.append((env.now, "first"))
        calendar.arm(env.now, "again", lambda name: ran.append((env.now, name)))

    calendar.arm(10, "first", first)
    calendar.arm(10, "second", lambda name: ran.append((env.now, name)))
    Timer(env, 10, "timer", lambda timer: ran.append((env.now, timer.value)))
    env.run()
    assert ran == [(10, "first"), (10, "second"), (10, "timer"), (10, "again")]


def test_a_cancelled_head_does_not_run_and_the_next_one_does() -> None:
    env, calendar, ran = _calendar()
    head = calendar.arm(5, "head", lambda name: ran.append((env.now, name)))
    calendar.arm(10, "next", lambda name: ran.append((env.now, name)))
    assert head is not None
    head.cancel()
    env.run()
    assert ran == [(10, "next")]


def test_cancelled_deadlines_behind_the_head_cost_no_simpy_step() -> None:
    env, calendar, ran = _calendar()
    handles = [calendar.arm(10 + i, i, lambda i: ran.append((env.now, i))) for i in range(100)]
    for handle in handles[1:-1]:
        assert handle is not None
        handle.cancel()
    assert _steps(env) == 2  # the head's wake-up, then the last one's
    assert ran == [(10, 0), (109, 99)]


def test_cancelling_one_that_ran_or_a_cleared_one_does_nothing() -> None:
    env, calendar, ran = _calendar()
    done = calendar.arm(5, "done", lambda name: ran.append((env.now, name)))
    env.run()
    assert done is not None
    done.cancel()
    cleared = calendar.arm(20, "cleared", lambda name: ran.append((env.now, name)))
    calendar.clear()
    assert cleared is not None
    cleared.cancel()
    env.run()
    assert ran == [(5, "done")]


def test_clear_drops_every_deadline_and_the_calendar_works_on() -> None:
    env, calendar, ran = _calendar()
    for at in (5, 10, 15):
        calendar.arm(at, at, lambda at: ran.append((env.now, at)))
    calendar.clear()
    env.run()
    assert ran == []
    calendar.arm(env.now + 7, "later", lambda name: ran.append((env.now, name)))
    env.run()
    assert ran == [(env.now, "later")]


def test_one_earlier_than_the_head_gets_its_own_wake_up_and_the_later_one_stays() -> None:
    """The wake-up for the old head still serves it: one step per instant."""
    env, calendar, ran = _calendar()

    def note(name: str) -> None:
        ran.append((env.now, name))
        if name == "early":
            calendar.arm(60, "between", note)

    calendar.arm(100, "late", note)
    calendar.arm(50, "early", note)
    assert _steps(env) == 3
    assert ran == [(50, "early"), (60, "between"), (100, "late")]


def test_the_horizon_arms_nothing_at_or_after_it() -> None:
    env, calendar, ran = _calendar()
    assert calendar.arm(HORIZON, "at", lambda name: ran.append((env.now, name))) is None
    assert calendar.arm(float("inf"), "never", lambda name: ran.append((env.now, name))) is None
    calendar.arm(HORIZON - 0.5, "just before", lambda name: ran.append((env.now, name)))
    env.run()
    assert ran == [(HORIZON, "just before")]  # rounded up, as a Timer's delay was


class _Timers:
    """The reference: one Timer per deadline, as the model had them."""

    def __init__(self, env: Environment) -> None:
        self.env = env

    def arm(self, at: float, payload: Any, callback: Callable[[Any], None]) -> Timer[Any] | None:
        if at >= HORIZON:
            return None
        when = -(-at // 1)
        return Timer(self.env, int(when) - self.env.now, payload, lambda t: callback(t.value))


def _random_run(make: Callable[[Environment], Any], seed: int) -> tuple[list[tuple[int, int]], int]:
    """Deadlines that arm others (some at the same instant, some for now; about 20 live)
    and cancel random live ones, now and then all of them: what ran when, and SimPy's
    steps."""
    rng = random.Random(seed)
    env = Environment()
    clocks = make(env)
    live: dict[int, Deadline | Timer[Any]] = {}
    ran: list[tuple[int, int]] = []
    names = iter(range(10**9))

    def arm() -> None:
        name = next(names)
        at = env.now + rng.choice([0, 0.5, 3, 3, 7, 20, 100 * rng.random()])
        handle = clocks.arm(at, name, run)
        if handle is not None:
            live[name] = handle

    def run(name: int) -> None:
        del live[name]
        ran.append((env.now, name))
        for _ in range(rng.choice([0, 1, 2, 3]) if len(live) < 20 else 0):
            arm()
        if live and rng.random() < 0.4:
            live.pop(rng.choice(sorted(live))).cancel()
        if rng.random() < 0.01:
            for handle in live.values():
                handle.cancel()
            live.clear()
        if not live:
            arm()  # until the horizon

    for _ in range(5):
        arm()
    return ran, _steps(env)


def test_the_calendar_runs_what_one_timer_each_would_in_fewer_steps() -> None:
    for seed in range(20):
        ran, steps = _random_run(lambda env: Deadlines(env, HORIZON), seed)
        expected, timer_steps = _random_run(_Timers, seed)
        assert ran == expected, seed
        assert len(ran) > 150
        assert steps < timer_steps
