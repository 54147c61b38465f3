"""A tiny experiment (4 points x 2 replications, a fraction of a second per run)."""

from pathlib import Path

import pytest

TINY = """\
[experiment]
name = "tiny"
description = "a fast grid for the tests"
preset = "sea-to-user"
replications = 2
seed = 7
metrics = ["goodput", "event_survival_rate", "memory_lost_bytes", "error_events"]
keep = ["errors", "vms"]

[base]
duration = "2d"
record_hops = false
fleet.vms_per_host = 2
memory.ue_rate = "1e-3/GiB/h"

[[factors]]
key = "hypervisor.policy"
values = ["serror_fallback", "exit_to_user"]

[[factors]]
keys = ["vmm.sea_exit", "vmm.unmap"]
values = [["inject", false], ["inject_cper", true]]
"""


@pytest.fixture
def tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY)
    return path
