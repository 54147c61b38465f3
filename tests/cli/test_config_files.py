"""Scenario files, presets and overrides: what loads, and the messages for what does not."""

from pathlib import Path

import pytest

from rassim.config import ConfigError, dump_scenario, load_scenario, read_toml, validate
from rassim.presets import PRESETS
from rassim.scenario import Scenario


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.toml"
    path.write_text(text)
    return path


def test_file_with_units_loads(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        'duration = "7d"\n[memory]\nue_rate = "2e-3/GiB/h"\n[firmware]\nlatency = "exp(80us)"\n'
        '[vmm]\nsea_exit = "inject_cper"\nrestart_after = 3\n',
    )
    scenario = load_scenario(path)
    assert scenario.duration == 7 * 86_400 * 10**9
    assert scenario.memory.ue_rate == pytest.approx(2e-3)
    assert scenario.firmware.latency.mean_ns == 80_000
    assert scenario.vmm.restart_after == 3


def test_file_starts_from_a_preset_and_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path, 'preset = "qemu-ras"\n[firmware]\np_record = 0.5\n')
    scenario = load_scenario(path, overrides=["guest.panic_on_oops=true"])
    assert scenario.firmware.first is True  # from the preset
    assert scenario.firmware.p_record == 0.5  # the file wins over the preset
    assert scenario.guest.panic_on_oops is True  # --set wins over both


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_resolves_and_round_trips(name: str, tmp_path: Path) -> None:
    scenario = load_scenario(preset=name)
    path = _write(tmp_path, dump_scenario(scenario))
    assert load_scenario(path) == scenario


def test_presets_differ_where_they_say() -> None:
    assert load_scenario(preset="legacy-serror").hypervisor.policy == "serror_fallback"
    assert load_scenario(preset="sea-to-user").hypervisor.policy == "exit_to_user"
    assert load_scenario(preset="no-feat-ras").platform.feat_ras is False
    assert load_scenario(preset="qemu-ras").firmware.p_record == 1.0


def test_resolved_default_round_trips(tmp_path: Path) -> None:
    path = _write(tmp_path, dump_scenario(Scenario()))
    assert load_scenario(path) == Scenario()


@pytest.mark.parametrize(
    ("text", "overrides", "message"),
    [
        (
            "[vmm]\nsea_exti = 'inject'\n",
            [],
            r"vmm\.sea_exti: unknown key \(did you mean 'sea_exit'\?\)",
        ),
        (
            "[hypervisr]\npolicy = 'x'\n",
            [],
            r"hypervisr: unknown key \(did you mean 'hypervisor'\?\)",
        ),
        ("duration = '5 parsecs'\n", [], r"duration: '5 parsecs' is not a duration"),
        ("[memory]\nue_rate = '-1/GiB/h'\n", [], r"memory\.ue_rate: .*'-1/GiB/h' is not a rate"),
        ("[memory]\nue_rate = 1e-4\n", [], r"memory\.ue_rate: 0\.0001 has no unit: .*'1e-4/GiB/h'"),
        ("duration = 30\n", [], r"duration: 30 has no unit: .*ns, us, .*'24h'"),
        (
            "[firmware]\np_record = 1.5\n",
            [],
            r"firmware\.p_record: must be less than or equal to 1",
        ),
        ("[hypervisor]\npolicy = 'sometimes'\n", [], r"hypervisor\.policy: .*'serror_fallback'"),
        ("[guest]\nbacking_page = '3KiB'\n", [], r"guest\.backing_page"),
        ("", ["fleet.hosts=0"], r"fleet\.hosts: must be greater than or equal to 1"),
        ("", ["novalue"], r"expected key=value"),
        ("[guest]\nmemory = '600GiB'\n", [], r"host_memory .* is smaller"),
    ],
)
def test_bad_values_name_the_key_and_the_problem(
    tmp_path: Path, text: str, overrides: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as error:
        load_scenario(_write(tmp_path, text), overrides=overrides)
    assert "Traceback" not in str(error.value)


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        read_toml(_write(tmp_path, "duration = \n"))
    with pytest.raises(ConfigError, match="no such file"):
        load_scenario(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="is a directory"):
        load_scenario(tmp_path)


def test_unknown_preset_suggests() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown preset 'qemu-rass' \(did you mean 'qemu-ras'\?\)"
    ):
        load_scenario(preset="qemu-rass")


def test_set_reads_toml_values_and_bare_strings() -> None:
    scenario = load_scenario(
        preset="sea-to-user",
        overrides=[
            "vmm.unmap=true",
            "fleet.vms_per_host=2",
            "duration=1h",
            "vmm.sea_exit=inject_cper",
        ],
    )
    assert scenario.vmm.unmap is True and scenario.fleet.vms_per_host == 2
    assert scenario.duration == 3_600 * 10**9 and scenario.vmm.sea_exit == "inject_cper"


def test_validate_reports_every_problem_at_once() -> None:
    with pytest.raises(ConfigError) as error:
        validate({"vmm": {"sea_exti": 1}, "cpu": {"p_sync": 2}}, "x.toml")
    lines = str(error.value).splitlines()
    assert len(lines) == 2 and all(line.startswith("x.toml: ") for line in lines)
