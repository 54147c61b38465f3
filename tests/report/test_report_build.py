"""build_report: the expected figures for a sweep, a run and a tree of them, and an HTML
page that stands alone, shows every figure and warns about accelerated rates."""

import base64
import re
from html.parser import HTMLParser
from pathlib import Path

from rassim.report import build_report

SUFFIXES = (".png", ".svg")


def figure_files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.suffix in SUFFIXES}


def expected(*names: str) -> set[str]:
    return {f"{name}{suffix}" for name in names for suffix in SUFFIXES}


class Links(HTMLParser):
    """Every src and href in a page."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.links += [(tag, name, value or "") for name, value in attrs if name in ("src", "href")]


def test_sweep_directory_gets_its_figures_flat(results_tree, tmp_path):
    page = build_report(results_tree / "page-size", tmp_path / "out")
    assert page == tmp_path / "out" / "report.html"
    assert figure_files(page.parent) == expected("memory_lost_by_page_size")
    assert "experiment.toml" in page.read_text()  # the experiment's parameters shown


def test_skipped_figures_are_listed_with_the_reason(tree_report):
    text = tree_report.read_text()
    section = text[text.index("id='kernel-share'") : text.index("id='page-size'")]
    assert "Not drawn for this directory: Recovery and interruptions vs UE rate, Blast" in section
    assert "needs a sweep over memory.ue_rate (this directory has only 0.001/GiB/h)" in section
    assert "needs errors.parquet" in section


def test_run_directory_gets_timeline_latency_blast_radius_and_downtime(run_report):
    page, _ = run_report
    assert figure_files(page.parent) == expected(
        "timeline", "latency_cdf", "blast_radius", "downtime"
    )
    text = page.read_text()
    assert "scenario.toml" in text and "[hypervisor]" in text  # the parameters shown


def test_tree_gets_one_section_per_directory(results_tree, tree_report):
    out = tree_report.parent
    text = tree_report.read_text()
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(
        p.name for p in results_tree.iterdir() if p.is_dir()
    )
    assert figure_files(out / "ue-rate") == expected(
        "outcomes_vs_ue_rate",
        "recovery_vs_event_survival",
        "blast_radius",
        "latency_cdf",
        "downtime",
    )
    assert figure_files(out / "page-size") == expected("memory_lost_by_page_size")
    assert figure_files(out / "kernel-share") == expected(
        "recovery_vs_kernel_share", "recovery_vs_event_survival"
    )
    assert figure_files(out / "policy-comparison") >= expected("point_comparison", "blast_radius")
    assert figure_files(out / "trace-qemu-ras") >= expected("timeline")
    for name in ("policy-comparison", "ue-rate", "kernel-share", "page-size", "trace-qemu-ras"):
        assert f"id='{name}'" in text and f"href='#{name}'" in text
    # canonical experiments first, in the reading order
    assert text.index("id='policy-comparison'") < text.index("id='ue-rate'")
    assert text.index("id='ue-rate'") < text.index("id='page-size'")


def test_html_is_self_contained_and_embeds_every_figure(tree_report):
    text = tree_report.read_text()
    parser = Links()
    parser.feed(text)
    assert "script" not in parser.tags and "link" not in parser.tags
    for tag, name, value in parser.links:
        if name == "src":
            assert value.startswith("data:image/png;base64,"), (tag, value[:60])
        else:
            assert value.startswith("#"), (tag, value)
    pngs = sorted(tree_report.parent.rglob("*.png"))
    assert len(pngs) >= 12
    for png in pngs:
        assert base64.b64encode(png.read_bytes()).decode() in text, png
        assert png.with_suffix(".svg").read_text().lstrip().startswith("<?xml")
    assert text.count("<img ") == len(pngs)


def test_tables_of_means_with_confidence_intervals(tree_report):
    text = tree_report.read_text()
    assert "Every metric with its 95% confidence interval" in text
    assert "goodput (work done / work possible)" in text
    assert "recovery rate (share of consumed UEs)" in text
    assert "runs ok" in text
    for table in text.split("Every metric with its 95% confidence interval")[1:]:
        numbers = table[: table.index("</table>")]
        assert "e-0" not in numbers and "e+0" not in numbers  # never scientific


def test_the_page_opens_with_the_verdict(tree_report):
    text = tree_report.read_text()
    verdict = text[text.index("id='verdict'") : text.index("Experiments:")]
    assert text.index("id='verdict'") < text.index("<figure")
    assert "exit_to_user" in verdict and "compared with serror_fallback" in verdict
    assert "recovery rate by" in verdict and "VM interruptions per 1,000 VM-years" in verdict
    assert "[" in verdict  # every difference with its interval
    section = text[text.index("id='policy-comparison'") : text.index("id='ue-rate'")]
    assert "<h3>Differences</h3>" in section and "exit_to_user - serror_fallback" in section


def test_acceleration_note_only_when_rates_were_accelerated(
    accelerated_sweep, tree_report, tmp_path
):
    page = build_report(accelerated_sweep, tmp_path / "out")
    text = page.read_text()
    assert "Accelerated rates (x10)" in text
    assert "Accelerated rates" not in tree_report.read_text()


def test_rebuild_replaces_an_earlier_report(accelerated_sweep, tmp_path):
    out = tmp_path / "out"
    build_report(accelerated_sweep, out)
    (out / "stale.png").write_bytes(b"old")
    build_report(accelerated_sweep, out)
    assert not (out / "stale.png").exists()
    assert not list(tmp_path.glob(".out.*"))  # no stage left behind


def test_default_output_is_inside_the_results_directory(accelerated_sweep):
    page = build_report(accelerated_sweep)
    assert page == accelerated_sweep / "report" / "report.html"
    build_report(accelerated_sweep.parent)  # the report folder is not read as results


def test_counts_are_whole_numbers(run_report, tree_report):
    for page in (run_report[0], tree_report):
        text = page.read_text()
        assert re.search(r"runs ok: \d+;", text)
        assert not re.search(r"runs ok: \d+\.\d", text)
    assert "<td>2</td>" in tree_report.read_text()  # runs ok per point, not 2.0
