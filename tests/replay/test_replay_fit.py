"""Fitting a scenario to a log recovers the rates and the owner mix it was made from."""

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rassim.config import load_scenario
from rassim.errors import ConfigError
from rassim.replay import ErrorLog, LoggedError, ReadOptions, read_log
from rassim.replay.fit import fit_log, fitted_scenario, scenario_text, write_scenario
from rassim.replay.synthetic import FleetSpec, synthetic_errors, write_database
from rassim.results.stats import binomial_interval, poisson_interval
from rassim.scenario import Scenario
from rassim.sim.units import NS_PER_D, NS_PER_H, GiB

MIX = {
    "dirty LRU page": 0.5,
    "huge page": 0.1,
    "free buddy page": 0.25,
    "reserved kernel page": 0.15,
}
TRUE_SHARES = {"host kernel": 0.15, "VMM and guest RAM": 0.6, "free": 0.25}


def _log(fleet: dict[str, list[LoggedError]]) -> ErrorLog:
    errors = sorted((e for es in fleet.values() for e in es), key=lambda e: (e.time_ns, e.host))
    return ErrorLog(errors=tuple(errors), hosts=tuple(fleet), files=())


def _fit(spec: FleetSpec, seed: int):
    """The fit of a synthetic fleet's log over exactly the time it ran."""
    return fit_log(
        _log(synthetic_errors(spec, seed)), spec.host_memory, observed_ns=spec.duration_ns
    )


def test_exact_intervals_match_their_closed_forms() -> None:
    for k in (0, 1, 7, 250):
        low, high = poisson_interval(k, 0.9)
        assert low == pytest.approx(stats.chi2.ppf(0.05, 2 * k) / 2 if k else 0.0)
        assert high == pytest.approx(stats.chi2.ppf(0.95, 2 * k + 2) / 2)
    for k, n in ((0, 12), (5, 12), (12, 12)):
        exact = stats.binomtest(k, n).proportion_ci(method="exact")
        assert binomial_interval(k, n) == pytest.approx((exact.low, exact.high))


def test_rate_intervals_cover_the_true_rates() -> None:
    """Over 200 synthetic fleets the 95% exact intervals hold the true rates at least 95%
    of the time (Garwood's interval is conservative); 90% leaves room for noise."""
    spec = FleetSpec(4, 256 * GiB, 30 * NS_PER_D, 1e-5, 5e-5, {})
    covered = np.zeros(2)
    for seed in range(200):
        fit = fit_log(
            _log(synthetic_errors(spec, seed)), spec.host_memory, observed_ns=spec.duration_ns
        )
        for i, (rate, truth) in enumerate(((fit.ue, spec.ue_rate), (fit.ce, spec.ce_rate))):
            low, high = rate.interval
            covered[i] += low <= truth <= high
    assert (covered / 200 >= 0.9).all(), covered


def test_a_fleet_of_databases_gives_back_its_rates_and_mix(tmp_path: Path) -> None:
    spec = FleetSpec(6, 512 * GiB, 90 * NS_PER_D, 2e-5, 2e-4, MIX)
    fleet = synthetic_errors(spec, seed=11)
    for index, (host, errors) in enumerate(fleet.items()):
        write_database(tmp_path / f"{host}.db", errors, utc_offset_min=60 * index - 300)
    log = read_log([tmp_path], ReadOptions(address_limit=spec.host_memory))
    fit = fit_log(log, spec.host_memory, observed_ns=spec.duration_ns)
    expected_ues = spec.ue_rate * 6 * 512 * 90 * 24
    assert fit.ue.events == sum(not e.corrected for es in fleet.values() for e in es)
    assert abs(fit.ue.events - expected_ues) < 4 * math.sqrt(expected_ues)
    for rate, truth in ((fit.ue, spec.ue_rate), (fit.ce, spec.ce_rate)):
        low, high = rate.interval
        assert low <= truth <= high and high / low < 1.6  # tight enough to catch a 2x error
    assert fit.typed == fit.ue.events > 100
    for share in fit.mix:
        low, high = binomial_interval(share.events, share.of)
        assert low <= TRUE_SHARES[share.name] <= high
    scenario, _ = fitted_scenario(fit, vms_per_host=4, min_typed=20)
    kernel = (scenario.memory.host_kernel + 4 * scenario.memory.stage2_per_vm) / spec.host_memory
    mapped = 4 * (scenario.guest.memory + scenario.memory.vmm_per_vm) / spec.host_memory
    fitted = {s.name: s.share for s in fit.mix}
    assert kernel == pytest.approx(fitted["host kernel"], abs=1e-3)
    assert mapped == pytest.approx(fitted["VMM and guest RAM"], abs=1e-3)
    assert scenario.memory.ue_rate == fit.ue.rate and scenario.fleet.hosts == 6


def test_repeat_reports_of_a_page_count_once() -> None:
    first = LoggedError("h", 0, 0x5000_0040, False, origin="a")
    again = LoggedError("h", NS_PER_D, 0x5000_0080, False, count=2, origin="b")  # same page
    other_host = LoggedError("g", NS_PER_D, 0x5000_0040, False, origin="c")
    unknown = LoggedError("h", 2 * NS_PER_D, None, False, origin="d")
    log = ErrorLog(errors=(first, again, other_host, unknown), hosts=("g", "h"), files=())
    fit = fit_log(log, 64 * GiB)
    assert (fit.ue.events, fit.ue_reports) == (3, 5)
    assert fit.observed_from_span and fit.observed_ns == 2 * NS_PER_D
    assert fit.ue.exposure_gib_h == 2 * 64 * 48


def test_observation_and_hosts_are_checked() -> None:
    one = ErrorLog(errors=(LoggedError("h", 0, None, False),), hosts=("h", "g"), files=())
    with pytest.raises(ConfigError, match="--observed"):
        fit_log(one, 64 * GiB)
    with pytest.raises(ConfigError, match="fewer than the 2 hosts"):
        fit_log(one, 64 * GiB, hosts=1, observed_ns=NS_PER_D)
    fit = fit_log(one, 64 * GiB, hosts=10, observed_ns=NS_PER_D)
    assert fit.ue.exposure_gib_h == 10 * 64 * 24 and fit.ue.interval[0] > 0


def test_few_typed_ues_keep_the_default_memory_map() -> None:
    spec = FleetSpec(2, 512 * GiB, 30 * NS_PER_D, 1e-5, 0.0, MIX)
    fit = fit_log(
        _log(synthetic_errors(spec, seed=2)), spec.host_memory, observed_ns=spec.duration_ns
    )
    assert 0 < fit.typed < 20
    scenario, comments = fitted_scenario(fit, vms_per_host=4, min_typed=20)
    default = Scenario()
    assert scenario.memory.host_kernel == default.memory.host_kernel
    assert scenario.guest.memory == default.guest.memory
    assert "default owner mix kept" in comments["memory.host_kernel"]
    small, _ = fitted_scenario(fit_log(fit.log, 128 * GiB, observed_ns=NS_PER_D), 4, 20)
    assert small.guest.memory < default.guest.memory  # scaled to fit the smaller host


def test_the_scenario_file_loads_back_and_says_what_was_fitted(tmp_path: Path) -> None:
    spec = FleetSpec(3, 256 * GiB, 60 * NS_PER_D, 3e-5, 1e-4, MIX)
    fit = fit_log(
        _log(synthetic_errors(spec, seed=5)), spec.host_memory, observed_ns=spec.duration_ns
    )
    scenario, comments = fitted_scenario(fit, vms_per_host=2, min_typed=20)
    text = scenario_text(fit, scenario, comments)
    assert text == scenario_text(fit, *fitted_scenario(fit, 2, 20))  # deterministic
    path = tmp_path / "fitted.toml"
    write_scenario(path, text)
    assert load_scenario(path) == scenario
    assert f"UEs: {fit.ue.events} poisoned page(s)" in text
    assert f"= {3 * 256 * 60 * 24:.4g} GiB-hours" in text
    assert 'duration = "60d"' in text and "hosts = 3" in text
    write_scenario(path, text)  # its own file: replaced
    mine = tmp_path / "mine.toml"
    mine.write_text("duration = '1d'\n")
    with pytest.raises(ConfigError, match="not written by rassim fit"):
        write_scenario(mine, text)
    assert mine.read_text() == "duration = '1d'\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fitted.toml", "mine.toml"]
    hours = spec.duration_ns / NS_PER_H
    assert fit.ue.exposure_gib_h == 3 * 256 * hours
