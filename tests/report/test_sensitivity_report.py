"""The report of a `rassim sensitivity` directory: its four figures, the verdict and the
parameters with their reasons, alone or beside sweeps; built from a study whose metric
is an analytic function of two shares and the arm (no simulator), so it runs in a
second."""

import math
import shutil
from pathlib import Path

import pytest

from rassim.report import build_report, load
from rassim.report.sensitivity import (
    screening,
    sobol_bars,
    study_verdict,
    verdict_regions,
    verdict_shares,
)
from rassim.scenario import Scenario
from rassim.sensitivity.design import load_study
from rassim.sensitivity.execute import sensitivity

STUDY = """\
[experiment]
name = "toy-study"
description = "an analytic stand-in for the simulator"
seed = 4
metrics = ["gain", "cost"]

[sensitivity]
better = { gain = "higher", cost = "lower" }
resamples = 200

[sensitivity.arms]
key = "hypervisor.policy"
values = ["serror_fallback", "exit_to_user"]

[sensitivity.morris]
trajectories = 4

[sensitivity.sobol]
samples = 16
top = 2

[[uncertain]]
key = "firmware.p_record"
distribution = "uniform"
low = 0.5
high = 1.0
reason = "how often APEI can claim"

[[uncertain]]
key = "guest.reboot_time"
distribution = "loguniform"
low = "20s"
high = "5min"
reason = "boot times"

[[uncertain]]
key = "guest.memory"
distribution = "discrete"
values = ["32GiB", "112GiB"]
reason = "VM sizes"
"""


def toy(scenario: Scenario, seed, keep) -> tuple[dict[str, float], dict]:
    """Exit-to-user gains where APEI often cannot claim, and loses above p_record 0.9."""
    candidate = scenario.hypervisor.policy == "exit_to_user"
    p = scenario.firmware.p_record
    gain = (0.9 - p) * candidate
    cost = math.log(scenario.guest.reboot_time) * (1.5 - candidate)
    return {"gain": gain, "cost": cost}, {}


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("study")
    (directory / "toy.toml").write_text(STUDY)
    study = load_study(directory / "toy.toml", known_metrics=("gain", "cost"))
    out = directory / "toy-study"
    assert sensitivity(study, out, progress=False, evaluate=toy).complete
    return out


def test_study_report_has_its_figures_verdict_and_reasons(study_dir: Path, tmp_path: Path) -> None:
    page = build_report(study_dir, tmp_path / "report")
    names = {p.name for p in page.parent.iterdir() if p.suffix == ".png"}
    assert names == {"screening.png", "sobol.png", "verdict.png", "regions.png"}
    text = page.read_text()
    assert "The verdict (95% exact intervals of the shares)" in text
    assert "exit_to_user better" in text and "how often APEI can claim" in text
    assert "Which assumptions matter" in text and "Where the verdict flips" in text
    assert "Every metric with its 95% confidence interval" not in text  # no sweep table here


def test_study_tables_read_back(study_dir: Path) -> None:
    study = load(study_dir)
    assert study.kind == "sensitivity" and (study.a, study.b) == ("serror_fallback", "exit_to_user")
    assert study.shown_metrics == ["gain", "cost"]
    verdict = study.verdict.set_index("metric")
    assert verdict.loc["cost", "share_b_wins"] == 1.0  # lower cost in every sample
    gain = verdict.loc["gain"]
    assert 0 < gain["share_b_wins"] < 1 and gain["share_b_loses"] > 0  # flips at p_record 0.9


def test_a_study_beside_a_sweep_gets_its_own_section(
    study_dir: Path, results_tree: Path, tmp_path: Path
) -> None:
    tree = tmp_path / "results"
    shutil.copytree(study_dir, tree / study_dir.name)
    shutil.copytree(results_tree / "page-size", tree / "page-size")
    build_report(tree, tmp_path / "report")  # tests/report/test_report_imports.py: no simulator
    page = tmp_path / "report" / "report.html"
    assert (page.parent / "toy-study" / "verdict.png").is_file()
    assert (page.parent / "page-size" / "memory_lost_by_page_size.png").is_file()
    text = page.read_text()
    assert "id='toy-study'" in text and "id='page-size'" in text


COMMITTED = Path(__file__).resolve().parents[2] / "results" / "assumptions"


@pytest.mark.parametrize(
    "draw", [screening, sobol_bars, verdict_shares, verdict_regions], ids=lambda f: f.__name__
)
def test_the_committed_study_figures_fit_their_canvas(draw) -> None:
    """The committed study's long assumption names and nine panels: nothing drawn past
    the figure's edge, where the PNG would cut it."""
    figure = draw(load(COMMITTED))
    figure.canvas.draw()
    box = figure.get_tightbbox(figure.canvas.get_renderer())  # inches, like the size
    width, height = figure.get_size_inches()
    assert box.x0 >= 0 and box.y0 >= 0, box
    assert box.x1 <= width and box.y1 <= height, (box, width, height)


def test_the_report_opens_with_the_study_verdict(study_dir: Path) -> None:
    """Lower cost in every sample; the gain flips at p_record 0.9, which alone explains
    most of its variance (the toy's gain depends on nothing else)."""
    verdict = study_verdict(load(study_dir))
    cost, gain = (next(f for f in verdict.findings if f" on {m} " in f) for m in ("cost", "gain"))
    assert "in 100% [" in cost and "does worse in 0% [" in cost
    assert "firmware.p_record alone explains" in gain
    assert "reboot_time" not in gain  # the toy's gain never reads it
