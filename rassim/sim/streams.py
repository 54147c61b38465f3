"""Independent random streams, one per component, all derived from one seed.

A stream is keyed by the component's dotted name (``"host0.vm1.guest"``), not by the
order in which components ask for streams, so adding a component never shifts the draws
of another: each name maps to its own child of the root ``numpy.random.SeedSequence``.
"""

from __future__ import annotations

import hashlib

import numpy as np

from rassim.sim.draws import Draws


def name_key(name: str) -> int:
    """A stable 64-bit integer for ``name`` (Python's ``hash`` is salted per process)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def root_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    """The root ``SeedSequence`` of ``seed`` (itself if it is one). Streams only read it,
    so one can serve any number of them."""
    return seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)


class Streams:
    """Random generators keyed by name, spawned from one root ``SeedSequence``."""

    def __init__(self, seed: int | np.random.SeedSequence) -> None:
        self.root = root_sequence(seed)
        self._generators: dict[str, np.random.Generator] = {}

    def seed_sequence(self, name: str) -> np.random.SeedSequence:
        """The child ``SeedSequence`` for ``name``."""
        return np.random.SeedSequence(
            self.root.entropy, spawn_key=(*self.root.spawn_key, name_key(name))
        )

    def generator(self, name: str) -> np.random.Generator:
        """The generator for ``name``; asking twice returns the same (shared) generator."""
        generator = self._generators.get(name)
        if generator is None:
            generator = np.random.Generator(np.random.PCG64(self.seed_sequence(name)))
            self._generators[name] = generator
        return generator

    def draws(self, name: str) -> Draws:
        """Buffered draws from the stream for ``name``, made when first used."""
        return Draws(lambda: self.generator(name))
