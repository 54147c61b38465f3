"""The guest kernel's own recovery paths and QEMU's handling of an unacknowledged record.

- ``guest.copy_mc`` (the arm64 ARCH_HAS_COPY_MC series, v13, posted): do_sea() claims every
  SEA through APEI, so the guest reads and acknowledges the CPER even in kernel mode; a
  kernel read outside interrupt context and inside a copy with an exception fixup
  (``guest.p_copy_mc``) fails the copy and memory_failure() runs on the source page,
  instead of die(). Mainline consults APEI for user-mode aborts only.
- ``vmm.read_ack``: a record is due while Read Ack is still 0 (a guest that took the last
  one in kernel mode never acknowledged it): merged QEMU aborts (the VM is lost); the
  posted v20 series waits 3 x 100 ms, forces Read Ack to 1, and records on the re-fault.

The scenarios are the EINJ design of test_closed_forms.py (kernel-first, exit_to_user +
inject_cper: each exit carries a GPA, so each injected SEA carries a CPER).
"""

from __future__ import annotations

import pytest
from test_closed_forms import (  # the Bonferroni budget fixture applies here too
    _check_budget,  # noqa: F401
    _run_einj,
    assert_share,
    assert_shares,
    einj_scenario,
)

Q, M, H = 0.2, 0.6, 0.5  # p_interrupt, p_copy_mc, p_handles_sigbus
DIE = Q + (1 - Q) * (1 - M)  # copy_mc on, panic_on_oops: the kernel still dies
FIXED = (1 - Q) * M  # the copy failed instead
COPY_MC = {
    # owner, sea_exit, copy_mc, expected outcome shares
    "off": ("guest_page_cache_clean", "inject_cper", False, {"vm_crashed": 1.0}),
    "clean": (
        "guest_page_cache_clean",
        "inject_cper",
        True,
        {"vm_crashed": DIE, "recovered": FIXED},
    ),
    "dirty": (
        "guest_page_cache_dirty",
        "inject_cper",
        True,
        {"vm_crashed": DIE, "recovered": FIXED},
    ),
    "anon": (
        "guest_anon",
        "inject_cper",
        True,
        {"vm_crashed": DIE, "recovered": FIXED * H, "process_killed": FIXED * (1 - H)},
    ),
    "kernel": ("guest_kernel", "inject_cper", True, {"vm_crashed": DIE, "process_killed": FIXED}),
    "no_cper": ("guest_page_cache_clean", "inject", True, {"vm_crashed": 1.0}),
}


@pytest.mark.parametrize(
    ("owner", "sea_exit", "copy_mc", "expected"), COPY_MC.values(), ids=COPY_MC.keys()
)
def test_copy_mc_turns_kernel_consumptions_into_failed_copies(
    owner: str, sea_exit: str, copy_mc: bool, expected: dict[str, float]
) -> None:
    """Every read at EL1, guest panic_on_oops on, p_interrupt q, p_copy_mc m. Mainline:
    die() -> panic, P(vm_crashed) = 1, the CPER never read. copy_mc with a CPER: the guest
    claims it; in interrupt context (q) or outside a copy (1 - m) die() panics:
    P(vm_crashed) = q + (1 - q)(1 - m) = 0.52; else the copy fails and memory_failure()
    runs, (1 - q) m = 0.48: a page-cache page is dropped (recovered; a dirty one's reader
    does not map it), an anonymous page kills its process unless it handles
    BUS_MCEERR_AR (h), a kernel page cannot be isolated (plain SIGBUS: killed). No CPER
    (inject): nothing to claim, die(). One injection per VM. n = 500: tolerance <= 0.101."""
    n = 500
    scenario = einj_scenario(
        n,
        owners=(owner,),
        p_kernel=1.0,
        hosts=25,
        vms=20,
        one_per_vm=True,
        hypervisor={"policy": "exit_to_user"},
        vmm={"sea_exit": sea_exit},
        guest={
            "copy_mc": copy_mc,
            "p_copy_mc": M,
            "panic_on_oops": True,
            "p_interrupt": Q,
            "p_handles_sigbus": H,
        },
    )
    errors = _run_einj(scenario, seed=501)
    assert (errors["el"] == 1).all() and (errors["context"] == "guest_kernel").all()
    read = copy_mc and sea_exit == "inject_cper"
    assert (errors["guest_cper"] == read).all()
    assert_shares(errors["outcome"], expected, "outcome")
    failed = errors["detail"].str.contains("copy_mc: the copy fails", regex=False)
    assert (failed == (errors["outcome"] != "vm_crashed")).all()


READ_ACK = {
    # read_ack, copy_mc: share of second records refused (first read at EL1 left Read Ack 0)
    "abort": ("abort", False),
    "retry_force": ("retry_force", False),
    "abort-copy_mc": ("abort", True),
}
K = 0.5  # p_kernel


@pytest.mark.parametrize(("read_ack", "copy_mc"), READ_ACK.values(), ids=READ_ACK.keys())
def test_an_unacknowledged_record_aborts_qemu_or_is_forced(read_ack: str, copy_mc: bool) -> None:
    """Two anonymous pages per VM, read 10 s apart, each at EL1 with probability k (no
    guest panic: q = 0, panic_on_oops off; p_copy_mc = 0, so copy_mc only claims). Every
    first read kills its process; one at EL1 leaves Read Ack 0 unless copy_mc claimed the
    record. The second record is then refused: "abort" loses the VM, P = k = 0.5 exactly
    when the first read was at EL1; "retry_force" waits read_ack_wait (300 ms), forces the
    ack and records, so every second read kills its process; with copy_mc the first
    record was acknowledged and nothing is refused. n = 400 pairs: tolerance <= 0.113."""
    pairs = 400
    scenario = einj_scenario(
        2 * pairs,
        p_kernel=K,
        hosts=20,
        vms=20,
        hypervisor={"policy": "exit_to_user"},
        vmm={"sea_exit": "inject_cper", "read_ack": read_ack},
        guest={"copy_mc": copy_mc, "p_copy_mc": 0.0, "panic_on_oops": False, "p_interrupt": 0},
    )
    errors = _run_einj(scenario, seed=502).sort_values("consumed_ns")
    assert (errors.groupby(["host", "vm"]).size() == 2).all()
    first = errors.groupby(["host", "vm"]).nth(0).set_index(["host", "vm"]).sort_index()
    second = errors.groupby(["host", "vm"]).nth(1).set_index(["host", "vm"]).sort_index()
    assert (first["outcome"] == "process_killed").all()
    assert_share(first["el"] == 1, K, "P(first read at EL1)")
    refused = (first["el"] == 1) & (not copy_mc)
    aborted = second["outcome"] == "vm_crashed"
    if read_ack == "abort":
        assert (aborted == refused).all()
        assert (second.loc[aborted, "detail"] == "GHES Read Ack still 0: abort()").all()
        return
    assert not aborted.any()
    forced = second["detail"].str.contains("Read Ack forced", regex=False)
    assert (forced == refused).all()
    assert (second.loc[forced, "latency_ns"] >= 300_000_000).all()
    assert (second.loc[~forced, "latency_ns"] < 1_000_000).all()
