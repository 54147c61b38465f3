"""Random draws for the event loop: one stream's uniforms, fetched a block at a time.

Calling a numpy ``Generator`` for one number costs microseconds; the model needs a few
numbers per error at every layer. :class:`Draws` takes uniforms from its generator
4096 at a time and turns them into the draws the model needs, so the sequence a
component sees depends only on its own stream.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Sequence

import numpy as np

BLOCK = 4096


class Draws:
    """Uniform, integer, exponential and weighted draws from one generator."""

    __slots__ = ("_block", "_generator", "_index", "_make")

    def __init__(self, make: Callable[[], np.random.Generator]) -> None:
        self._make = make  # generators are made on first use: most components never draw
        self._generator: np.random.Generator | None = None
        self._block: list[float] = []
        self._index = 0

    def random(self) -> float:
        """A uniform number in [0, 1)."""
        if self._index == len(self._block):
            if self._generator is None:
                self._generator = self._make()
            self._block = self._generator.random(BLOCK).tolist()
            self._index = 0
        value = self._block[self._index]
        self._index += 1
        return value

    def below(self, n: int) -> int:
        """A uniform integer in [0, n)."""
        return min(int(self.random() * n), n - 1)

    def exponential(self, mean: float) -> float:
        """An exponential number with ``mean`` (inverse transform)."""
        return -mean * math.log1p(-self.random())

    def index(self, cumulative: Sequence[float]) -> int:
        """An index drawn with the weights whose running sums (ending at 1) are given."""
        return min(bisect.bisect_right(cumulative, self.random()), len(cumulative) - 1)

    def chance(self, p: float) -> bool:
        """True with probability ``p``."""
        return self.random() < p
