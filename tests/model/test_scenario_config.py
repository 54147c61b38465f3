"""The scenario: complete defaults, nested-dict input, validation errors and round trips.

``Scenario`` is the one place every parameter of MODEL.md lives; these tests pin the
defaults the spec names, and check that what a user writes wrongly is rejected with a
message that names the offending key, not silently accepted or coerced.
"""

from __future__ import annotations

import json
import math

import pytest
from pydantic import BaseModel, ValidationError

import rassim
from rassim import Scenario
from rassim.scenario import Owner
from rassim.sim.units import NS_PER_H, NS_PER_MS, NS_PER_S, NS_PER_US, GiB, MiB

# A scenario that differs from the defaults in every section, with every distribution kind.
NON_DEFAULT = {
    "duration": "3d",
    "record_hops": False,
    "fleet": {"hosts": 3, "vms_per_host": 2},
    "platform": {"feat_ras": False, "host_reboot_time": "7min", "host_panic_on_oops": False},
    "memory": {
        "ue_rate": 2.5e-3,
        "p_permanent": 0.5,
        "scrub_period": "12h",
        "host_memory": "256GiB",
        "host_kernel": "8GiB",
        "stage2_per_vm": "16MiB",
        "vmm_per_vm": "256MiB",
        "access": {"guest_anon": {"access_rate": 0.0, "p_kernel": 0.25}},
        "injections": [
            {"at": "1s", "host": 2, "vm": 1, "owner": "vmm", "permanent": True},
            {"at": "90ms", "owner": "guest_page_table", "kernel": True, "consume_after": "3us"},
        ],
    },
    "cpu": {
        "p_sync": 0.5,
        "p_fnv": 0.25,
        "serror_aet": {"UC": 1.0, "CE": 3.0},
        "access_latency": "uniform(100ns, 1us)",
    },
    "firmware": {
        "first": False,
        "ghes_sea": False,
        "p_record": 0.125,
        "p_fatal": 0.0625,
        "latency": "exp(50us)",
    },
    "hypervisor": {
        "policy": "serror_fallback",
        "exit_in_kernel": "1536ns",
        "exit_to_user": "lognormal(7214ns, 0.5)",
        "asi_overhead": "empirical(1us, 2us, 9us)",
        "memory_failure": "30us",
        "p_mf_failed": 0.125,
    },
    "vmm": {
        "sea_exit": "inject_cper",
        "unmap": True,
        "restart_after": 3,
        "ao_action": "notify",
        "guest_ghes": False,
        "latency": "exp(20us)",
        "hang_detect": "2min",
        "restart_time": "45s",
    },
    "guest": {
        "memory": "64GiB",
        "backing_page": "2MiB",
        "processes": 3,
        "panic_on_oops": True,
        "p_interrupt": 0.5,
        "p_handles_sigbus": 0.25,
        "reboot_time": "1s",
        "process_restart": "2s",
        "ack": "exp(10ms)",
        "memory_map": {"guest_anon": 3.0, "guest_kernel": 1.0},
    },
}


def _validation_error(data: dict) -> ValidationError:
    with pytest.raises(ValidationError) as info:
        Scenario.model_validate(data)
    return info.value


def _sections(model: BaseModel):
    """Every nested scenario section, with its dotted path."""
    stack = [("", model)]
    while stack:
        path, section = stack.pop()
        yield path, section
        for name in type(section).model_fields:
            value = getattr(section, name)
            if isinstance(value, BaseModel):
                stack.append((f"{path}{name}.", value))


# -- defaults ----------------------------------------------------------------------------
def test_default_scenario_is_complete() -> None:
    scenario = Scenario()
    dumped = scenario.model_dump(mode="json")
    for path, section in _sections(scenario):
        node = dumped
        for part in filter(None, path.split(".")):
            node = node[part]
        assert set(node) == set(type(section).model_fields), path
    # Every owner class has an access rate, and the guest map holds guest owners only.
    assert set(scenario.memory.access) == set(Owner)
    assert scenario.guest.memory_map
    assert all(owner.in_guest_ram for owner in scenario.guest.memory_map)
    assert scenario.memory.injections == ()


def test_defaults_follow_the_spec() -> None:
    """The values MODEL.md names as defaults."""
    s = Scenario()
    assert s.cpu.p_sync == 0.95  # MODEL 4: assumption, default 0.95
    assert s.memory.scrub_period == 24 * NS_PER_H  # MODEL 3: scrub period 24 h
    assert s.memory.p_permanent == 0.71  # MODEL 3: permanent = 71%
    assert s.firmware.latency.mean_ns == 50 * NS_PER_US  # MODEL 5.1: 50 us
    assert s.hypervisor.exit_in_kernel.mean_ns == 408  # MODEL 5.3: Kunpeng 920
    assert s.hypervisor.exit_to_user.mean_ns == 2306
    assert s.hypervisor.asi_overhead.mean_ns == 0  # optional, off by default
    assert s.guest.reboot_time == 60 * NS_PER_S  # MODEL 7: 60 s
    assert s.vmm.ao_action == "ignore"  # MODEL 3: QEMU ignores AO by default
    assert s.platform.feat_ras is True
    assert s.firmware.first is True


def test_default_scenario_simulates() -> None:
    result = rassim.simulate(rassim.Scenario(), seed=0)
    assert result.scenario == Scenario()
    assert result.summary["error_events"] == len(result.errors)
    assert result.summary["ues"] == len(result.ues)


# -- nested input ------------------------------------------------------------------------
def test_model_validate_takes_a_nested_dict() -> None:
    s = Scenario.model_validate(NON_DEFAULT)
    assert s.duration == 3 * 24 * NS_PER_H
    assert s.record_hops is False
    assert (s.fleet.hosts, s.fleet.vms_per_host) == (3, 2)
    assert s.platform.host_reboot_time == 7 * 60 * NS_PER_S
    assert s.memory.host_memory == 256 * GiB
    assert s.memory.stage2_per_vm == 16 * MiB
    assert s.memory.ue_rate == 2.5e-3
    assert s.cpu.serror_aet == {"UC": 1.0, "CE": 3.0}
    assert s.cpu.access_latency.mean_ns == 550  # uniform(100ns, 1us)
    assert s.firmware.latency.mean_ns == 50 * NS_PER_US
    assert s.hypervisor.exit_to_user.mean_ns == pytest.approx(7214)
    assert s.hypervisor.asi_overhead.mean_ns == 4 * NS_PER_US
    assert s.vmm.restart_after == 3
    assert s.guest.ack.mean_ns == 10 * NS_PER_MS
    assert s.guest.memory_map == {Owner.GUEST_ANON: 3.0, Owner.GUEST_KERNEL: 1.0}
    # A partial access table keeps the defaults of the owners it does not name.
    assert s.memory.access[Owner.GUEST_ANON].access_rate == 0.0
    assert s.memory.access[Owner.GUEST_ANON].p_kernel == 0.25
    assert s.memory.access[Owner.HOST_KERNEL] == Scenario().memory.access[Owner.HOST_KERNEL]
    first, second = s.memory.injections
    assert (first.at, first.host, first.vm, first.owner) == (NS_PER_S, 2, 1, Owner.VMM)
    assert first.permanent is True and first.kernel is None and first.consume_after is None
    assert (second.at, second.consume_after) == (90 * NS_PER_MS, 3 * NS_PER_US)
    assert second.owner is Owner.GUEST_PAGE_TABLE and second.kernel is True


def test_partial_owner_override_keeps_that_owner_defaults() -> None:
    """Changing only a guest-kernel page's access rate must not move its reads to EL0:
    p_kernel keeps the owner's default (1.0), not OwnerAccess's generic 0.0."""
    s = Scenario.model_validate({"memory": {"access": {"guest_kernel": {"access_rate": 7200}}}})
    access = s.memory.access[Owner.GUEST_KERNEL]
    assert access.access_rate == 7200
    assert access.p_kernel == Scenario().memory.access[Owner.GUEST_KERNEL].p_kernel == 1.0


def test_sections_are_immutable() -> None:
    s = Scenario()
    with pytest.raises(ValidationError):
        s.cpu.p_sync = 0.5  # type: ignore[misc]


# -- rejected input ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("data", "where"),
    [
        ({"vmm": {"sea_exti": "inject"}}, ("vmm", "sea_exti")),
        ({"durations": "1d"}, ("durations",)),
        ({"memory": {"injections": [{"at": "1s", "kernal": True}]}}, "kernal"),
        ({"memory": {"access": {"guest_heap": {"access_rate": 1.0}}}}, "guest_heap"),
    ],
    ids=["vmm.sea_exti", "top-level", "injection field", "owner class"],
)
def test_unknown_keys_are_rejected(data: dict, where: tuple[str, ...] | str) -> None:
    error = _validation_error(data)
    if isinstance(where, tuple):
        assert [e["loc"] for e in error.errors()] == [where]
        assert ".".join(where) in str(error)
    else:
        assert where in str(error)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"duration": "5 parsecs"}, "duration"),
        ({"memory": {"scrub_period": "24"}}, "memory.scrub_period"),
        ({"memory": {"host_memory": "512GB"}}, "memory.host_memory"),
        ({"firmware": {"latency": "exp(5 parsecs)"}}, "firmware.latency"),
        ({"guest": {"ack": "gamma(1us)"}}, "guest.ack"),
        ({"memory": {"ue_rate": "1e-3/GiB/fortnight"}}, "memory.ue_rate"),
    ],
)
def test_bad_units_are_rejected(data: dict, field: str) -> None:
    error = _validation_error(data)
    assert field in str(error)


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"cpu": {"p_sync": 1.5}}, "cpu.p_sync"),
        ({"cpu": {"p_fnv": -0.1}}, "cpu.p_fnv"),
        ({"firmware": {"p_record": 2}}, "firmware.p_record"),
        ({"guest": {"p_interrupt": 1.01}}, "guest.p_interrupt"),
        ({"memory": {"ue_rate": -1}}, "memory.ue_rate"),
        ({"memory": {"ue_rate": -1e-9}}, "memory.ue_rate"),
        ({"memory": {"ue_rate": math.inf}}, "memory.ue_rate"),
        ({"memory": {"ue_rate": math.nan}}, "memory.ue_rate"),
        ({"memory": {"access": {"vmm": {"access_rate": -1.0}}}}, "access_rate"),
        ({"fleet": {"hosts": 0}}, "fleet.hosts"),
        ({"vmm": {"restart_after": 0}}, "vmm.restart_after"),
        ({"vmm": {"sea_exit": "ignore"}}, "vmm.sea_exit"),
        ({"hypervisor": {"policy": "exit"}}, "hypervisor.policy"),
        ({"cpu": {"serror_aet": {"UC": 0.0}}}, "serror_aet"),
        ({"cpu": {"serror_aet": {"DE": 1.0}}}, "serror_aet"),
        ({"guest": {"memory_map": {"vmm": 1.0}}}, "memory_map"),
    ],
)
def test_out_of_range_values_are_rejected(data: dict, field: str) -> None:
    error = _validation_error(data)
    assert field in str(error)


def test_guest_memory_must_fit_host_memory() -> None:
    # host: 512 GiB; kernel 16 GiB; per VM 32 MiB stage 2 + 512 MiB VMM + guest RAM.
    per_vm_overhead = 32 * MiB + 512 * MiB
    room = 512 * GiB - 16 * GiB - per_vm_overhead  # one VM, exactly full
    exact = {"fleet": {"vms_per_host": 1}, "guest": {"memory": f"{room // 4096 * 4}KiB"}}
    assert Scenario.model_validate(exact).guest.memory == room
    over = {"fleet": {"vms_per_host": 1}, "guest": {"memory": f"{room // 4096 * 4 + 4}KiB"}}
    assert "host_memory" in str(_validation_error(over))
    # The default guest (112 GiB) fits four times but not five.
    assert "host_memory" in str(_validation_error({"fleet": {"vms_per_host": 5}}))
    assert "host_memory" in str(_validation_error({"guest": {"memory": "200GiB"}}))


def test_guest_memory_must_be_whole_backing_pages() -> None:
    data = {"guest": {"memory": "1536MiB", "backing_page": "1GiB"}}
    assert "backing_page" in str(_validation_error(data))
    assert Scenario.model_validate({"guest": {"memory": "2GiB", "backing_page": "1GiB"}})


def test_injections_must_name_existing_hosts_and_vms() -> None:
    for where in ({"host": 1}, {"vm": 4}):
        data = {"memory": {"injections": [{"at": "1s", **where}]}}
        assert "injections[0]" in str(_validation_error(data))


# -- round trips -------------------------------------------------------------------------
@pytest.mark.parametrize("data", [{}, NON_DEFAULT], ids=["defaults", "non-default"])
def test_json_round_trip(data: dict) -> None:
    scenario = Scenario.model_validate(data)
    dumped = scenario.model_dump(mode="json")
    text = json.dumps(dumped)  # plain JSON: units and distributions as text
    again = Scenario.model_validate(json.loads(text))
    assert again == scenario
    assert again.model_dump(mode="json") == dumped


def test_json_round_trip_keeps_distribution_parameters_exactly() -> None:
    """A lognormal's sigma must survive model_dump(mode="json") -> model_validate."""
    scenario = Scenario.model_validate({"guest": {"ack": "lognormal(50us, 0.1234567)"}})
    again = Scenario.model_validate(scenario.model_dump(mode="json"))
    assert again.guest.ack == scenario.guest.ack
