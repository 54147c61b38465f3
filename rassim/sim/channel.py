"""Timed channels: typed messages delivered to a process's inbox after a latency.

A component reads its inbox in a process, ``msg = yield inbox.get()``; its neighbours
hold :class:`Channel` ends that :meth:`~Channel.send` into that inbox. Whoever builds the
model creates the inboxes and the channels between them and hands each component its
own: a channel is connected from the moment it exists.

A hop is one :class:`Delivery` on SimPy's queue: when it is processed, its inbox hands
the message straight to the process waiting there (or keeps it, if the process is busy
elsewhere). The inbox is itself the event its reader waits on, the same one for every
message, so a hop creates one event. Messages overtake each other when their latencies
say so. A message in flight can be cancelled (:meth:`Channel.cancel`): its delivery no
longer matters, for instance because the VM it was going to went down.

Every send is recorded in a :class:`HopLog` (one row per hop, with the time it is, or
was going to be, delivered), unless the log is disabled.

The three events here are written like SimPy's own ``Timeout``: they set their own
``_ok`` and ``_value`` (a delivery's ``_ok`` is its class's); nothing else of SimPy's is
touched but its public API (``Environment.schedule``, ``Event.callbacks``).
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Generator
from typing import Any, Generic, Protocol, TypeAlias, TypeVar

import simpy
from simpy.events import NORMAL, Event

from rassim.sim.distributions import Distribution
from rassim.sim.environment import Environment
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
Reader: TypeAlias = Generator[Event, M, None]  # a process reading an Inbox[M] forever


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


class Inbox(Event, Generic[M]):
    """Where one process receives its messages, in delivery order.

    It is also the event the process waits on, again for every message: it stays
    pending (its ``callbacks`` a list) and a delivery resumes the waiting reader in
    place, at the delivery's instant. ``Environment.step()`` would do exactly this if it
    popped the inbox next: take its callback (the reader's) and call it.
    """

    def __init__(self, env: Environment, name: str) -> None:
        self.env = env
        self.name = name
        self.callbacks = []  # the reader's, while it waits
        self._ok = True
        self.arrived: deque[M] = deque()  # delivered while the reader was busy (read-only)

    def get(self) -> Event:
        """The next message: ``msg = yield inbox.get()``."""
        if self.arrived:
            return Arrived(self.env, self.arrived.popleft())
        if self.callbacks:
            raise RuntimeError(f"inbox {self.name}: one reader at a time")
        return self

    def arrive(self, delivery: Delivery[M]) -> None:
        """``delivery`` is processed: its message resumes the reader now, or waits."""
        delivery.in_flight.discard(delivery)
        callbacks = self.callbacks
        if callbacks:  # the reader waits: resume it now
            self._value = delivery.message
            self.callbacks = []  # pending again, for its next get()
            callbacks[0](self)
        else:
            self.arrived.append(delivery.message)

    def cancel(self, where: Where) -> None:
        """Drop the delivered messages ``where`` selects that the reader has not taken."""
        self.arrived = deque(m for m in self.arrived if not where(m))

    def __repr__(self) -> str:
        return f"Inbox({self.name})"


class Arrived(Event):
    """A message that arrived while the reader was busy, taken now: processed already,
    so the reader's ``yield`` continues at once."""

    def __init__(self, env: simpy.Environment, message: object) -> None:
        self.env = env
        self.callbacks = None  # type: ignore[assignment]
        self._ok = True
        self._value = message


class Delivery(Event, Generic[M]):
    """A message in flight, made and scheduled by :meth:`Channel.send`: processed
    ``delay`` after the send, it calls its inbox's :meth:`~Inbox.arrive` with itself;
    clear its ``callbacks`` and nothing happens.

    It always succeeds, so its ``_ok`` is the class's. It runs no ``__init__`` (neither
    its own nor ``Event``'s, which ``Timeout`` skips too): the channel sets its three
    attributes itself, which saves a Python-level call on every hop.
    """

    _ok = True
    __init__ = object.__init__

    message: M
    in_flight: set[Delivery[M]]  # its channel's, which it leaves when it arrives


class Channel(Generic[Mc]):
    """A one-way link into ``inbox`` with a latency distribution."""

    __slots__ = (
        "_arrive",
        "_draw",
        "_env",
        "_label",
        "_link",
        "_log",
        "_streams",
        "destination",
        "in_flight",
        "latency",
        "source",
    )

    def __init__(
        self,
        env: Environment,
        source: str,
        inbox: Inbox[Any],
        latency: Distribution,
        streams: Streams,
        log: HopLog,
        label: str = "",
    ) -> None:
        self._env = env
        self.source = source
        self.destination = destination = inbox.name
        self.latency = latency
        self._arrive = inbox.arrive
        # Its stream is made on the first send: most links of a large fleet stay idle.
        self._streams = streams
        self._label = label
        self._draw: Callable[[], int] = self._first_draw
        self._log = log.rows if log.enabled else None
        self._link = log.add_link(source, destination) if log.enabled else -1
        self.in_flight: set[Delivery[Any]] = set()  # deliveries not yet arrived (read-only)

    def _first_draw(self) -> int:
        constant = self.latency.constant_ns
        if constant is None:
            self._draw = self.latency.sampler(self._streams.generator(self.stream_name))
        else:  # a fixed latency needs no random stream
            self._draw = itertools.repeat(constant).__next__
        return self._draw()

    @property
    def stream_name(self) -> str:
        """The name of its latencies' stream: its ends, and its label if it has one."""
        label = f":{self._label}" if self._label else ""
        return f"link:{self.source}->{self.destination}{label}"

    def send(self, message: Mc) -> None:
        """Deliver ``message`` to the inbox after one latency draw."""
        delay = self._draw()
        env = self._env
        if self._log is not None:
            now = env.now
            self._log.append((message.error.error_id, self._link, message.kind, now, now + delay))
        delivery: Delivery[Mc] = Delivery()
        delivery.callbacks = [self._arrive]
        delivery.message = message
        delivery.in_flight = in_flight = self.in_flight
        env.schedule(delivery, NORMAL, delay)
        in_flight.add(delivery)

    def cancel(self, where: Where | None = None) -> None:
        """Cancel the messages in flight (those ``where`` selects): they never arrive."""
        for delivery in list(self.in_flight):
            if where is None or where(delivery.message):
                delivery.callbacks.clear()
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
        return Channel(self.env, source, inbox, latency, self.streams, self.log, label)
