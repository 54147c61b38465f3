"""The pool of rewritten pages against the closed form of independent pages.

A page of the pool is, in distribution, a page whose owner class ``c`` was drawn with
probability ``p_c`` at the reboot and whose race started then: it is touched at an
exponential time of rate ``r_c`` unless the scrubber reaches it first, at its phase ``s``
(never for a class the scrubber does not visit). So a page ends

- touched as class ``c``: ``p_c (1 - exp(-r_c s))``;
- scrubbed as a visited class ``c``: ``p_c exp(-r_c s)``;
- reached by the scrubber as an unvisited class ``c``: ``p_c exp(-r_c s)`` (it takes its
  class and races on with the memory node, not the pool).

Summed over the pages of many runs, each count is within 4 standard errors of its
expectation (pages are independent in the model the pool stands for).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pytest

from rassim.model.pool import FreshPages, OwnerClasses
from rassim.sim.deadlines import Deadlines
from rassim.sim.environment import Environment
from rassim.sim.streams import Streams

PERIOD = 1000  # ns between the scrubber's visits to a page
SHARES = [0.5, 0.3, 0.2]
RATES = [1 / 500, 1 / 2000, 1 / 300]  # touches per ns of one page
SCRUBBED = [True, True, False]  # the last class is like device memory
PAGES, RUNS = 40, 150


@dataclass(eq=False)
class Page:
    ue_id: int
    scrub_phase: int
    slot: int = -1


def run_pool(seed: int) -> list[tuple[int, int, bool | None, int]]:
    """One reboot of ``PAGES`` pages: (page, class, touched, time) for each claim."""
    env = Environment()
    claims: list[tuple[int, int, bool | None, int]] = []
    classes = OwnerClasses(SHARES, RATES, SCRUBBED, [None] * 3, [])
    pool: FreshPages[Page] = FreshPages(
        Streams(seed).draws("pool"),
        classes,
        PERIOD,
        Deadlines(env, 10 * PERIOD),
        set(),
        lambda page, cls, touched: claims.append((page.ue_id, cls, touched, env.now)),
    )
    pages = [Page(i, phase(i)) for i in range(PAGES)]
    pool.fill(pages)
    env.run()
    return claims


def phase(i: int) -> int:
    return (i * PERIOD) // PAGES + 7


def test_each_page_ends_as_an_independent_page_would() -> None:
    observed: dict[tuple[int, bool | None], int] = {}
    expected: dict[tuple[int, bool | None], list[float]] = {}
    for i in range(PAGES):
        s = phase(i)
        for c, (p, r, visited) in enumerate(zip(SHARES, RATES, SCRUBBED, strict=True)):
            first = p * math.exp(-r * s)
            expected.setdefault((c, True), []).append(p - first)
            expected.setdefault((c, False if visited else None), []).append(first)
    for seed in range(RUNS):
        claims = run_pool(seed)
        assert sorted(page for page, *_ in claims) == list(range(PAGES))  # each page once
        for page, cls, touched, at in claims:
            observed[(cls, touched)] = observed.get((cls, touched), 0) + 1
            if touched is not True:
                assert at == phase(page)  # the scrubber reaches a page at its phase
            else:
                assert at <= phase(page)
    for key, probabilities in expected.items():
        p = np.asarray(probabilities)
        mean, sd = RUNS * p.sum(), math.sqrt(RUNS * (p * (1 - p)).sum())
        assert abs(observed.get(key, 0) - mean) <= 4 * sd, (key, observed.get(key), mean)


@pytest.mark.parametrize("vm_stops_at", [0, 300])
def test_a_stopped_vm_takes_its_pages_with_their_classes(vm_stops_at: int) -> None:
    """Two VMs of two classes each: stopping VM 1 hands over every page of its classes,
    and nothing of VM 1 is touched or scrubbed afterwards."""
    env = Environment()
    claims: list[tuple[int, int, bool | None, int]] = []
    classes = OwnerClasses([0.25] * 4, [1 / 400] * 4, [True] * 4, [None] * 4, [[0, 1], [2, 3]])
    pool: FreshPages[Page] = FreshPages(
        Streams(3).draws("pool"),
        classes,
        PERIOD,
        Deadlines(env, 10 * PERIOD),
        set(),
        lambda page, cls, touched: claims.append((page.ue_id, cls, touched, env.now)),
    )
    pool.fill([Page(i, phase(i)) for i in range(PAGES)])
    if vm_stops_at:
        env.run(until=vm_stops_at)
    before = len(claims)
    counts = list(pool.counts)
    pool.vm_stopped(1)
    handed = claims[before:]
    assert [cls for _, cls, _, _ in handed] == [2] * counts[2] + [3] * counts[3]
    assert all(touched is None for _, _, touched, _ in handed)
    env.run()
    assert all(cls in (0, 1) for _, cls, _, _ in claims[before + len(handed) :])
    assert sorted(page for page, *_ in claims) == list(range(PAGES))
