"""Timed channels: typed messages delivered after a latency, one hop record per delivery.

A component *declares* the channels it sends on; whoever builds the model wires each
channel's far end to the receiving component's handler. :meth:`Network.check_wired`
fails before simulated time starts if any channel was left unconnected (desmod's
connection check, made explicit).

Delivery uses a single SimPy ``Timeout`` whose callback hands the message to the
receiver: one scheduler event per hop, so the model's cost per hop stays close to raw
SimPy's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

import numpy as np
import pandas as pd
import simpy

from rassim.sim.distributions import Distribution
from rassim.sim.streams import Streams

HOP_COLUMNS = ("error_id", "source", "destination", "kind", "sent_ns", "delivered_ns")


class Message(Protocol):
    """Anything sent on a channel: it belongs to one error, so hops can be followed."""

    kind: str

    @property
    def error_id(self) -> int: ...


M = TypeVar("M", bound=Message)


class HopLog:
    """Append-only record of channel deliveries (``HOP_COLUMNS``), or a no-op if disabled."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self.rows: list[tuple[int, str, str, str, int, int]] = []

    def to_frame(self) -> pd.DataFrame:
        """The hops as a DataFrame, in delivery order."""
        frame = pd.DataFrame.from_records(self.rows, columns=list(HOP_COLUMNS))
        return frame.astype({"error_id": "int64", "sent_ns": "int64", "delivered_ns": "int64"})


class Channel(Generic[M]):
    """A one-way link from ``source`` to ``destination`` with a latency distribution."""

    __slots__ = ("_draw", "_env", "_handler", "_log", "_rng", "destination", "latency", "source")

    def __init__(
        self,
        env: simpy.Environment,
        source: str,
        destination: str,
        latency: Distribution,
        rng: Callable[[], np.random.Generator],
        log: HopLog,
    ) -> None:
        self._env = env
        self.source = source
        self.destination = destination
        self.latency = latency
        self._rng = rng  # made on the first send: most links of a large fleet stay idle
        self._draw: Callable[[], int] = self._first_draw
        self._log = log if log.enabled else None
        self._handler: Callable[[M], None] | None = None

    @property
    def wired(self) -> bool:
        return self._handler is not None

    def connect(self, handler: Callable[[M], None]) -> None:
        """Deliver this channel's messages to ``handler``."""
        if self._handler is not None:
            raise RuntimeError(f"channel {self} is already connected")
        self._handler = handler

    def _first_draw(self) -> int:
        self._draw = self.latency.sampler(self._rng())
        return self._draw()

    def send(self, message: M) -> None:
        """Deliver ``message`` after one latency draw."""
        event = self._env.timeout(self._draw(), (message, self._env.now))
        event.callbacks.append(self._arrive)  # type: ignore[union-attr]

    def _arrive(self, event: simpy.Event) -> None:
        message, sent_ns = event.value
        if self._log is not None:
            self._log.rows.append(
                (
                    message.error_id,
                    self.source,
                    self.destination,
                    message.kind,
                    sent_ns,
                    self._env.now,
                )
            )
        self._handler(message)  # type: ignore[misc]

    def __repr__(self) -> str:
        return f"{self.source}->{self.destination}"


class Network:
    """Creates the channels of one simulation and checks they are all wired."""

    def __init__(self, env: simpy.Environment, streams: Streams, log: HopLog) -> None:
        self.env = env
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
            self.env, source, destination, latency, lambda: self.streams.generator(name), self.log
        )
        self.channels.append(channel)
        return channel

    def check_wired(self) -> None:
        """Raise if any channel has no receiver: a model wiring bug, caught before t=0."""
        loose = [repr(c) for c in self.channels if not c.wired]
        if loose:
            raise RuntimeError(f"unwired channels: {', '.join(loose)}")
