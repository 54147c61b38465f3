from dataclasses import dataclass
from typing import ClassVar

import pytest
import simpy

from rassim.sim.channel import HOP_COLUMNS, HopLog, Network
from rassim.sim.distributions import Exponential, Fixed
from rassim.sim.streams import Streams


@dataclass(frozen=True)
class Event:
    error_id: int
    outcome: str | None = None


@dataclass(frozen=True)
class Ping:
    event: Event
    kind: ClassVar[str] = "Ping"


def ping(error_id: int, outcome: str | None = None) -> Ping:
    return Ping(Event(error_id, outcome))


def _network(log: HopLog | None = None) -> Network:
    return Network(simpy.Environment(), Streams(0), log or HopLog())


def test_delivers_after_latency_and_records_hop() -> None:
    net = _network()
    got: list[tuple[int, int]] = []
    channel = net.channel("cpu", "el3", Fixed(50_000))
    channel.connect(lambda m: got.append((m.event.error_id, net.env.now)))
    net.env.run(until=10)
    channel.send(ping(7))
    net.env.run()
    assert got == [(7, 50_010)]
    frame = net.log.to_frame()
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


def test_resolved_messages_are_logged_but_not_delivered() -> None:
    net = _network()
    got: list[int] = []
    channel = net.channel("a", "b", Fixed(5))
    channel.connect(lambda m: got.append(m.event.error_id), drop_resolved=True)
    channel.send(ping(1, outcome="vm_crashed"))
    channel.send(ping(2))
    net.env.run()
    assert got == [2] and len(net.log.to_frame()) == 2


def test_empty_log_has_the_columns() -> None:
    frame = _network().log.to_frame()
    assert tuple(frame.columns) == HOP_COLUMNS and frame.empty


def test_integer_clock_stays_integer() -> None:
    net = _network()
    channel = net.channel("a", "b", Exponential(1_000))
    channel.connect(lambda m: None)
    for i in range(100):
        channel.send(ping(i))
    net.env.run()
    assert all(isinstance(row[4], int) for row in net.log.rows)
    assert isinstance(net.env.now, int)


def test_disabled_log_records_nothing_but_still_delivers() -> None:
    net = _network(HopLog(enabled=False))
    got: list[int] = []
    channel = net.channel("a", "b", Fixed(5))
    channel.connect(lambda m: got.append(m.event.error_id))
    channel.send(ping(1))
    net.env.run()
    assert got == [1] and net.log.rows == []


def test_unwired_channel_fails_before_time_starts() -> None:
    net = _network()
    net.channel("kvm", "vmm", Fixed(1))
    wired = net.channel("vmm", "guest", Fixed(1))
    wired.connect(lambda m: None)
    with pytest.raises(RuntimeError, match="kvm->vmm"):
        net.check_wired()


def test_double_connect_is_an_error() -> None:
    channel = _network().channel("a", "b", Fixed(1))
    channel.connect(lambda m: None)
    with pytest.raises(RuntimeError, match="already connected"):
        channel.connect(lambda m: None)


def test_latency_draws_are_per_link() -> None:
    """Two links with the same distribution draw from different streams."""
    net = _network()
    times: dict[str, list[int]] = {"x": [], "y": []}
    for name in times:
        channel = net.channel("src", name, Exponential(1_000))
        channel.connect(lambda m, name=name: times[name].append(net.env.now))
        for i in range(5):
            channel.send(ping(i))
    net.env.run()
    assert times["x"] != times["y"]


def test_a_fixed_latency_needs_no_random_stream() -> None:
    net = _network()
    channel = net.channel("a", "b", Fixed(5))
    channel.connect(lambda m: None)
    channel.send(ping(1))
    net.env.run()
    assert net.streams._generators == {}
