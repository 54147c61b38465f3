"""The result tables of a run, built in one place from what the model recorded (MODEL 9).

While the clock runs the model keeps plain tuples and objects (cheap); here they become
DataFrames a column at a time (``rassim.sim.columns``): ``errors`` (one row per error
event, from the ledger), ``ues`` (one row per UE with its final state), ``vms``,
``faults`` and ``hops``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from operator import attrgetter

import numpy as np
import pandas as pd

from rassim.model.host import Host
from rassim.model.ledger import ERROR_COLUMNS
from rassim.model.memory import PAGE, Ue
from rassim.model.outcomes import UeState
from rassim.scenario import Owner
from rassim.sim import columns
from rassim.sim.channel import HopLog

HOP_COLUMNS = ("error_id", "source", "destination", "kind", "sent_ns", "delivered_ns")
FAULT_COLUMNS = (
    "host",
    "arrived_ns",
    "mode",
    "permanent",
    "rank",
    "device",
    "uncorrected",
    "pages",
    "predicted",
)
VM_COLUMNS = (
    "host",
    "vm",
    "downtime_s",
    "availability",
    "outages",
    "crashes",
    "restarts",
    "process_kills",
    "lost_down_s",
    "lost_inflight_s",
    "lost_stall_s",
    "goodput",
)


def _frame(names: Sequence[str], rows: list[tuple], types: dict[str, Callable]) -> pd.DataFrame:
    """``rows`` as columns ``names``, each built by its ``types`` entry (default int64)."""
    values = list(zip(*rows, strict=True)) or [()] * len(names)
    return pd.DataFrame(
        {
            name: types.get(name, columns.ints)(column)
            for name, column in zip(names, values, strict=True)
        }
    )


_ERROR_STRINGS = ("kind", "owner", "context", "detail", "outcome", "blast_radius")
_ERROR_NULLABLE = ("vm", "process", "el", "esr", "arm_sea_flags", "arm_sea_esr", "arm_sea_gpa")
_ERROR_TYPES: dict[str, Callable] = {
    **dict.fromkeys(_ERROR_STRINGS, columns.strings),
    **dict.fromkeys((*_ERROR_NULLABLE, "guest_esr"), columns.nullable_ints),
    "arm_sea_gva": partial(columns.nullable_ints, unsigned=True),  # kernel VAs use bit 63
    "sync": columns.nullable_flags,
    **dict.fromkeys(("claimed", "exit_to_vmm", "guest_cper"), columns.flags),
}


def errors_frame(rows: list[tuple]) -> pd.DataFrame:
    """One row per error event (``ERROR_COLUMNS``), in resolution order: the run numbers
    and orders the events of the whole fleet."""
    return _frame(ERROR_COLUMNS, rows, _ERROR_TYPES)


_UE_FLAGS = ("cleared", "host_poisoned", "vmm_unmapped", "guest_poisoned", "detached")
_UE_FIELDS = (
    "ue_id",
    "host",
    "source",
    "permanent",
    "created_ns",
    "owner",
    "vm",
    "gpa",
    "hpa",
    "consumptions",
    "events",
    *_UE_FLAGS,
)


_ue_row = attrgetter(*_UE_FIELDS)
_GUEST_RAM = [owner for owner in Owner if owner.in_guest_ram]


def ue_rows(ues: list[Ue]) -> list[tuple]:
    """One row per UE of ``ues`` (``_UE_FIELDS``), as it stands now."""
    return list(map(_ue_row, ues))


def ues_frame(rows: list[tuple], host_poison_bytes: int) -> pd.DataFrame:
    """One row per UE, as ``rows`` (:func:`ue_rows`) lists them, with its final
    :class:`UeState` and the memory its retirement costs: a retired host page of guest
    RAM takes ``host_poison_bytes``, its whole backing page (a 1 GiB hugetlb page is
    poisoned whole) unless the memfd keeps it mapped; a page the VMM unmapped or the guest
    retired, or host memory, costs 4 KiB; a cleared or live page costs nothing."""
    values = list(zip(*rows, strict=True)) or [()] * len(_UE_FIELDS)
    data = dict(zip(_UE_FIELDS, values, strict=True))
    flag = {name: columns.flags(data[name]) for name in _UE_FLAGS}
    offlined = flag["host_poisoned"] | flag["vmm_unmapped"] | flag["guest_poisoned"]
    offlined |= flag["detached"]
    events = columns.ints(data["events"])
    owner = columns.strings(data["owner"])
    in_guest_ram = owner.isin(_GUEST_RAM)
    lost = np.where(flag["host_poisoned"] & in_guest_ram, host_poison_bytes, PAGE)
    return pd.DataFrame(
        {
            "ue_id": columns.ints(data["ue_id"]),
            "host": columns.ints(data["host"]),
            "source": columns.strings(data["source"]),
            "permanent": columns.flags(data["permanent"]),
            "created_ns": columns.ints(data["created_ns"]),
            "owner": owner,
            "vm": columns.nullable_ints(data["vm"]),
            "gpa": columns.nullable_ints(data["gpa"]),
            "hpa": columns.ints(data["hpa"]),
            "consumptions": columns.ints(data["consumptions"]),
            "events": events,
            "state": columns.select(
                [flag["cleared"], offlined, events > 0],
                [UeState.CLEARED, UeState.OFFLINED, UeState.LIVE],
                UeState.LATENT,
            ),
            "lost_bytes": np.where(offlined & ~flag["cleared"], lost, 0).astype(np.int64),
        }
    )


def hops_frame(log: HopLog) -> pd.DataFrame:
    """One row per channel send (``HOP_COLUMNS``), in the order they were sent."""
    error_id, link, kind, sent, delivered = list(zip(*log.rows, strict=True)) or [()] * 5
    ends = pd.DataFrame(log.links, columns=["source", "destination"], dtype="str")
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


def vm_rows(host: Host, horizon: int) -> list[tuple]:
    """One row per VM of ``host`` (``VM_COLUMNS``): its downtime, outages, lost work."""
    rows = []
    for vm in host.vms:
        work = vm.workload
        rows.append(
            (
                host.index,
                vm.index,
                work.vm_down_ns / 1e9,
                1 - work.vm_down_ns / horizon if horizon else 1.0,
                work.outages,
                vm.crashes,
                vm.restarts,
                work.kills,
                work.lost_down_ns / 1e9,
                work.lost_inflight_ns / 1e9,
                work.lost_stall_ns / 1e9,
                1 - work.lost_ns / work.possible_ns if work.possible_ns else 1.0,
            )
        )
    return rows


_VM_FLOATS = ("downtime_s", "availability", "lost_down_s", "lost_inflight_s", "lost_stall_s")
_VM_TYPES: dict[str, Callable] = dict.fromkeys((*_VM_FLOATS, "goodput"), columns.floats)
_FAULT_TYPES: dict[str, Callable] = {
    "mode": columns.strings,
    **dict.fromkeys(("permanent", "uncorrected", "predicted"), columns.flags),
}


def vms_frame(rows: list[tuple]) -> pd.DataFrame:
    """One row per VM (``VM_COLUMNS``); typed even when empty, like every table."""
    return _frame(VM_COLUMNS, rows, _VM_TYPES)


def faults_frame(rows: list[tuple]) -> pd.DataFrame:
    """One row per DRAM fault (``FAULT_COLUMNS``), in arrival order per host."""
    return _frame(FAULT_COLUMNS, rows, _FAULT_TYPES)
