"""Declared uncertainty in experiment files: what loads, and one clear error per problem
naming the file and the key."""

import math
from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from rassim.cli import main
from rassim.config import ConfigError
from rassim.sensitivity.design import experiment, load_study, sobol_design
from rassim.sweep.experiment import load_experiment

HEAD = """\
[experiment]
name = "s"
preset = "sea-to-user"
metrics = ["goodput", "vm_crashes"]

[sensitivity.sobol]
samples = 4
"""


def _with_base(base: str) -> str:
    return HEAD.replace("\n[sensitivity.sobol]", f"\n[base]\n{base}\n[sensitivity.sobol]")


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exp.toml"
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str) -> str:
    with pytest.raises(ConfigError) as info:
        load_study(_write(tmp_path, text))
    return str(info.value)


def _uncertain(key: str, distribution: str = "uniform", **fields) -> str:
    lines = [f'key = "{key}"', f'distribution = "{distribution}"']
    lines += [f"{name} = {value}" for name, value in fields.items()]
    return "[[uncertain]]\n" + "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        (
            _uncertain("memory.acess.guest_anon.access_rate", low=1, high=60),
            "exp.toml: uncertain.0: memory.acess.guest_anon.access_rate: unknown key 'acess' "
            "in memory (did you mean 'access'?)",
        ),
        (
            _uncertain("memory.access.guest_anno.access_rate", low=1, high=60),
            "exp.toml: uncertain.0: memory.access.guest_anno.access_rate: memory.access has no "
            "entry 'guest_anno' (did you mean 'guest_anon'?)",
        ),
        (
            _uncertain("firmware.p_record", low=0.9, high=0.5),
            "exp.toml: uncertain.0: low must be below high, got 0.9 and 0.5",
        ),
        (
            _uncertain("firmware.p_record", low=0.5, high=1.5),
            "exp.toml: uncertain.0.high: firmware.p_record: must be less than or equal to 1",
        ),
        (
            _uncertain("memory.ue_rate", "loguniform", low=1e-6, high='"1e-4/GiB/h"'),
            "exp.toml: uncertain.0.low: memory.ue_rate: 1e-06 has no unit: write a rate as text",
        ),
        (
            _uncertain("firmware.latency", low=10, high='"1ms"'),
            "exp.toml: uncertain.0.low: firmware.latency: 10 has no unit: write a duration as text",
        ),
        (
            _uncertain("memory.access.guest_anon.access_rate", low=1, high='"60/h"'),
            "exp.toml: uncertain.0.low: memory.access.guest_anon.access_rate: 1 has no unit: "
            "write a rate as text",
        ),
        (
            _uncertain("guest.reboot_time", low='"10"', high='"2min"'),
            "exp.toml: uncertain.0.low: guest.reboot_time: '10' is not a duration",
        ),
        (
            _uncertain("memory.scrub_period", "loguniform", low='"0s"', high='"24h"'),
            "exp.toml: uncertain.0: a loguniform distribution needs low > 0, got '0s'",
        ),
        (
            _uncertain("guest.p_interrupt", "triangular", low=0.0, mode=0.5, high=0.3),
            "exp.toml: uncertain.0: mode must lie between low and high, got 0.5",
        ),
        (
            _uncertain("guest.p_interrupt", "triangular", low=0.0, high=0.3),
            "exp.toml: uncertain.0: a triangular distribution needs mode",
        ),
        (
            _uncertain("guest.p_interrupt", low=0.0, high=0.3, values="[0.1, 0.2]"),
            "exp.toml: uncertain.0: values is not used by a uniform distribution "
            "(it takes low and high)",
        ),
        (
            _uncertain("hypervisor.policy", low=0, high=1),
            "exp.toml: uncertain.0: hypervisor.policy is not a number: list its values with "
            'distribution = "discrete"',
        ),
        (
            _uncertain("vmm.sea_exit", "discrete", values='["inject", "injetc"]'),
            "exp.toml: uncertain.0.values.1: vmm.sea_exit: Input should be 'unhandled', 'inject', ",
        ),
        (
            _uncertain("vmm.sea_exit", "discrete", values='["inject", "inject"]'),
            'exp.toml: uncertain.0: values.1 repeats an earlier value: "inject"',
        ),
        (
            _uncertain("guest.p_interrupt", "uniform", low=0.0, high=0.3, why='"x"'),
            "exp.toml: uncertain.0.why: unknown key",
        ),
        (
            _uncertain("guest.p_interrupt", low=0.0, high=0.3)
            + _uncertain("guest.p_interrupt", low=0.1, high=0.2),
            "exp.toml: uncertain.1: guest.p_interrupt is already varied by uncertain.0",
        ),
        (
            _with_base("guest.p_interrupt = 0.2")
            + _uncertain("guest.p_interrupt", low=0.0, high=0.3),
            "exp.toml: guest.p_interrupt is set in [base] or by --set, but uncertain.0 varies "
            "guest.p_interrupt; remove one of them",
        ),
    ],
)
def test_bad_uncertain_entries_are_named(tmp_path: Path, entry: str, message: str) -> None:
    error = _error(tmp_path, entry if entry.startswith("[experiment]") else HEAD + entry)
    assert message in error, error
    assert len(error.splitlines()) == 1


P = _uncertain("guest.p_interrupt", low=0.0, high=0.3)
ARMS = (
    '[sensitivity.arms]\nkey = "hypervisor.policy"\nvalues = ["serror_fallback", "exit_to_user"]\n'
)


def _better(table: str) -> str:
    return HEAD.replace(
        "[sensitivity.sobol]", f"[sensitivity]\nbetter = {table}\n{ARMS}\n[sensitivity.sobol]"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEAD.replace("samples = 4", "samples = 6") + P,
            "sensitivity.sobol: samples must be a power of two, got 6",
        ),
        (
            HEAD.replace("[sensitivity.sobol]\nsamples = 4\n", "[sensitivity]\n") + P,
            "sensitivity: give [sensitivity.morris], [sensitivity.sobol] or both",
        ),
        (
            HEAD + "top = 1\n" + P,
            "exp.toml: sensitivity: sobol.top ranks by the Morris screening: add "
            "[sensitivity.morris]",
        ),
        (
            HEAD + "[sensitivity.morris]\ntrajectories = 4\nlevels = 3\n" + P,
            "sensitivity.morris: levels must be even, got 3",
        ),
        (
            HEAD + '[sensitivity.arms]\nkey = "hypervisor.policy"\nvalues = ["exit_to_user"]\n' + P,
            "sensitivity.arms: values must list exactly two alternatives, got 1",
        ),
        (
            HEAD
            + '[sensitivity.arms]\nkey = "hypervisor.policy"\nvalues = ["a", "exit_to_user"]\n'
            + P,
            "exp.toml: sensitivity.arms.values.0: hypervisor.policy: Input should be",
        ),
        (
            HEAD + '[sensitivity.arms]\nkey = "guest.p_interrupt"\nvalues = [0.1, 0.2]\n' + P,
            "exp.toml: sensitivity.arms: guest.p_interrupt is already varied by uncertain.0",
        ),
        (
            HEAD.replace(
                "[sensitivity.sobol]",
                '[sensitivity]\nbetter = { goodput = "higher" }\n\n[sensitivity.sobol]',
            )
            + P,
            "sensitivity: better needs [sensitivity.arms]",
        ),
        (
            _better('{ goodput = "up" }') + P,
            "sensitivity.better.goodput: Input should be 'higher' or 'lower'",
        ),
        (
            _better('{ availability = "higher" }') + P,
            "sensitivity.better: 'availability' is not one of experiment.metrics",
        ),
        (HEAD, "exp.toml: a sensitivity experiment needs [[uncertain]] parameters"),
        (
            HEAD + P + '[[factors]]\nkey = "vmm.unmap"\nvalues = [false, true]\n',
            "exp.toml: factors are for `rassim sweep`",
        ),
        (
            HEAD.replace("metrics = [", 'keep = ["errors"]\nmetrics = [') + P,
            "experiment.keep: event tables are kept by sweeps only",
        ),
    ],
)
def test_bad_sensitivity_settings_are_named(tmp_path: Path, text: str, message: str) -> None:
    error = _error(tmp_path, text)
    assert message in error, error


def test_sweep_refuses_a_sensitivity_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, HEAD + P)
    with pytest.raises(ConfigError, match="run it with `rassim sensitivity`"):
        load_experiment(path)
    assert main(["sensitivity", str(path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        "guest.p_interrupt: uniform 0.0 to 0.3" in out and "sobol: 12 samples x 1 = 12 runs" in out
    )
    assert "12 scenario(s) of the sobol stage checked" in out


def test_values_reach_the_scenario_in_their_units(tmp_path: Path) -> None:
    text = (
        HEAD.replace('preset = "sea-to-user"', 'scenario = "base.toml"')
        + _uncertain("vmm.latency", "loguniform", low='"5us"', high='"1ms"')
        + _uncertain("memory.ue_rate", "loguniform", low='"1e-6/GiB/h"', high='"1/TiB/h"')
        + _uncertain("guest.reboot_time", "triangular", low='"20s"', mode='"1min"', high='"5min"')
        + _uncertain("memory.access.guest_anon.access_rate", low='"1/h"', high='"1/min"')
        + _uncertain("vmm.restart_after", "discrete", values='["none", 1, 3]')
        + _uncertain("memory.faults.single_row.pages", low=1, high=8)
    )
    (tmp_path / "base.toml").write_text('preset = "sea-to-user"\n[vmm]\nlatency = "exp(20us)"\n')
    study = load_study(_write(tmp_path, text))
    design = sobol_design(study)
    sweep = experiment(study, design)
    columns = {p.key: p.values_at(design.unit[:, j]) for j, p in enumerate(study.parameters)}
    for i, point in enumerate(sweep.points):
        s = point.scenario
        assert type(s.vmm.latency).__name__ == "Exponential"  # the family is kept
        assert s.vmm.latency.mean_ns == columns["vmm.latency"][i]
        assert 5_000 <= s.vmm.latency.mean_ns <= 1_000_000
        assert s.memory.ue_rate == pytest.approx(columns["memory.ue_rate"][i])
        assert 1e-6 <= s.memory.ue_rate <= 1 / 1024
        assert s.guest.reboot_time == columns["guest.reboot_time"][i]
        assert (
            s.memory.access["guest_anon"].access_rate
            == columns["memory.access.guest_anon.access_rate"][i]
        )
        assert s.memory.access["guest_anon"].p_kernel == 0.05  # the rest of the entry stays
        restart = columns["vmm.restart_after"][i]
        assert s.vmm.restart_after == (None if restart == "none" else restart)
        assert s.memory.faults["single_row"].pages == columns["memory.faults.single_row.pages"][i]
    assert isinstance(columns["memory.faults.single_row.pages"][0], int)


def _draws(tmp_path: Path, entry: str, n: int = 4000) -> np.ndarray:
    study = load_study(_write(tmp_path, HEAD + entry))
    (parameter,) = study.parameters
    return parameter.quantile(np.random.default_rng(1).random(n))


def test_distributions_have_their_declared_shape(tmp_path: Path) -> None:
    """Kolmogorov-Smirnov against scipy's distributions (alpha 0.001, fixed draws)."""
    alpha = 1e-3
    log = _draws(tmp_path, _uncertain("firmware.p_record", "loguniform", low=0.01, high=1.0))
    assert stats.kstest(log, stats.loguniform(0.01, 1.0).cdf).pvalue > alpha
    tri = _draws(
        tmp_path, _uncertain("firmware.p_record", "triangular", low=0.2, mode=0.3, high=0.9)
    )
    assert stats.kstest(tri, stats.triang(1 / 7, loc=0.2, scale=0.7).cdf).pvalue > alpha
    uni = _draws(tmp_path, _uncertain("firmware.p_record", low=0.2, high=0.9))
    assert stats.kstest(uni, stats.uniform(0.2, 0.7).cdf).pvalue > alpha
    # integers: every value in [low, high] equally likely (chi-square)
    pages = _draws(tmp_path, _uncertain("memory.faults.single_row.pages", low=1, high=8))
    counts = np.bincount(pages, minlength=9)[1:]
    assert counts.sum() == len(pages) and stats.chisquare(counts).pvalue > alpha
    discrete = _draws(
        tmp_path,
        _uncertain("vmm.sea_exit", "discrete", values='["inject", "unhandled", "inject_cper"]'),
    )
    assert stats.chisquare(np.bincount(discrete)).pvalue > alpha
    assert math.isclose(np.median(log), 0.1, rel_tol=0.1)
