"""Timed channels: typed messages delivered to a process's inbox after a latency.

A component reads its inbox in a process, ``msg = yield inbox.get()``; its neighbours
hold :class:`Channel` ends that :meth:`~Channel.send` into that inbox. Whoever builds the
model creates the inboxes and the channels between them and hands each component its
own: a channel is connected from the moment it exists.

A hop is one :class:`~rassim.sim.events.Timer` on SimPy's queue: when it is processed,
the message goes straight to the process waiting in the inbox (or waits in the inbox if
the process is busy elsewhere). Messages overtake each other when their latencies say so.
A message in flight can be cancelled (:meth:`Channel.cancel`): its delivery no longer
matters, for instance because the VM it was going to went down.

Every send is recorded in a :class:`HopLog` (one row per hop, with the time it is, or
was going to be, delivered), unless the log is disabled.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

import numpy as np

from rassim.sim.distributions import Distribution
from rassim.sim.environment import Environment
from rassim.sim.events import Receive, Timer
from rassim.sim.streams import Streams


class Tracked(Protocol):
    """What a message belongs to: one error, so hops can be followed end to end."""

    @property
    def error_id(self) -> int: ...


class Message(Protocol):
    """Anything sent on a channel."""

    @property
    def kind(self) -> str: ...

    @property
    def error(self) -> Tracked: ...


M = TypeVar("M", bound=Message)
Mc = TypeVar("Mc", bound=Message, contravariant=True)  # a channel of M takes any of M's kinds
Where = Callable[[Any], bool]  # selects messages by their content
Reader: TypeAlias = Generator[Receive, M, None]  # a process reading an Inbox[M] forever


class HopLog:
    """Append-only record of channel sends, or a no-op if disabled.

    A row is kept as ``(error_id, link, kind, sent_ns, delivered_ns)`` with ``link`` an
    index into :attr:`links`.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.rows: list[tuple[int, int, str, int, int]] = []
        self.links: list[tuple[str, str]] = []

    def add_link(self, source: str, destination: str) -> int:
        self.links.append((source, destination))
        return len(self.links) - 1


class Inbox(Generic[M]):
    """Where one process receives its messages, in delivery order."""

    __slots__ = ("_waiting", "arrived", "env", "name")

    def __init__(self, env: Environment, name: str) -> None:
        self.env = env
        self.name = name
        self._waiting: Receive | None = None  # the reader's pending get()
        self.arrived: deque[Receive] = deque()  # delivered while the reader was busy (read-only)

    def get(self) -> Receive:
        """The next message: ``msg = yield inbox.get()``."""
        if self.arrived:
            return self.arrived.popleft()
        if self._waiting is not None:
            raise RuntimeError(f"inbox {self.name}: one reader at a time")
        receive = self._waiting = Receive(self.env)
        return receive

    def cancel(self, where: Where) -> None:
        """Drop the delivered messages ``where`` selects that the reader has not taken."""
        self.arrived = deque(r for r in self.arrived if not where(r.value))

    def __repr__(self) -> str:
        return f"Inbox({self.name})"


class Channel(Generic[Mc]):
    """A one-way link into ``inbox`` with a latency distribution."""

    __slots__ = (
        "_draw",
        "_env",
        "_inbox",
        "_link",
        "_log",
        "_rng",
        "destination",
        "in_flight",
        "latency",
        "source",
    )

    def __init__(
        self,
        env: Environment,
        source: str,
        destination: str,
        latency: Distribution,
        inbox: Inbox[Any],
        rng: Callable[[], np.random.Generator],
        log: HopLog,
    ) -> None:
        self._env = env
        self.source = source
        self.destination = destination
        self.latency = latency
        self._inbox = inbox
        self._rng = rng  # made on the first send: most links of a large fleet stay idle
        self._draw: Callable[[], int] = self._first_draw
        self._log = log.rows if log.enabled else None
        self._link = log.add_link(source, destination) if log.enabled else -1
        self.in_flight: set[Timer[Any]] = set()  # deliveries not yet arrived (read-only)

    def _first_draw(self) -> int:
        constant = self.latency.constant_ns
        if constant is None:
            self._draw = self.latency.sampler(self._rng())
        else:  # a fixed latency needs no random stream
            self._draw = itertools.repeat(constant).__next__
        return self._draw()

    def send(self, message: Mc) -> None:
        """Deliver ``message`` to the inbox after one latency draw."""
        delay = self._draw()
        if self._log is not None:
            now = self._env.now
            self._log.append((message.error.error_id, self._link, message.kind, now, now + delay))
        self.in_flight.add(Timer(self._env, delay, message, self._arrive))

    def _arrive(self, delivery: Timer[Any]) -> None:
        self.in_flight.discard(delivery)
        inbox = self._inbox
        receive = inbox._waiting
        if receive is None:
            inbox.arrived.append(Receive.delivered(self._env, delivery.payload))
        else:
            inbox._waiting = None
            receive.deliver(delivery.payload)

    def cancel(self, where: Where | None = None) -> None:
        """Cancel the messages in flight (those ``where`` selects): they never arrive."""
        for delivery in list(self.in_flight):
            if where is None or where(delivery.payload):
                delivery.cancel()
                self.in_flight.discard(delivery)

    def __repr__(self) -> str:
        return f"{self.source}->{self.destination}"


class Network:
    """Makes the inboxes and channels of one simulation; each link draws its latencies
    from the stream named after its ends (and ``label``, telling apart two links between
    the same ends)."""

    def __init__(self, env: Environment, streams: Streams, log: HopLog) -> None:
        self.env = env
        self.streams = streams
        self.log = log

    def inbox(self, name: str) -> Inbox:
        return Inbox(self.env, name)

    def channel(
        self, source: str, inbox: Inbox[M], latency: Distribution, label: str = ""
    ) -> Channel[M]:
        """A channel from the component ``source`` into ``inbox``."""
        name = f"link:{source}->{inbox.name}{':' if label else ''}{label}"
        return Channel(
            self.env,
            source,
            inbox.name,
            latency,
            inbox,
            lambda: self.streams.generator(name),
            self.log,
        )
