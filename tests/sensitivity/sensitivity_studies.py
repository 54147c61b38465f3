"""Sensitivity studies for the tests: the Ishigami function standing in for the simulator,
and a small real scenario (a few hundredths of a second per run)."""

import math

from rassim.scenario import Scenario

# Ishigami-Homma (a = 7, b = 0.1): x_i = -pi + 2 pi p_i from three shares of the scenario.
ISHIGAMI_KEYS = ("cpu.p_sync", "firmware.p_record", "guest.p_interrupt")
DUMMY_KEY = "guest.p_handles_sigbus"  # the function never reads it
A, B = 7.0, 0.1


def ishigami(scenario: Scenario, seed, keep) -> tuple[dict[str, float], dict]:
    """An evaluator with the simulator's signature: the Ishigami function of three keys."""
    p = (scenario.cpu.p_sync, scenario.firmware.p_record, scenario.guest.p_interrupt)
    x1, x2, x3 = (-math.pi + 2 * math.pi * v for v in p)
    return {"ishigami": math.sin(x1) + A * math.sin(x2) ** 2 + B * x3**4 * math.sin(x1)}, {}


def ishigami_indices() -> dict[str, tuple[float, float]]:
    """Closed-form (S1, ST) per key (Saltelli et al. 2008, The Primer, 4.6)."""
    v1 = 0.5 * (1 + B * math.pi**4 / 5) ** 2
    v2 = A**2 / 8
    v13 = 8 * B**2 * math.pi**8 / 225
    total = v1 + v2 + v13
    return {
        ISHIGAMI_KEYS[0]: (v1 / total, (v1 + v13) / total),
        ISHIGAMI_KEYS[1]: (v2 / total, v2 / total),
        ISHIGAMI_KEYS[2]: (0.0, v13 / total),
        DUMMY_KEY: (0.0, 0.0),
    }


def uniform_shares(keys) -> str:
    return "".join(
        f'[[uncertain]]\nkey = "{key}"\ndistribution = "uniform"\nlow = 0.0\nhigh = 1.0\n\n'
        for key in keys
    )


ISHIGAMI = """\
[experiment]
name = "ishigami"
seed = 11
metrics = ["ishigami"]

[sensitivity]
resamples = 500
confidence = 0.99  # six intervals are checked: each at 99%, all six cover in ~95% of seeds

[sensitivity.morris]
trajectories = 10

[sensitivity.sobol]
samples = 512

""" + uniform_shares((*ISHIGAMI_KEYS, DUMMY_KEY))

# Both KVM policies on a small kernel-first host: VM crashes under serror_fallback,
# process kills under exit_to_user. memory.ce_threshold is read only with
# memory.predictive_offline = true: no metric can depend on it.
POLICIES = """\
[experiment]
name = "policies"
preset = "sea-to-user"
seed = 5
metrics = ["goodput", "vm_crashes", "process_kills"]

[base]
duration = "6h"
record_hops = false
fleet.vms_per_host = 1
memory.ue_rate = "1e-2/GiB/h"

[sensitivity]
better = { goodput = "higher", vm_crashes = "lower" }

[sensitivity.arms]
key = "hypervisor.policy"
values = ["serror_fallback", "exit_to_user"]

[sensitivity.morris]
trajectories = 2

[sensitivity.sobol]
samples = 4
top = 2

[[uncertain]]
key = "guest.memory_map.guest_kernel"
distribution = "uniform"
low = 0.02
high = 0.3

[[uncertain]]
key = "firmware.latency"
distribution = "loguniform"
low = "10us"
high = "1ms"

[[uncertain]]
key = "memory.ce_threshold"
distribution = "uniform"
low = 10
high = 100
"""

# Both policies where firmware-first handling makes them differ rarely: the difference
# is mostly simulation noise, which common random numbers cancel. Neither parameter
# changes an outcome.
NOISE = """\
[experiment]
name = "noise"
seed = 2
metrics = ["goodput"]

[base]
duration = "6h"
record_hops = false
fleet.vms_per_host = 1
memory.ue_rate = "1e-2/GiB/h"

[sensitivity.arms]
key = "hypervisor.policy"
values = ["serror_fallback", "exit_to_user"]

[sensitivity.sobol]
samples = 8

[[uncertain]]
key = "memory.ce_threshold"
distribution = "uniform"
low = 10
high = 100
"""
