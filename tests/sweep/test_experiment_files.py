"""Experiment files: what loads, how the grid expands, and the messages for what does not."""

from pathlib import Path

import pytest

from rassim.cli import main
from rassim.config import ConfigError
from rassim.sweep.experiment import column_name, load_experiment

EXPERIMENTS = Path(__file__).parents[2] / "experiments"


def _write(tmp_path: Path, text: str, name: str = "exp.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _error(tmp_path: Path, text: str, **kwargs) -> str:
    with pytest.raises(ConfigError) as info:
        load_experiment(_write(tmp_path, text), **kwargs)
    return str(info.value)


HEAD = '[experiment]\nname = "e"\npreset = "sea-to-user"\n'


def test_grid_is_the_product_with_keys_varying_together(tiny: Path) -> None:
    experiment = load_experiment(tiny)
    assert experiment.keys == ("hypervisor.policy", "vmm.sea_exit", "vmm.unmap")
    assert list(experiment.columns.values()) == ["hypervisor_policy", "vmm_sea_exit", "vmm_unmap"]
    assignments = [dict(p.assignment) for p in experiment.points]
    assert assignments == [
        {"hypervisor.policy": "serror_fallback", "vmm.sea_exit": "inject", "vmm.unmap": False},
        {"hypervisor.policy": "serror_fallback", "vmm.sea_exit": "inject_cper", "vmm.unmap": True},
        {"hypervisor.policy": "exit_to_user", "vmm.sea_exit": "inject", "vmm.unmap": False},
        {"hypervisor.policy": "exit_to_user", "vmm.sea_exit": "inject_cper", "vmm.unmap": True},
    ]
    for point, assignment in zip(experiment.points, assignments, strict=True):
        assert point.scenario.hypervisor.policy == assignment["hypervisor.policy"]
        assert point.scenario.vmm.sea_exit == assignment["vmm.sea_exit"]
        assert point.scenario.vmm.unmap is assignment["vmm.unmap"]
        assert point.scenario.duration == 2 * 86_400 * 10**9  # [base]
        assert point.scenario.firmware.first is False  # the preset
    runs = experiment.runs
    assert [r.run_id for r in runs] == list(range(8))
    assert [(r.point.point_id, r.replication) for r in runs[:3]] == [(0, 0), (0, 1), (1, 0)]
    assert len({r.seed for r in runs}) == 8 and len({r.fingerprint for r in runs}) == 8


def test_seeds_depend_on_the_point_not_on_its_place(tmp_path: Path, tiny: Path) -> None:
    """Reordering values and adding a point renumbers points but changes no run."""
    before = {(r.point.identity, r.replication): r for r in load_experiment(tiny).runs}
    grown = (
        tiny.read_text()
        .replace('["serror_fallback", "exit_to_user"]', '["exit_to_user", "serror_fallback"]')
        .replace('[["inject", false],', '[["unhandled", false], ["inject", false],')
    )
    after = load_experiment(_write(tmp_path, grown))
    assert len(after.points) == 6
    matched = 0
    for run in after.runs:
        old = before.get((run.point.identity, run.replication))
        if old is not None:
            matched += 1
            assert (run.seed, run.fingerprint) == (old.seed, old.fingerprint)
    assert matched == 8
    assert after.points[0].point_id == 0 and after.points[0].identity not in {
        identity for identity, _ in before
    }
    assert load_experiment(tiny, seed=8).runs[0].seed.startswith("8:")


def test_overrides_replications_and_none(tmp_path: Path) -> None:
    text = HEAD + '[[factors]]\nkey = "vmm.restart_after"\nvalues = [1, 4, "none"]\n'
    experiment = load_experiment(
        _write(tmp_path, text), ["duration=1d", "fleet.hosts=3"], replications=3
    )
    assert [p.scenario.vmm.restart_after for p in experiment.points] == [1, 4, None]
    assert experiment.base.fleet.hosts == 3 and experiment.base.duration == 86_400 * 10**9
    assert len(experiment.runs) == 9


def test_a_table_key_changes_one_entry_and_keeps_the_rest(tmp_path: Path) -> None:
    text = (
        HEAD
        + '[base]\n"memory.access.guest_anon.p_kernel" = 0.5\n'
        + '[[factors]]\nkey = "guest.memory_map.guest_kernel"\nvalues = [0.1, 0.2]\n'
    )
    experiment = load_experiment(_write(tmp_path, text))
    guest_map = experiment.points[1].scenario.guest.memory_map
    assert guest_map["guest_kernel"] == 0.2 and guest_map["guest_anon"] == 0.44
    access = experiment.base.memory.access["guest_anon"]
    assert access.p_kernel == 0.5 and access.access_rate == 6.0


def test_scenario_path_is_relative_to_the_experiment(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    _write(tmp_path / "sub", "[vmm]\nrestart_after = 3\n", "base.toml")
    text = '[experiment]\nname = "e"\nscenario = "base.toml"\n'
    experiment = load_experiment(_write(tmp_path / "sub", text))
    assert experiment.base.vmm.restart_after == 3
    assert len(experiment.points) == 1 and experiment.points[0].assignment == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            HEAD.replace('name = "e"', 'name = "e"\nreplication = 3'),
            "exp.toml: experiment.replication: unknown key (did you mean 'replications'?)",
        ),
        (
            HEAD + '[[factors]]\nkey = "vmm.unmap"\nvalues = [true]\n[[factors]]\nkey = "x"\n'
            "value = [1]\n",
            "exp.toml: factors.1.value: unknown key (did you mean 'values'?)",
        ),
        (HEAD + "[surprise]\n", "exp.toml: surprise: unknown key"),
        (
            HEAD + '[base]\nhypervisor.polcy = "exit_to_user"\n',
            "exp.toml: [base]: hypervisor.polcy: unknown key (did you mean 'policy'?)",
        ),
        (
            HEAD + '[[factors]]\nkey = "hypervisor.policy"\n'
            'values = ["serror_fallback", "exit_to_usr"]\n',
            "exp.toml: point 1 (hypervisor.policy=exit_to_usr): hypervisor.policy: Input should "
            "be 'serror_fallback' or 'exit_to_user', got 'exit_to_usr'",
        ),
        (
            HEAD + '[[factors]]\nkey = "vmm.unmap"\nvalues = [true]\n[[factors]]\n'
            'key = "hypervisor.polcy"\nvalues = ["exit_to_user"]\n',
            "exp.toml: point 0 (vmm.unmap=true, hypervisor.polcy=exit_to_user): "
            "hypervisor.polcy: unknown key (did you mean 'policy'?)",
        ),
        (
            HEAD + '[[factors]]\nkeys = ["vmm.sea_exit", "vmm.unmap"]\n'
            'values = [["inject", true], ["inject_cper", true, 3]]\n',
            "exp.toml: factors.0: values.1 must be a list of 2 values, one per key "
            "(vmm.sea_exit, vmm.unmap); got 3 items",
        ),
        (
            HEAD + '[[factors]]\nkeys = ["vmm.sea_exit", "vmm.unmap"]\nvalues = ["inject"]\n',
            "exp.toml: factors.0: values.0 must be a list of 2 values",
        ),
        (
            HEAD + '[[factors]]\nkey = "vmm.unmap"\nkeys = ["vmm.unmap"]\nvalues = [[true]]\n',
            "exp.toml: factors.0: give either key",
        ),
        (
            HEAD + '[[factors]]\nkey = "vmm.restart_after"\nvalues = [1, 2, 1]\n',
            "exp.toml: factors.0: values.2 repeats an earlier value: 1",
        ),
        (
            HEAD + '[[factors]]\nkey = "vmm.unmap"\nvalues = []\n',
            "exp.toml: factors.0.values: Tuple should have at least 1 item",
        ),
        (
            HEAD + '[[factors]]\nkey = "vmm"\nvalues = [{unmap = true}]\n'
            '[[factors]]\nkey = "vmm.unmap"\nvalues = [false]\n',
            "exp.toml: factors.1: vmm.unmap is already varied by factors.0 (vmm)",
        ),
        (
            HEAD + '[base]\nvmm.unmap = true\n[[factors]]\nkey = "vmm.unmap"\nvalues = [false]\n',
            "exp.toml: vmm.unmap is set in [base] or by --set, but factors.0 varies vmm.unmap",
        ),
        (
            HEAD.replace('name = "e"', 'name = "e"\nmetrics = ["goodputt"]'),
            "exp.toml: experiment.metrics: unknown metric 'goodputt' (did you mean 'goodput'?)",
        ),
        (
            HEAD.replace('name = "e"', 'name = "e"\nkeep = ["hops"]'),
            "exp.toml: experiment.keep.0: Input should be 'errors', 'vms', 'ues' or 'faults'",
        ),
        (
            HEAD.replace('name = "e"', 'name = "../e"'),
            "exp.toml: experiment.name: String should match pattern",
        ),
        ('[experiment]\ndescription = "x"\n', "experiment.name: required key is missing"),
        (HEAD.replace("sea-to-user", "sea-to-usr"), "unknown preset 'sea-to-usr'"),
        (HEAD + "[base\n", "exp.toml: not valid TOML"),
    ],
)
def test_bad_files_name_the_key(tmp_path: Path, text: str, message: str) -> None:
    assert message in _error(tmp_path, text)


def test_set_may_not_fix_a_varied_key(tiny: Path) -> None:
    with pytest.raises(ConfigError, match=r"vmm.unmap is set in \[base\] or by --set"):
        load_experiment(tiny, ["vmm.unmap=true"])


def test_cli_errors_exit_2_in_one_line(
    tmp_path: Path, tiny: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sweep", str(tmp_path / "missing.toml")]) == 2
    assert capsys.readouterr().err == f"rassim: error: {tmp_path / 'missing.toml'}: no such file\n"
    assert main(["sweep", str(tiny), "--scheduler", "tcp://x:1", "--workers", "2"]) == 2
    assert "--workers sets the local pool" in capsys.readouterr().err
    assert main(["sweep", str(tiny), "--scheduler", "nonsense", "--out", str(tmp_path / "o")]) == 2
    assert not (tmp_path / "o").exists()
    assert "expected an address like tcp://HOST:8786" in capsys.readouterr().err
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["sweep", str(tiny), "--out", str(blocker), "-q"]) == 2
    assert "exists and is not a directory" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        main(["sweep", str(tiny), "--workers", "0"])
    assert info.value.code == 2


def test_dry_run_lists_points(tiny: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sweep", str(tiny), "--dry-run", "-r", "3"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("tiny: 4 point(s) x 3 = 12 runs\n")
    assert "hypervisor_policy" in out and "inject_cper" in out


def test_column_names_are_snake_case() -> None:
    assert column_name("hypervisor.policy") == "hypervisor_policy"
    assert column_name("memory.access.guest_kernel.p_kernel") == (
        "memory_access_guest_kernel_p_kernel"
    )
    assert column_name("cpu.serror_aet.UER") == "cpu_serror_aet_uer"


SWEEPS = [p for p in sorted(EXPERIMENTS.glob("*.toml")) if "\n[sensitivity" not in p.read_text()]


@pytest.mark.parametrize("path", SWEEPS, ids=lambda p: p.stem)
def test_canonical_experiments_parse_and_expand(path: Path) -> None:
    experiment = load_experiment(path)
    assert experiment.name == path.stem
    assert experiment.header.description
    assert len(experiment.points) >= 2 and experiment.replications >= 2
    assert f"## {path.stem}" in (EXPERIMENTS / "README.md").read_text()
