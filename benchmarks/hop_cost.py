"""What a hop costs: instructions per message through a chain of layers, three ways.

- ``process``: the model's hop, a :class:`~rassim.sim.channel.Channel` into an
  :class:`~rassim.sim.channel.Inbox` that a process reads (the layer resumes there);
- ``callback``: a :class:`~rassim.sim.channel.Delivery` whose callback calls the next
  layer's handler at its instant (still one SimPy event a hop, no process resumed);
- ``inline``: the handlers called one after the other at the same instant, no event at
  all: the floor under any redesign of the hop (on SimPy's public API the clock cannot
  advance between them).

Each sends messages, one a microsecond, through ``LAYERS`` layers 1 us apart; the
layers only pass them on. Instructions are counted under callgrind as by ``bench.py``'s
``instructions`` group, at two sizes, so that start-up cancels out::

    python benchmarks/hop_cost.py
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Generator
from typing import Any

import numpy as np
from simpy.events import NORMAL, Event

from rassim.sim.channel import Channel, Delivery, HopLog, Inbox, Network
from rassim.sim.distributions import parse_distribution
from rassim.sim.environment import Environment
from rassim.sim.streams import Streams

LAYERS = 4
GAP_NS = 1000
SIZES = (2_000, 12_000)


class Error:
    __slots__ = ("error_id",)

    def __init__(self, error_id: int) -> None:
        self.error_id = error_id


class Message:
    """What a layer sends on: a new message for the same error, as the model's layers do."""

    __slots__ = ("error",)
    kind = "message"

    def __init__(self, error: Error) -> None:
        self.error = error


Handler = Callable[[Message], None]


def _source(env: Environment, messages: int, first: Handler) -> Generator[Event, Any, None]:
    for error_id in range(messages):
        yield env.timeout(GAP_NS)
        first(Message(Error(error_id)))


def _layers(send: Callable[[int], Handler]) -> tuple[list[Handler], list[int]]:
    """Handlers that pass a message on through ``send(i)`` to layer ``i``; the last one
    counts it."""
    done = [0]

    def layer(i: int) -> Handler:
        def handle(message: Message) -> None:
            if i + 1 < LAYERS:
                send(i + 1)(Message(message.error))
            else:
                done[0] += 1

        return handle

    return [layer(i) for i in range(LAYERS)], done


def process(messages: int) -> int:
    env = Environment()
    net = Network(env, Streams(np.random.SeedSequence(0)), HopLog(enabled=False))
    inboxes: list[Inbox[Message]] = [net.inbox(f"layer{i}") for i in range(LAYERS)]
    latency = parse_distribution(f"{GAP_NS}ns")
    channels: list[Channel[Message]] = [
        net.channel(f"layer{i - 1}", inbox, latency) for i, inbox in enumerate(inboxes)
    ]
    handlers, done = _layers(lambda i: channels[i].send)

    def reader(i: int) -> Generator[Event, Message, None]:
        while True:
            handlers[i]((yield inboxes[i].get()))

    for i in range(LAYERS):
        env.process(reader(i))
    env.process(_source(env, messages, channels[0].send))
    env.run()
    return done[0]


def callback(messages: int) -> int:
    env = Environment()
    handlers: list[Handler] = []

    def link(i: int) -> Handler:
        """A send to layer ``i``, made once as the model's channels are: its deliveries'
        callback is the same function for every message."""

        def arrive(delivery: Delivery[Message]) -> None:
            handlers[i](delivery.message)

        def deliver(message: Message) -> None:
            delivery: Delivery[Message] = Delivery()
            delivery.callbacks = [arrive]
            delivery.message = message
            env.schedule(delivery, NORMAL, GAP_NS)

        return deliver

    links = [link(i) for i in range(LAYERS)]
    layered, done = _layers(lambda i: links[i])
    handlers += layered
    env.process(_source(env, messages, links[0]))
    env.run()
    return done[0]


def inline(messages: int) -> int:
    env = Environment()
    handlers: list[Handler] = []
    layered, done = _layers(lambda i: handlers[i])
    handlers += layered
    env.process(_source(env, messages, handlers[0]))
    env.run()
    return done[0]


WAYS = {"process": process, "callback": callback, "inline": inline}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workload", choices=WAYS, help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, default=1, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.workload:
        print(WAYS[args.workload](args.size))
        return 0
    from bench import callgrind, callgrind_missing

    if missing := callgrind_missing():
        parser.error(f"counting instructions needs {missing}")

    per_message = {}
    for way in WAYS:
        (small, _), (large, done) = (callgrind(way, size, __file__) for size in SIZES)
        assert done == SIZES[1], f"{way}: {done} of {SIZES[1]} messages arrived"
        per_message[way] = (large - small) / (SIZES[1] - SIZES[0])
    floor = per_message["inline"]
    print(f"instructions per message through {LAYERS} layers (callgrind)")
    for way, cost in per_message.items():
        print(f"{way:>9}: {cost:9,.0f} a message, {(cost - floor) / LAYERS:7,.0f} a hop")
    return 0


if __name__ == "__main__":
    sys.exit(main())
