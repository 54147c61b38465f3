"""Random draws for the event loop: one stream's uniforms, fetched a block at a time.

Calling a numpy ``Generator`` for one number costs microseconds; the model needs a few
numbers per error at every layer. :class:`Draws` takes uniforms from its generator
4096 at a time (one C-level ``next`` per number) and turns them into the draws the model
needs, so the sequence a component sees depends only on its own stream.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterator, Sequence
from itertools import chain

import numpy as np

from rassim.sim.distributions import blocks

BLOCK = 4096


class Draws:
    """Uniform, integer, exponential, weighted and multinomial draws from one generator."""

    __slots__ = ("_made", "_make", "random")

    def __init__(self, make: Callable[[], np.random.Generator]) -> None:
        # The generator is made on the first draw: most components never draw.
        self._make = make
        self._made: np.random.Generator | None = None
        self.random: Callable[[], float] = chain.from_iterable(_uniforms(self)).__next__
        """A uniform number in [0, 1)."""

    def generator(self) -> np.random.Generator:
        """The stream's generator (made now if it was not)."""
        if self._made is None:
            self._made = self._make()
        return self._made

    def below(self, n: int) -> int:
        """A uniform integer in [0, n), for n < 2**52 (so ``random() * n`` rounds below n)."""
        return int(self.random() * n)

    def exponential(self, mean: float) -> float:
        """An exponential number with ``mean`` (inverse transform)."""
        return -mean * math.log1p(-self.random())

    def index(self, cumulative: Sequence[float]) -> int:
        """An index drawn with the weights whose running sums (ending at 1) are given."""
        return min(bisect.bisect_right(cumulative, self.random()), len(cumulative) - 1)

    def multinomial(self, n: int, shares: np.ndarray) -> list[int]:
        """How many of ``n`` items fall in each category of ``shares`` (summing to 1): one
        draw, whatever ``n``."""
        return self.generator().multinomial(n, shares).tolist()


def _uniforms(draws: Draws) -> Iterator[list[float]]:
    yield from blocks(draws.generator().random, BLOCK)
