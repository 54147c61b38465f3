"""Named starting points, each after a system the project grew from (``../shared/seeds``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    seed: str  # which seed post it represents
    overrides: dict[str, Any] = field(default_factory=dict)


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            "legacy-serror",
            "KVM before the exit-to-user patch: unclaimed SEAs become a virtual SError",
            "000 (cover letter: 'today KVM directly injects an async SError')",
            {"firmware": {"first": False}, "hypervisor": {"policy": "serror_fallback"}},
        ),
        Preset(
            "sea-to-user",
            "KVM_CAP_ARM_SEA_TO_USER with a VMM that injects an SEA into the guest",
            "000 (KVM: arm64: VM exit to userspace to handle SEA)",
            {
                "firmware": {"first": False},
                "hypervisor": {"policy": "exit_to_user"},
                "vmm": {"sea_exit": "inject"},
            },
        ),
        Preset(
            "qemu-ras",
            "firmware-first, host APEI claims, QEMU records a CPER and injects an SEA",
            "003 (Add ARMv8 RAS virtualization support in QEMU)",
            {
                "firmware": {"first": True, "ghes_sea": True, "p_record": 1.0},
                "vmm": {"guest_ghes": True},
            },
        ),
        Preset(
            "firmware-first-sei",
            "firmware-first with errors reported as SError interrupts, classified by AET",
            "004 (arm64: kvm: handle SEI notification for guest)",
            {
                "firmware": {"first": True},
                "cpu": {"p_sync": 0.2, "serror_aet": {"UER": 0.7, "UEO": 0.2, "UC": 0.1}},
            },
        ),
        Preset(
            "no-feat-ras",
            "CPUs without FEAT_RAS: every SEA reaching EL2 is host-owned",
            "002 (review that added host_owns_sea())",
            {
                "platform": {"feat_ras": False},
                "firmware": {"first": False},
                "hypervisor": {"policy": "exit_to_user"},
            },
        ),
    )
}
