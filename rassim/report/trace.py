"""``rassim trace``: one error's path through the layers as a readable timeline, read
from a run directory's tables (like the rest of the report: no model, no SimPy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from rassim.arch.cper import mem_error_record
from rassim.arch.esr import describe
from rassim.arch.kvm import KVM_EXIT_ARM_SEA
from rassim.errors import ConfigError
from rassim.sim.units import format_duration


def _layer(component: str) -> str:
    return component.rsplit(".", 1)[-1]


def _esr(value: Any) -> str:
    return "-" if pd.isna(value) else f"{int(value):#010x} ({describe(int(value))})"


def _what(kind: str, error: pd.Series, gpa: int | None) -> list[str]:
    """What a hop of ``kind`` carried for this error, decoded."""
    if kind == "PoisonRead":
        gpa_text = "" if gpa is None else f", GPA {gpa:#x}"
        el = "" if pd.isna(error["el"]) else f" at EL{int(error['el'])}"
        return [f"{error['context']} read a poisoned {error['owner']} page{el}{gpa_text}"]
    if kind == "ExternalAbort":
        sync = "SEA" if error["sync"] else "SError"
        return [f"{sync}, ESR {_esr(error['esr'])}"]
    if kind == "FirmwareNotification":
        claimed = "record in host GHES: APEI claims" if error["claimed"] else "no usable record"
        return [f"EL3 re-delivers to EL2; {claimed}"]
    if kind == "KvmExit":
        if pd.isna(error["arm_sea_flags"]):
            return ["userfault exit: the VMM unmapped this GPA"]
        return [
            f"KVM_EXIT_ARM_SEA ({KVM_EXIT_ARM_SEA}): flags {int(error['arm_sea_flags']):#x}, "
            f"esr {_esr(error['arm_sea_esr'])}",
            f"gva {int(error['arm_sea_gva']):#x}, gpa {int(error['arm_sea_gpa']):#x}",
        ]
    if kind == "Sigbus":
        return ["SIGBUS to the VMM thread (memory_failure() / kvm_send_hwpoison_signal())"]
    if kind == "InjectedSea":
        lines = [f"SEA injected, guest ESR {_esr(error['guest_esr'])}"]
        if error["guest_cper"] and gpa is not None:
            lines += mem_error_record(gpa).describe().splitlines()
        return lines
    if kind == "VirtualSError":
        return [f"virtual SError, ESR {_esr(error['guest_esr'])}"]
    if kind == "ReadAck":
        return ["guest acknowledged the GHES record (Read Ack = 1)"]
    return [kind]


def read_table(directory: str | Path, table: str) -> pd.DataFrame:
    path = Path(directory) / f"{table}.parquet"
    if not path.is_file():
        raise ConfigError(f"{directory}: not a rassim run directory (no {table}.parquet)")
    try:
        return pd.read_parquet(path)
    except Exception as error:  # pyarrow raises several types for a damaged file
        raise ConfigError(f"{path}: cannot read: {' '.join(str(error).split())}") from None


def format_trace(directory: str | Path, error_id: int, replication: int = 0) -> str:
    errors = read_table(directory, "errors")
    hops = read_table(directory, "hops")
    ues = read_table(directory, "ues")
    errors = errors[errors["replication"] == replication]
    match = errors[errors["error_id"] == error_id]
    if match.empty:
        known = f"0..{len(errors) - 1}" if len(errors) else "none"
        raise ConfigError(
            f"{directory}: no error {error_id} in replication {replication} ({known})"
        )
    error = match.iloc[0]
    ue = ues[(ues["replication"] == replication) & (ues["ue_id"] == error["ue_id"])]
    gpa = None if ue.empty or pd.isna(ue.iloc[0]["gpa"]) else int(ue.iloc[0]["gpa"])
    start = int(error["consumed_ns"])
    vm = "" if pd.isna(error["vm"]) else f".vm{int(error['vm'])}"
    lines = [
        f"error {error_id}: UE {error['ue_id']} on host{error['host']}{vm}, {error['kind']} of a "
        f"{error['owner']} page by {error['context']}",
        f"{'time':>12}  {'hop':<16}  what",
    ]
    path = hops[(hops["replication"] == replication) & (hops["error_id"] == error_id)]
    for delivered_ns, source, destination, kind in zip(
        path["delivered_ns"], path["source"], path["destination"], path["kind"], strict=True
    ):
        when = f"+{format_duration(int(delivered_ns) - start, digits=4)}"
        route = f"{_layer(source)} -> {_layer(destination)}"
        for index, text in enumerate(_what(kind, error, gpa)):
            lines.append(
                f"{when if index == 0 else '':>12}  {route if index == 0 else '':<16}  {text}"
            )
    when = f"+{format_duration(int(error['resolved_ns']) - start, digits=4)}"
    lines.append(
        f"{when:>12}  {'outcome':<16}  {error['outcome']} (blast radius {error['blast_radius']}): "
        f"{error['detail']}"
    )
    return "\n".join(lines)
