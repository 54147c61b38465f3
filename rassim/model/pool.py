"""Poisoned pages a host reboot rewrote, whose new owners are not drawn yet (MODEL 3).

A host reboot gives every surviving poisoned page a new owner drawn from the memory map
and starts its race again: a touch at its owner class's access rate, or the patrol
scrubber at the page's phase. Drawing an owner and arming a clock for each page made
every reboot cost as much as the host has poisoned pages, and most of those clocks never
ran out (the next panic came first). The pages are exchangeable until one of them is
touched or scrubbed, so the draws are deferred (the principle of deferred decisions):

- how many pages fall in each owner class (an owner and its VM) is one multinomial draw;
- each class has one touch clock, the superposition of its pages' exponential clocks
  (rate: count times the class's access rate per page); when it runs out, one page drawn
  uniformly from the pool is that class's and is touched now;
- the scrubber visits the pool's pages in order of their phase (one clock, for the next
  one); a page it reaches is still unassigned, so its class is drawn in proportion to
  the counts;
- a touch of a free page (an allocation rewrites it) moves it to a newly drawn class
  without choosing it.

A reboot so costs one draw per owner class, whatever the number of pages; a page costs
work when its class is drawn, which is when it is touched, scrubbed, or its VM stops.
The clocks are deadlines on the host's calendar (:class:`~rassim.sim.deadlines.Deadlines`),
shared with the memory node's pages.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Callable, Sequence
from typing import Generic, Protocol, TypeVar

import numpy as np

from rassim.sim.deadlines import Deadline, Deadlines
from rassim.sim.draws import Draws


class Page(Protocol):
    """What the pool needs of a page: its identity, scrub phase and place in the pool."""

    ue_id: int
    scrub_phase: int
    slot: int  # its index in the pool's list, -1 when out of it


P = TypeVar("P", bound=Page)


class OwnerClasses:
    """The owner classes of a scenario's hosts: what a class's pages do and how likely
    each is. Shared by the hosts' pools, it is never written to (tuples, and a read-only
    array).

    ``shares``: each class's probability for a page anywhere on the host; ``rates``: one
    page's touches per ns (0: never touched); ``scrubbed``: the patrol scrubber visits
    it; ``moves``: for a free class, the classes a touch (an allocation) moves a page
    to, as ``(class indices, cumulative weights)``; ``by_vm``: each VM's classes, and
    ``vm_of`` (derived from it) each class's VM (None: the host's).
    """

    def __init__(
        self,
        shares: Sequence[float],
        rates: Sequence[float],
        scrubbed: Sequence[bool],
        moves: Sequence[tuple[Sequence[int], Sequence[float]] | None],
        by_vm: Sequence[Sequence[int]],
    ) -> None:
        self.shares = np.array(shares, dtype=np.float64)
        self.shares.flags.writeable = False
        self.rates = tuple(rates)
        self.scrubbed = tuple(scrubbed)
        self.moves = tuple(
            None if move is None else (tuple(move[0]), tuple(move[1])) for move in moves
        )
        self.by_vm = tuple(tuple(classes) for classes in by_vm)
        vm_of: list[int | None] = [None] * len(self.rates)
        for vm, classes in enumerate(self.by_vm):
            for cls in classes:
                vm_of[cls] = vm
        self.vm_of = tuple(vm_of)


class FreshPages(Generic[P]):
    """The pool of one host's rewritten pages, their class counts and their clocks.

    ``claim(page, cls, touched)`` is called when a page's class is decided; the memory
    node owns the page from then on. ``touched``: True, it is touched now; False, the
    scrubber reached it now; None, it only takes its class (its VM stopped, the scrubber
    does not visit its class, or the run ended).
    """

    def __init__(
        self,
        rng: Draws,
        classes: OwnerClasses,
        scrub_period: int,
        deadlines: Deadlines,
        vms_down: set[int],
        claim: Callable[[P, int, bool | None], None],
    ) -> None:
        self.env = deadlines.env
        self.rng = rng
        self.classes = classes
        self.scrub_period = scrub_period
        self.deadlines = deadlines
        self.vms_down = vms_down
        self.claim = claim
        self.pages: list[P] = []  # unassigned, in no particular order
        self.phases: list[tuple[int, int, P]] = []  # (phase, ue_id, page), sorted
        self.counts = [0] * len(classes.rates)
        self.clocks: list[Deadline | None] = [None] * len(classes.rates)
        self.scrub: Deadline | None = None
        self.running = False

    # -- the host going down and coming back -------------------------------------------------
    def fill(self, rewritten: list[P]) -> None:
        """The host booted: ``rewritten`` join the pool, and every page in it gets a new
        class (one multinomial draw) and its race starts again."""
        for page in rewritten:
            page.slot = len(self.pages)
            self.pages.append(page)
            if self.scrub_period:
                bisect.insort(self.phases, (page.scrub_phase, page.ue_id, page))
        self.running = True
        if self.pages:
            self.counts = self.rng.multinomial(len(self.pages), self.classes.shares)
            for cls, count in enumerate(self.counts):
                if count:
                    self._restart(cls)
            self._schedule_scrub()

    def stop(self) -> None:
        """The host stopped: no clock matters until it boots (which draws the classes again)."""
        self.running = False
        for cls, clock in enumerate(self.clocks):
            if clock is not None:
                self._cancel(cls)
        if self.scrub is not None:
            self.scrub.cancel()
            self.scrub = None

    def vm_stopped(self, vm: int) -> None:
        """VM ``vm`` stopped: the pages of its classes are drawn and handed over (what the
        VM's reset does to each page depends on what it is). A class without pages has
        no clock: there is nothing to do for it."""
        counts = self.counts
        for cls in self.classes.by_vm[vm]:
            if counts[cls]:
                self._hand_over(cls)

    def drain(self) -> None:
        """The run ended: every page left takes a class (for the UE table)."""
        self.stop()
        for cls in range(len(self.counts)):
            self._hand_over(cls)

    def _hand_over(self, cls: int) -> None:
        """Every page of class ``cls`` takes it now; its clock no longer matters."""
        self._cancel(cls)
        for _ in range(self.counts[cls]):
            self.claim(self._take(), cls, None)
        self.counts[cls] = 0

    # -- the clocks --------------------------------------------------------------------------
    def _cancel(self, cls: int) -> None:
        clock = self.clocks[cls]
        if clock is not None:
            clock.cancel()
            self.clocks[cls] = None

    def _restart(self, cls: int) -> None:
        """Class ``cls``'s next touch: the first of its pages' exponential clocks."""
        self._cancel(cls)
        rate = self.counts[cls] * self.classes.rates[cls]
        if rate > 0 and self.running:
            at = self.env.now + self.rng.exponential(1 / rate)
            self.clocks[cls] = self.deadlines.arm(at, cls, self._touched)

    def _touched(self, cls: int) -> None:
        """A page of class ``cls`` is touched now: drawn from the pool and handed over, or
        if the class is free memory, allocated (rewritten) into a newly drawn class."""
        self.clocks[cls] = None
        self.counts[cls] -= 1
        move = self.classes.moves[cls]
        if move is None:
            self._restart(cls)
            self.claim(self._take(), cls, True)
            return
        targets, cumulative = move
        to = targets[self.rng.index(cumulative)]
        vm = self.classes.vm_of[to]
        self._restart(cls)
        if vm is not None and vm in self.vms_down:
            self.claim(self._take(), to, None)  # its VM's reset decides what follows
        else:
            self.counts[to] += 1
            self._restart(to)

    def _schedule_scrub(self) -> None:
        """The scrubber's next visit to a page of the pool: the first phase after now."""
        if not (self.phases and self.running):
            return
        period = self.scrub_period
        now = self.env.now
        into = now % period
        i = bisect.bisect_right(self.phases, (into, math.inf))
        phase = self.phases[i][0] if i < len(self.phases) else self.phases[0][0] + period
        self.scrub = self.deadlines.arm(now - into + phase, None, self._scrubbed)

    def _scrubbed(self, _: None) -> None:
        """The scrubber reaches the pages whose phase is now: each one's class is drawn
        in proportion to the counts (those of the pool's pages it could be)."""
        self.scrub = None
        into = self.env.now % self.scrub_period
        i = bisect.bisect_left(self.phases, (into, -1))
        while i < len(self.phases) and self.phases[i][0] == into:
            page = self.phases[i][2]
            self._remove(page)
            cumulative = list(itertools.accumulate(self.counts))
            cls = bisect.bisect_right(cumulative, self.rng.random() * cumulative[-1])
            self.counts[cls] -= 1
            self._restart(cls)
            self.claim(page, cls, False if self.classes.scrubbed[cls] else None)
        self._schedule_scrub()

    # -- the pool's pages --------------------------------------------------------------------
    def _take(self) -> P:
        """A page drawn uniformly from the pool, removed from it."""
        page = self.pages[self.rng.below(len(self.pages))]
        self._remove(page)
        return page

    def _remove(self, page: P) -> None:
        last = self.pages.pop()
        if last is not page:
            self.pages[page.slot] = last
            last.slot = page.slot
        page.slot = -1
        if self.scrub_period:
            del self.phases[bisect.bisect_left(self.phases, (page.scrub_phase, page.ue_id))]
