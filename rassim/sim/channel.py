"""Timed channels: typed messages delivered after a latency, one hop record per delivery.

A component *declares* the channels it sends on; whoever builds the model wires each
channel's far end to the receiving component's handler. :meth:`Network.check_wired`
fails before simulated time starts if any channel was left unconnected (desmod's
connection check, made explicit).

Delivery is one :class:`~rassim.sim.scheduler.Scheduler` call that hands the message to
the receiver: a hop costs less than a raw SimPy timeout, and a hop that is provably the
next thing to happen runs without a trip through the event queue.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import numpy as np
import pandas as pd
import simpy

from rassim.sim import columns
from rassim.sim.distributions import Distribution
from rassim.sim.scheduler import Scheduler
from rassim.sim.streams import Streams

HOP_COLUMNS = ("error_id", "source", "destination", "kind", "sent_ns", "delivered_ns")


class Tracked(Protocol):
    """The error a message belongs to: its id, and its outcome once it has one."""

    error_id: int
    outcome: object | None


class Message(Protocol):
    """Anything sent on a channel: it belongs to one error, so hops can be followed."""

    kind: str
    event: Tracked


M = TypeVar("M", bound=Message)


class HopLog:
    """Append-only record of channel deliveries (``HOP_COLUMNS``), or a no-op if disabled.

    A row is kept as ``(error_id, link, kind, sent_ns, delivered_ns)`` with ``link`` an
    index into :attr:`links`; the frame is built column-wise at the end.
    """

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.rows: list[tuple[int, int, str, int, int]] = []
        self.links: list[tuple[str, str]] = []

    def add_link(self, source: str, destination: str) -> int:
        self.links.append((source, destination))
        return len(self.links) - 1

    def to_frame(self) -> pd.DataFrame:
        """The hops as a DataFrame, in delivery order."""
        error_id, link, kind, sent, delivered = list(zip(*self.rows, strict=True)) or [()] * 5
        ends = pd.DataFrame(self.links, columns=["source", "destination"], dtype="str")
        links = columns.ints(link)
        return pd.DataFrame(
            {
                "error_id": columns.ints(error_id),
                "source": ends["source"].array.take(links),
                "destination": ends["destination"].array.take(links),
                "kind": columns.strings(kind),
                "sent_ns": columns.ints(sent),
                "delivered_ns": columns.ints(delivered),
            }
        )


class Channel(Generic[M]):
    """A one-way link from ``source`` to ``destination`` with a latency distribution.

    With ``drop_resolved``, a message whose error already has an outcome (its VM or host
    went down while it travelled) is dropped on arrival.
    """

    __slots__ = (
        "_call_at",
        "_draw",
        "_drop_resolved",
        "_env",
        "_handler",
        "_link",
        "_log",
        "_rng",
        "destination",
        "latency",
        "source",
    )

    def __init__(
        self,
        scheduler: Scheduler,
        source: str,
        destination: str,
        latency: Distribution,
        rng: Callable[[], np.random.Generator],
        log: HopLog,
    ) -> None:
        self._env = scheduler.env
        self._call_at = scheduler.call_at
        self.source = source
        self.destination = destination
        self.latency = latency
        self._rng = rng  # made on the first send: most links of a large fleet stay idle
        self._draw: Callable[[], int] = self._first_draw
        self._log = log.rows if log.enabled else None
        self._link = log.add_link(source, destination) if log.enabled else -1
        self._handler: Callable[[M], None] | None = None
        self._drop_resolved = False

    @property
    def wired(self) -> bool:
        return self._handler is not None

    def connect(self, handler: Callable[[M], None], *, drop_resolved: bool = False) -> None:
        """Deliver this channel's messages to ``handler``."""
        if self._handler is not None:
            raise RuntimeError(f"channel {self} is already connected")
        self._handler = handler
        self._drop_resolved = drop_resolved

    def _first_draw(self) -> int:
        constant = self.latency.constant_ns
        if constant is None:
            self._draw = self.latency.sampler(self._rng())
        else:  # a fixed latency needs no random stream
            self._draw = itertools.repeat(constant).__next__
        return self._draw()

    def send(self, message: M) -> None:
        """Deliver ``message`` after one latency draw."""
        now = self._env.now
        self._call_at(now + self._draw(), self._arrive, (message, now))

    def _arrive(self, sent: tuple[M, int]) -> None:
        message, sent_ns = sent
        event = message.event
        if self._log is not None:
            self._log.append((event.error_id, self._link, message.kind, sent_ns, self._env.now))
        if not (self._drop_resolved and event.outcome is not None):
            self._handler(message)  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"{self.source}->{self.destination}"


class Network:
    """Creates the channels of one simulation and checks they are all wired."""

    def __init__(self, env: simpy.Environment, streams: Streams, log: HopLog) -> None:
        self.env = env
        self.scheduler = Scheduler(env)
        self.streams = streams
        self.log = log
        self.channels: list[Channel] = []

    def channel(
        self, source: str, destination: str, latency: Distribution, label: str = ""
    ) -> Channel:
        """A new channel whose latency stream is keyed by its end names (and ``label``,
        which tells apart two links between the same ends)."""
        name = f"link:{source}->{destination}{':' if label else ''}{label}"
        channel: Channel = Channel(
            self.scheduler,
            source,
            destination,
            latency,
            lambda: self.streams.generator(name),
            self.log,
        )
        self.channels.append(channel)
        return channel

    def check_wired(self) -> None:
        """Raise if any channel has no receiver: a model wiring bug, caught before t=0."""
        loose = [repr(c) for c in self.channels if not c.wired]
        if loose:
            raise RuntimeError(f"unwired channels: {', '.join(loose)}")
