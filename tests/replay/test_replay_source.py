"""The replayed UE source: every logged UE once, at its time, on its host, in its page;
owners where page types place them; rasdaemon's page CE accounting; the same errors under
every policy (common random numbers); the same tables whatever the worker count."""

from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from fleet_db import assert_each_logged_ue_replayed_once, write_fleet

from rassim.config import ConfigError, dump_scenario, load_scenario, validate
from rassim.model.memory import MemoryMap, MemoryNode
from rassim.model.sources import page_ce_offline
from rassim.replay import ReadOptions, read_log
from rassim.replay.fleet import fleet_of
from rassim.run import simulate
from rassim.run.hosts import simulate_group
from rassim.scenario import Owner, Placement, Scenario
from rassim.sim.draws import Draws
from rassim.sim.units import NS_PER_D, NS_PER_H, NS_PER_S, GiB

GUEST = {o for o in Owner if o.in_guest_ram}
POLICIES = ("serror_fallback", "exit_to_user")


@pytest.fixture(scope="module")
def logged(tmp_path_factory) -> tuple[Path, Counter]:
    directory = tmp_path_factory.mktemp("fleet")
    return directory, write_fleet(directory)


def _scenario(directory: Path, *overrides: str) -> Scenario:
    base = Scenario()
    log = read_log([directory], ReadOptions(address_limit=base.memory.host_memory))
    return fleet_of(log, base).scenario(base, overrides)


def test_every_logged_ue_is_one_ue_at_its_time_host_and_page(logged) -> None:
    directory, expected = logged
    assert sum(expected.values()) > 10
    for policy in POLICIES:
        result = simulate(_scenario(directory, f"hypervisor.policy={policy}"), seed=3)
        assert_each_logged_ue_replayed_once(result.ues, expected)
        assert result.summary["ues"] == sum(expected.values())  # no UE from anywhere else
        assert set(result.ues["source"]) == {"log"}


def test_the_fleet_covers_the_log_and_numbers_its_hosts(logged) -> None:
    directory, expected = logged
    base = Scenario()
    log = read_log([directory], ReadOptions(address_limit=base.memory.host_memory))
    fleet = fleet_of(log, base)
    assert fleet.hosts == ("node00", "node01", "node02")
    last = max(second for _, second, _ in expected) * NS_PER_S
    assert fleet.duration_ns >= last + NS_PER_D  # a scrub pass after the last UE
    more = fleet_of(log, base, hosts=5, observed_ns=60 * NS_PER_D)
    scenario = more.scenario(base)
    assert scenario.fleet.hosts == 5 and scenario.duration == 60 * NS_PER_D
    assert more.hosts[3:] == ("(unlogged 3)", "(unlogged 4)")
    with pytest.raises(ConfigError, match="does not cover the log"):
        fleet_of(log, base, observed_ns=NS_PER_D)
    with pytest.raises(ConfigError, match="fewer than the 3 hosts"):
        fleet_of(log, base, hosts=2)


def test_the_corrected_errors_of_a_ues_page_before_it_are_carried(database) -> None:
    page = 0x1234_5000
    rows = [
        ("2025-01-01 00:00:00 +0000", 3, "Corrected", page + 0x40),
        ("2025-01-01 01:00:00 +0000", 2, "Corrected", page + 0xFC0),
        ("2025-01-01 01:30:00 +0000", 9, "Corrected", page + 0x1000),  # the next page
        ("2025-01-01 02:00:00 +0000", 1, "Uncorrected", page + 0x80),
        ("2025-01-01 03:00:00 +0000", 5, "Corrected", page),  # after it
    ]
    log = read_log([database("h.db", rows)], ReadOptions(address_limit=1 << 40))
    (entry,) = fleet_of(log, Scenario()).replayed()
    assert entry["at"] == "2h" and entry["address"] == page + 0x80
    assert entry["corrected_before"] == [["0ns", 3], ["1h", 2]]
    assert entry["placement"] == "memory_map" and "mc_event id 4" in entry["origin"]


def test_placements_draw_their_owners() -> None:
    """Each placement draws only its owners, split by their sizes (MemoryMap.draw_placed);
    the guest class follows guest.memory_map."""
    scenario = Scenario.model_validate(
        {"memory": {"vmm_per_vm": 16 * GiB, "host_kernel": 40 * GiB}, "guest": {"memory": 40 * GiB}}
    )
    memory_map = MemoryMap(scenario)
    rng = Draws(lambda: np.random.default_rng(11))
    allowed = {
        Placement.HOST_KERNEL: {Owner.HOST_KERNEL},
        Placement.KERNEL_UNTYPED: {Owner.HOST_KERNEL, Owner.HOST_STAGE2},
        Placement.HOST_FREE: {Owner.HOST_FREE},
        Placement.VMM_MAPPED: {Owner.VMM} | GUEST,
        Placement.GUEST_RAM: GUEST,
        Placement.MEMORY_MAP: set(Owner),
    }
    n = 2000
    for placement, owners in allowed.items():
        drawn = [memory_map.draw_placed(rng, placement) for _ in range(n)]
        assert {owner for owner, _ in drawn} <= owners, placement
        assert all(
            vm is None for owner, vm in drawn if owner in (Owner.HOST_KERNEL, Owner.HOST_FREE)
        )
        assert all(
            0 <= vm < 4 for owner, vm in drawn if owner not in (Owner.HOST_KERNEL, Owner.HOST_FREE)
        )
        if placement is Placement.VMM_MAPPED:
            # VMM memory is 16 of the 16 + 40 GiB a VM's VMM maps: p = 2/7
            share = sum(owner is Owner.VMM for owner, _ in drawn) / n
            assert abs(share - 2 / 7) < 3.29 * (2 / 7 * 5 / 7 / n) ** 0.5
        if placement is Placement.GUEST_RAM:
            share = sum(owner is Owner.GUEST_ANON for owner, _ in drawn) / n
            assert abs(share - 0.44) < 3.29 * (0.44 * 0.56 / n) ** 0.5


def test_the_source_places_each_logged_ue_as_its_page_type_says(monkeypatch) -> None:
    poisoned = []
    poison = MemoryNode.poison

    def recorded(self, ue_id, owner, vm, *args, **kwargs):
        poisoned.append((self.env.now, kwargs["hpa"], owner, vm))
        return poison(self, ue_id, owner, vm, *args, **kwargs)

    monkeypatch.setattr(MemoryNode, "poison", recorded)
    placements = [Placement.HOST_KERNEL, Placement.HOST_FREE, Placement.GUEST_RAM] * 4
    placements += [Placement.KERNEL_UNTYPED, Placement.VMM_MAPPED] * 3
    replayed = [
        {"host": 0, "at": f"{i}h", "address": (i + 1) << 20, "placement": p.value}
        for i, p in enumerate(placements)
    ]
    # A second report of the third page ("already poisoned") takes that UE's owner.
    replayed.append({"host": 0, "at": "30h", "address": 3 << 20, "placement": "repeat"})
    simulate(validate({"duration": "2d", "memory": {"source": "replay", "replayed": replayed}}), 2)
    allowed = {
        Placement.HOST_KERNEL: {Owner.HOST_KERNEL},
        Placement.KERNEL_UNTYPED: {Owner.HOST_KERNEL, Owner.HOST_STAGE2},
        Placement.HOST_FREE: {Owner.HOST_FREE},
        Placement.VMM_MAPPED: {Owner.VMM} | GUEST,
        Placement.GUEST_RAM: GUEST,
    }
    assert [(at, hpa) for at, hpa, _, _ in poisoned] == [
        (NS_PER_H * int(e["at"][:-1]), e["address"]) for e in replayed
    ]
    for placement, (_, _, owner, _) in zip(placements, poisoned, strict=False):
        assert owner in allowed[placement], placement
    assert poisoned[-1][2:] == poisoned[2][2:]  # owner and VM of the page's first UE


def test_each_host_takes_its_own_listed_ues_in_time_order_ties_in_list_order(
    monkeypatch,
) -> None:
    """Two hosts' logged UEs and injections listed interleaved, out of time order, with
    ties in time: each host poisons its own, and only its own, sorted stably by time,
    whether its group starts at host 0 or not."""
    poisoned: dict[tuple[int, str], list[tuple[int, int]]] = {}
    poison = MemoryNode.poison

    def recorded(self, ue_id, owner, vm, permanent, source, *args, **kwargs):
        # Which entry of its list: its address (logged) or its delay (injected) says.
        n = kwargs["hpa"] >> 20 if source == "log" else kwargs["first_delay"] // NS_PER_S
        poisoned.setdefault((self.host, source), []).append((self.env.now // NS_PER_H, n))
        return poison(self, ue_id, owner, vm, permanent, source, *args, **kwargs)

    monkeypatch.setattr(MemoryNode, "poison", recorded)
    logged = [(2, 5), (0, 3), (2, 1), (0, 3), (0, 1), (2, 5), (0, 2), (2, 3)]  # (host, hour)
    injected = [(2, 4), (0, 4), (2, 4), (0, 2), (2, 1)]
    memory = {
        "source": "replay",
        "replayed": [
            {"host": h, "at": f"{at}h", "address": n << 20} for n, (h, at) in enumerate(logged)
        ],
        "injections": [
            {"host": h, "at": f"{at}h", "owner": "guest_anon", "consume_after": f"{n}s"}
            for n, (h, at) in enumerate(injected)
        ],
    }
    scenario = validate({"duration": "1d", "fleet": {"hosts": 3}, "memory": memory})
    expected = {  # (hour, entry) of each host's, as it poisons them
        (0, "log"): [(1, 4), (2, 6), (3, 1), (3, 3)],
        (2, "log"): [(1, 2), (3, 7), (5, 0), (5, 5)],
        (0, "einj"): [(2, 3), (4, 1)],
        (2, "einj"): [(1, 4), (4, 0), (4, 2)],
    }
    for hosts in (range(3), range(1, 3)):
        poisoned.clear()
        simulate_group(scenario, 1, hosts)
        assert poisoned == {key: ues for key, ues in expected.items() if key[0] in hosts}


@pytest.mark.parametrize(
    ("corrected", "offline"),
    [
        ([], False),
        ([(0, 49)], False),
        ([(0, 50)], True),
        ([(0, 30), (12 * NS_PER_H, 20)], True),  # 50 within a cycle
        # 25 h later: 25/24 x 50 = 52 are forgiven, so the count restarts at 40
        ([(0, 40), (25 * NS_PER_H, 40)], False),
        # 48 h later: 100 forgiven of 45; then 45 + 5 reach 50 within the new cycle
        ([(0, 45), (48 * NS_PER_H, 45), (50 * NS_PER_H, 5)], True),
        # 30 h later: int(1.25 x 50) = 62 forgiven of 49 -> 0, then 49 + 1
        ([(0, 49), (30 * NS_PER_H, 49), (31 * NS_PER_H, 1)], True),
    ],
)
def test_rasdaemons_page_ce_accounting(corrected, offline) -> None:
    """ras-page-isolation.c page_record() with PAGE_CE_THRESHOLD 50, REFRESH_CYCLE 24h."""
    assert page_ce_offline(corrected, 50, 24 * NS_PER_H) is offline


def test_a_page_its_ces_offlined_first_is_replayed_unreachable() -> None:
    replayed = [
        {"host": 0, "at": "30h", "address": 1 << 30, "corrected_before": [["1h", 30], ["20h", 25]]},
        {"host": 0, "at": "30h", "address": 2 << 30, "corrected_before": [["1h", 30]]},
    ]
    data = {"duration": "3d", "memory": {"source": "replay", "replayed": replayed}}
    on = simulate(validate({**data, "memory": {**data["memory"], "predictive_offline": True}}), 1)
    off = simulate(validate(data), 1)
    assert sorted(on.ues["source"]) == ["log", "log:predicted"]
    predicted = on.ues[on.ues["source"] == "log:predicted"].iloc[0]
    assert predicted["hpa"] == 1 << 30 and predicted["events"] == 0
    assert predicted["state"] == "offlined" and on.summary["ues_predicted"] == 1
    assert set(off.ues["source"]) == {"log"} and off.summary["ues_predicted"] == 0


def _first_events(result) -> pd.DataFrame:
    """Each UE's first event, keyed by where and when it was logged."""
    errors = result.errors.sort_values(["consumed_ns", "error_id"]).groupby("ue_id").first()
    ues = result.ues.set_index("ue_id")
    table = ues[["host", "created_ns", "hpa", "permanent"]].join(
        errors[["kind", "consumed_ns", "owner", "vm", "context"]]
    )
    return table.set_index(["host", "created_ns", "hpa"]).sort_index()


def _untouched(first: pd.DataFrame, results) -> np.ndarray:
    """UEs whose VM and host stayed up, in every arm, from their creation to their first
    event (an outage at t keeps them down until t + 10 min at most: a host's reboot)."""
    errors = pd.concat([r.errors for r in results])
    down = errors[errors["outcome"].isin(["vm_crashed", "vm_restarted", "host_panicked"])]
    keep = []
    for (host, created, _), vm, touched in zip(
        first.index, first["vm"], first["consumed_ns"], strict=True
    ):
        mine = down[
            (down["host"] == host)
            & ((down["outcome"] == "host_panicked") | (down["vm"] == vm))
            & (down["resolved_ns"] < touched)
            & (down["resolved_ns"] + 10 * 60 * NS_PER_S > created)
        ]
        keep.append(not pd.isna(touched) and mine.empty)
    return np.array(keep)


def test_the_same_errors_meet_each_policy_the_same_way(logged) -> None:
    """Common random numbers: every UE has the same page and permanence under both
    policies, and the same first touch (time, kind, owner, VM, context) unless its VM or
    its host was down in between in either."""
    directory, _ = logged
    results = [
        simulate(_scenario(directory, f"hypervisor.policy={p}", "firmware.p_record=0.3"), seed=9)
        for p in POLICIES
    ]
    first, second = (_first_events(r) for r in results)
    assert first.index.equals(second.index)
    assert first["permanent"].equals(second["permanent"])
    untouched = _untouched(first, results)
    assert untouched.sum() >= 10
    columns = ["kind", "consumed_ns", "owner", "vm", "context"]
    pd.testing.assert_frame_equal(first.loc[untouched, columns], second.loc[untouched, columns])
    assert results[0].errors["outcome"].tolist() != results[1].errors["outcome"].tolist()


def test_replay_tables_do_not_depend_on_the_worker_count(logged) -> None:
    directory, _ = logged
    scenario = _scenario(directory)
    one, again, two = (simulate(scenario, seed=4, workers=w) for w in (1, 1, 2))
    for table in ("errors", "ues", "vms", "hops"):
        pd.testing.assert_frame_equal(getattr(one, table), getattr(again, table))
        pd.testing.assert_frame_equal(getattr(one, table), getattr(two, table))


@pytest.mark.parametrize(
    ("memory", "expected"),
    [
        ({"replayed": [{"host": 0, "at": "1h"}]}, 'only with memory.source = "replay"'),
        ({"source": "replay", "acceleration": 10}, "acceleration must be 1"),
        ({"source": "replay", "replayed": [{"host": 1, "at": "1h"}]}, "host 1 does not exist"),
        ({"source": "replay", "replayed": [{"host": 0, "at": "31d"}]}, "not before the end"),
        (
            {
                "source": "replay",
                "replayed": [{"host": 0, "at": "1h", "corrected_before": [["2h", 1]]}],
            },
            "later than it",
        ),
        (
            {
                "source": "replay",
                "replayed": [{"host": 0, "at": "1h", "corrected_before": [["0ns", 0]]}],
            },
            "count must be at least 1",
        ),
        (
            {"source": "replay", "replayed": [{"host": 0, "at": "1h", "placement": "x"}]},
            "placement",
        ),
    ],
)
def test_bad_replayed_entries_are_refused(memory, expected) -> None:
    with pytest.raises(ConfigError, match=expected):
        validate({"memory": memory})


def test_a_replay_scenario_round_trips_through_its_file(logged, tmp_path: Path) -> None:
    directory, _ = logged
    scenario = _scenario(directory)
    path = tmp_path / "replay.toml"
    path.write_text(dump_scenario(scenario))
    assert load_scenario(path) == scenario
    assert len(scenario.memory.replayed) == sum(logged[1].values())


def test_a_database_with_only_corrected_errors_has_nothing_to_replay(database) -> None:
    rows = [("2025-01-01 00:00:00 +0000", 1, "Corrected", 0x1000)]
    log = read_log([database("a.db", rows)], ReadOptions(address_limit=1 << 40))
    with pytest.raises(ConfigError, match="no uncorrected error to replay"):
        fleet_of(log, Scenario())
