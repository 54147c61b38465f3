"""Timed channels into inboxes read by SimPy processes, and the cancellable Timer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import simpy

from rassim.model.tables import HOP_COLUMNS, hops_frame
from rassim.sim.channel import HopLog, Inbox, Network
from rassim.sim.distributions import Exponential, Fixed
from rassim.sim.events import Timer
from rassim.sim.streams import Streams


@dataclass(frozen=True)
class Error:
    error_id: int


@dataclass(frozen=True)
class Ping:
    error: Error
    kind: ClassVar[str] = "Ping"


def ping(error_id: int) -> Ping:
    return Ping(Error(error_id))


def _network(log: HopLog | None = None) -> Network:
    return Network(simpy.Environment(), Streams(0), log or HopLog())


def _reader(env: simpy.Environment, inbox: Inbox, got: list, busy: int = 0):
    """Reads ``inbox`` forever, noting (error id, time); ``busy`` ns of work per message."""
    while True:
        message = yield inbox.get()
        got.append((message.error.error_id, env.now))
        if busy:
            yield env.timeout(busy)


def test_a_waiting_process_gets_the_message_after_the_latency() -> None:
    net = _network()
    inbox = net.inbox("el3")
    channel = net.channel("cpu", inbox, Fixed(50_000))
    got: list[tuple[int, int]] = []
    net.env.process(_reader(net.env, inbox, got))
    net.env.run(until=10)
    channel.send(ping(7))
    net.env.run()
    assert got == [(7, 50_010)]
    frame = hops_frame(net.log)
    assert frame.to_dict("records") == [
        {
            "error_id": 7,
            "source": "cpu",
            "destination": "el3",
            "kind": "Ping",
            "sent_ns": 10,
            "delivered_ns": 50_010,
        }
    ]
    assert tuple(frame.columns) == HOP_COLUMNS and frame["delivered_ns"].dtype == "int64"


def test_one_queue_entry_per_hop() -> None:
    """A hop costs one event on SimPy's queue: the delivery resumes the reader itself."""
    net = _network()
    inbox = net.inbox("b")
    channel = net.channel("a", inbox, Fixed(5))
    got: list[tuple[int, int]] = []
    net.env.process(_reader(net.env, inbox, got))
    net.env.step()  # the reader starts and waits
    for i in range(10):
        channel.send(ping(i))
    steps = 0
    while net.env.peek() < float("inf"):
        net.env.step()
        steps += 1
    assert steps == 10 and [error for error, _ in got] == list(range(10))


def test_messages_wait_in_the_inbox_while_the_reader_is_busy() -> None:
    net = _network()
    inbox = net.inbox("b")
    channel = net.channel("a", inbox, Fixed(5))
    got: list[tuple[int, int]] = []
    net.env.process(_reader(net.env, inbox, got, busy=100))
    for i in range(3):
        channel.send(ping(i))
    net.env.run()
    assert got == [(0, 5), (1, 105), (2, 205)]


def test_an_interrupted_reader_finds_the_message_waiting_when_it_reads_again() -> None:
    """A reader interrupted in ``get()`` no longer waits on its inbox: what arrives
    meanwhile waits for it."""
    net = _network()
    inbox = net.inbox("b")
    channel = net.channel("a", inbox, Fixed(5))
    got: list[tuple[int, int]] = []

    def reader():
        try:
            yield inbox.get()
        except simpy.Interrupt:
            yield net.env.timeout(10)
        message = yield inbox.get()
        got.append((message.error.error_id, net.env.now))

    process = net.env.process(reader())
    net.env.run(until=1)
    process.interrupt()
    channel.send(ping(3))
    net.env.run()
    assert got == [(3, 11)] and not inbox.arrived


def test_messages_overtake_each_other_by_latency() -> None:
    """Two links into one inbox: the faster one's later message arrives first."""
    net = _network()
    inbox = net.inbox("kvm")
    slow = net.channel("el3", inbox, Fixed(50))
    fast = net.channel("cpu", inbox, Fixed(4))
    got: list[tuple[int, int]] = []
    net.env.process(_reader(net.env, inbox, got))
    slow.send(ping(1))
    net.env.run(until=10)
    fast.send(ping(2))
    net.env.run()
    assert got == [(2, 14), (1, 50)]


def test_cancelled_messages_never_arrive_but_their_hop_is_logged() -> None:
    net = _network()
    inbox = net.inbox("b")
    channel = net.channel("a", inbox, Fixed(5))
    got: list[tuple[int, int]] = []
    net.env.process(_reader(net.env, inbox, got))
    for i in range(4):
        channel.send(ping(i))
    channel.cancel(lambda message: message.error.error_id % 2 == 1)
    net.env.run(until=3)
    channel.send(ping(9))
    channel.cancel(lambda message: message.error.error_id == 0)
    net.env.run()
    assert got == [(2, 5), (9, 8)]
    assert len(net.log.rows) == 5


def test_cancelling_every_message_leaves_the_reader_waiting_for_the_next() -> None:
    net = _network()
    inbox = net.inbox("b")
    channel = net.channel("a", inbox, Fixed(5))
    got: list[tuple[int, int]] = []
    net.env.process(_reader(net.env, inbox, got))
    channel.send(ping(1))
    net.env.run(until=2)
    channel.cancel()
    channel.send(ping(2))
    net.env.run()
    assert got == [(2, 7)]


def test_an_inbox_has_one_reader() -> None:
    net = _network()
    inbox = net.inbox("b")
    got: list[tuple[int, int]] = []
    net.env.process(_reader(net.env, inbox, got))
    net.env.process(_reader(net.env, inbox, got))
    with pytest.raises(RuntimeError, match="one reader"):
        net.env.run()


def test_integer_clock_stays_integer() -> None:
    net = _network()
    inbox = net.inbox("b")
    channel = net.channel("a", inbox, Exponential(1_000))
    got: list[tuple[int, int]] = []
    net.env.process(_reader(net.env, inbox, got))
    for i in range(100):
        channel.send(ping(i))
    net.env.run()
    assert len(got) == 100 and all(isinstance(t, int) for _, t in got)
    assert [t for _, t in got] == sorted(t for _, t in got)
    assert isinstance(net.env.now, int)


def test_disabled_log_records_nothing_but_still_delivers() -> None:
    net = _network(HopLog(enabled=False))
    inbox = net.inbox("b")
    channel = net.channel("a", inbox, Fixed(5))
    got: list[tuple[int, int]] = []
    net.env.process(_reader(net.env, inbox, got))
    channel.send(ping(1))
    net.env.run()
    assert got == [(1, 5)] and net.log.rows == []
    assert tuple(hops_frame(net.log).columns) == HOP_COLUMNS


def test_latency_draws_are_per_link() -> None:
    """Two links with the same distribution draw from different streams."""
    net = _network()
    times: dict[str, list[tuple[int, int]]] = {"x": [], "y": []}
    for name, got in times.items():
        inbox = net.inbox(name)
        channel = net.channel("src", inbox, Exponential(1_000))
        net.env.process(_reader(net.env, inbox, got))
        for i in range(5):
            channel.send(ping(i))
    net.env.run()
    assert times["x"] != times["y"]


def test_a_fixed_latency_needs_no_random_stream() -> None:
    net = _network()
    channel = net.channel("a", net.inbox("b"), Fixed(5))
    channel.send(ping(1))
    net.env.run()
    assert net.streams._generators == {}


def test_a_cancelled_timer_does_nothing() -> None:
    env = simpy.Environment()
    fired: list[int] = []
    kept = Timer(env, 5, 1, lambda timer: fired.append(timer.value))
    dropped = Timer(env, 3, 2, lambda timer: fired.append(timer.value))
    dropped.cancel()
    env.run()
    kept.cancel()  # processed already: nothing to cancel
    assert fired == [1] and env.now == 5


def test_a_timer_cannot_be_set_in_the_past() -> None:
    with pytest.raises(ValueError, match="negative delay"):
        Timer(simpy.Environment(), -1, None)
