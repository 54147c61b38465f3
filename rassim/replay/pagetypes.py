"""Where a logged UE sits, from the page type the host kernel's ``memory_failure()`` gave it.

rasdaemon's ``memory_failure_event.page_type`` is one of the strings of the kernel's
``action_page_types[]`` (mm/memory-failure.c, mirrored by the ``MF_PAGE_TYPE`` list of the
``memory_failure_event`` tracepoint), rendered through rasdaemon's own copy of that table
(ras-memory-failure-handler.c). On a KVM host a guest's RAM is ordinary user memory of the
VMM process (LRU, THP or hugetlb pages), so a page type can say "kernel", "free" or "mapped
by the VMM", never which guest-level class (guest kernel, page cache, anonymous...) the
page held: that class is drawn from the guest memory map, as for any UE of the model.
``docs/replay.md`` has the table with the reasoning for each row.
"""

from __future__ import annotations

from rassim.scenario import Placement

PAGE_TYPES: dict[str, Placement] = {
    # kernel-owned pages: memory_failure() ignores them (me_kernel)
    "reserved kernel page": Placement.HOST_KERNEL,
    "high-order kernel page": Placement.HOST_KERNEL,
    "kernel slab page": Placement.HOST_KERNEL,
    # pages with no flag memory_failure() recognises: page tables (stage 2 included),
    # vmalloc, kernel stacks; get_hwpoison_page() cannot take them
    "get hwpoison page": Placement.KERNEL_UNTYPED,
    "unknown page": Placement.KERNEL_UNTYPED,
    # races: the page changed between the error and its handling
    "different compound page after locking": Placement.MEMORY_MAP,
    "different page size": Placement.MEMORY_MAP,
    # hugetlb pages: on a KVM host only guest RAM is backed by them
    "huge page": Placement.GUEST_RAM,
    "non-pmd-sized huge page": Placement.GUEST_RAM,
    "free huge page": Placement.HOST_FREE,
    # user pages of the VMM process: its private memory or the guest RAM it maps
    "unmapping failed page": Placement.VMM_MAPPED,
    "dirty swapcache page": Placement.VMM_MAPPED,
    "clean swapcache page": Placement.VMM_MAPPED,
    "dirty mlocked LRU page": Placement.VMM_MAPPED,
    "clean mlocked LRU page": Placement.VMM_MAPPED,
    "dirty unevictable LRU page": Placement.VMM_MAPPED,
    "clean unevictable LRU page": Placement.VMM_MAPPED,
    "dirty LRU page": Placement.VMM_MAPPED,
    "clean LRU page": Placement.VMM_MAPPED,
    "unsplit thp": Placement.VMM_MAPPED,
    "dax page": Placement.VMM_MAPPED,
    "non struct page pfn": Placement.VMM_MAPPED,
    # pages nobody uses
    "already truncated LRU page": Placement.HOST_FREE,
    "free buddy page": Placement.HOST_FREE,
    "free buddy page (2nd try)": Placement.HOST_FREE,
    # a second memory_failure() on a page already poisoned
    "already poisoned": Placement.REPEAT,
    "already poisoned page": Placement.REPEAT,
    "huge page already hardware poisoned": Placement.REPEAT,
}


def placement(page_type: str | None) -> Placement:
    """The placement of ``page_type``; no page type, or one this table does not know,
    leaves the owner to the memory map."""
    if page_type is None:
        return Placement.MEMORY_MAP
    return PAGE_TYPES.get(page_type, Placement.MEMORY_MAP)
