"""Huge pages the host poisoned whole (mm/memory-failure.c, mm/hugetlb.c; MODEL 3.1).

When the host's memory_failure() takes a hugetlb backing page out of use
(try_memory_failure_hugetlb() -> hwpoison_user_mappings()), the whole folio is unmapped
from the VMM and, through the MMU notifier, from stage 2. Every later guest touch of any
4 KiB of it faults: hugetlb_fault() returns VM_FAULT_HWPOISON_LARGE for any address in
the huge page, KVM's user_mem_abort() sends SIGBUS BUS_MCEERR_AR with the huge page's
shift (kvm_send_hwpoison_signal()), and QEMU records a CPER for the GPA that was touched
(William Roche, 2025: "ARM VMs impacted by memory errors on a large underlying memory
page, can end up looping on reporting the error").

The huge page's other subpages are not objects: a :class:`PoisonedHugePage` counts those
the guest has not touched since, by owner class, and their first touches are one Poisson
process at the sum of their access rates, each touch's class drawn in proportion to its
part of that rate (competing exponentials). A touched subpage becomes a page of its own
(the memory node's), whose later touches follow its owner like any retired page.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from rassim.sim.deadlines import Deadline
from rassim.sim.draws import Draws

PAGE = 4096


def apportion(total: int, shares: Sequence[float]) -> list[int]:
    """``total`` split in proportion to ``shares`` (largest remainder, ties to the first)."""
    exact = [total * share / sum(shares) for share in shares]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(shares)), key=lambda i: counts[i] - exact[i])
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


@dataclass(slots=True, eq=False)
class PoisonedHugePage:
    """The subpages of one host-poisoned huge page that the guest has not touched since.

    ``untouched`` and ``rates`` are indexed like the guest memory map's owner classes:
    how many subpages of each class are left, and one page's touch rate (per ns).
    """

    base_gpa: int
    subpages: int  # 4 KiB pages in the huge page
    poisoned: int  # index of the one that holds the error
    untouched: list[int]
    rates: list[float]
    touched: int = 0
    clock: Deadline | None = None  # the next first touch

    def rate(self) -> float:
        """Touches per ns of all untouched subpages together."""
        return sum(n * r for n, r in zip(self.untouched, self.rates, strict=True))

    def touch(self, rng: Draws) -> tuple[int, int]:
        """One untouched subpage is touched now: its owner class and its GPA (the
        subpages after the poisoned one, in order)."""
        weights = [n * r for n, r in zip(self.untouched, self.rates, strict=True)]
        cumulative = list(itertools.accumulate(weights))
        last = max(i for i, weight in enumerate(weights) if weight > 0)
        owner = min(bisect.bisect_right(cumulative, rng.random() * cumulative[-1]), last)
        self.untouched[owner] -= 1
        self.touched += 1
        index = (self.poisoned + self.touched) % self.subpages
        return owner, self.base_gpa + PAGE * index
