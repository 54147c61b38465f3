"""``build_report``: figures (PNG and SVG) and one self-contained ``report.html``.

The report is written into a hidden sibling of the output directory and renamed into
place when complete (:func:`rassim.results.outdir.replaced_output`), so an interrupted
report never leaves a half-written one behind.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

from matplotlib.figure import Figure
from tqdm import tqdm

from rassim.report import replay, sensitivity
from rassim.report.catalog import plan
from rassim.report.html import Section, Shown, render
from rassim.report.results import Results, Study, discover
from rassim.report.series import Unavailable, policy_rank
from rassim.report.tables import means_table
from rassim.report.verdict import Verdict, arms_verdict, verdict
from rassim.results.comparison import count
from rassim.results.outdir import (
    META,
    meta_fields,
    read_meta,
    replaced_output,
    slug,
    written_by,
)

REPORT = "report.html"


def build_report(
    results_dir: str | Path,
    out_dir: str | Path | None = None,
    argv: list[str] | None = None,
    progress: bool = False,
) -> Path:
    """Draw every figure the results in ``results_dir`` allow and write the report.

    ``results_dir`` is a sweep directory, a ``rassim run`` directory, a sensitivity
    study, or a directory of them (one section each). ``out_dir`` defaults to
    ``results_dir/report``; an existing one is replaced only if it holds an earlier
    report (:mod:`rassim.results.outdir`). With ``progress``, the results drawn are
    shown on stderr if it is a terminal. Returns the path of ``report.html``.
    """
    results_dir = Path(results_dir)
    out = Path(out_dir) if out_dir is not None else results_dir / "report"
    found = discover(results_dir, skip=out)
    replayed = replay.replay_meta(results_dir)
    with (
        replaced_output(out, "report", _earlier_report) as stage,
        tqdm(
            total=len(found),
            desc="report",
            unit="result",
            file=sys.stderr,
            disable=None if progress else True,  # None: only on a terminal
            leave=False,
        ) as bar,
    ):
        if replayed is not None:  # rassim replay --out: the log, then the arms side by side
            sections = _replay_sections(results_dir, replayed, found, stage)
            bar.update(len(found))
            title = f"rassim replay report: {results_dir.resolve().name}"
        else:
            sections = _sections(results_dir, found, stage, bar.update)
            title = (
                f"rassim report: {found[0].name}"
                if len(found) == 1
                else f"rassim report: {results_dir.resolve().name} ({len(found)} experiments)"
            )
        (stage / REPORT).write_text(render(title, sections, str(results_dir)), encoding="utf-8")
        meta = {**meta_fields("report", argv or []), "results": str(results_dir)}
        (stage / META).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return out / REPORT


def _sections(
    results_dir: Path, found: list[Results | Study], stage: Path, done: Callable[[], object]
) -> list[Section]:
    """One section per results directory found (``done()`` after each); a ``rassim
    compare --out`` directory's verdict is the paired difference of its arms."""
    sections = []
    for results in found:
        folder = stage if len(found) == 1 else stage / slug(results.path.name)
        sections.append(_section(results, folder, stage, single=len(found) == 1))
        done()
    arms = _compared_arms(results_dir, found)
    if arms is not None:
        first, second = arms
        baseline, candidate = found[first], found[second]
        assert isinstance(baseline, Results) and isinstance(candidate, Results)  # two runs
        verdict = arms_verdict(baseline, candidate, paired=True)
        sections[first].verdict, sections[second].verdict = verdict, Verdict()
    return sections


def _compared_arms(results_dir: Path, found: list[Results | Study]) -> tuple[int, int] | None:
    """The two arms of a ``rassim compare --out`` directory, in the order compared."""
    meta = read_meta(results_dir)
    if meta is None or not written_by(meta, "compare") or len(found) != 2:
        return None
    if any(results.kind != "run" for results in found):
        return None
    argv = [str(arg) for arg in meta.get("argv") or []]
    names = [results.path.name for results in found]
    at = argv.index("--values") + 1 if "--values" in argv else len(argv)
    values = [slug(value) for value in argv[at : at + 2]]
    if sorted(values) == sorted(names):
        return names.index(values[0]), names.index(values[1])
    first, second = sorted(range(2), key=lambda i: policy_rank(names[i]))
    return first, second


def _replay_sections(
    results_dir: Path, meta: dict, found: list[Results | Study], stage: Path
) -> list[Section]:
    """A replay directory's sections: the fleet's log with the verdict about its errors,
    then every arm side by side (the figures of any sweep, one point per arm) with each
    arm's paired difference from the baseline."""
    arms = replay.arms(meta, [r for r in found if isinstance(r, Results)])  # runs only
    log, figures = replay.log_section(results_dir, meta, arms)
    folder = stage / log.anchor
    folder.mkdir()
    log.figures += [_save(f.figure, folder, stage, f.name, f.title, f.caption) for f in figures]
    combined = replay.side_by_side(results_dir, meta, arms)
    section = _section(combined, stage / "arms", stage, single=False)
    section.anchor = "arms"
    section.verdict = replay.against_baseline(arms)
    section.facts = replay.arm_facts(meta, section.facts)
    return [log, section]


def _save(figure: Figure, folder: Path, stage: Path, name: str, title: str, caption: str) -> Shown:
    """``figure`` as ``folder/NAME.png`` and ``.svg``, for the page."""
    png, svg = folder / f"{name}.png", folder / f"{name}.svg"
    figure.savefig(png, dpi=150)
    figure.set_layout_engine("none")  # keep the layout just computed: a third faster
    figure.savefig(svg, metadata={"Date": None})
    return Shown(title, caption, png, tuple(str(f.relative_to(stage)) for f in (png, svg)))


def _earlier_report(directory: Path, meta: dict | None) -> bool:
    """A report of this version (meta.json), or an older one: report.html and figures only."""
    if meta is not None or not (directory / REPORT).is_file():
        return written_by(meta, "report")
    files = (path for path in directory.rglob("*") if not path.is_dir())
    return all(path.suffix in {".html", ".png", ".svg"} for path in files)


def _section(results: Results | Study, folder: Path, stage: Path, single: bool) -> Section:
    folder.mkdir(parents=True, exist_ok=True)
    anchor = slug(results.path.name if not single else results.name)
    if isinstance(results, Study):
        section = sensitivity.section(results, anchor)
    else:
        section = Section(
            verdict=verdict(results),
            name=results.name,
            anchor=anchor,
            kind=results.kind,
            description=results.description,
            path=str(results.path),
            facts=_facts(results),
            accelerations=results.accelerations,
            table=means_table(results),
            parameters=results.parameters,
        )
    for planned in plan(results):
        try:
            figure = planned.draw(results)
        except Unavailable as why:
            section.skipped.append((planned.title, str(why)))
            continue
        section.figures.append(
            _save(figure, folder, stage, planned.name, planned.title, planned.caption)
        )
    return section


def _facts(results: Results) -> dict[str, str]:
    meta = results.meta
    facts = {"kind": "sweep" if results.kind == "sweep" else "single `rassim run`"}
    if results.kind == "sweep":
        facts["points"] = str(len(results.aggregate))
    facts["replications"] = str(results.replications)
    if "runs_ok" in results.aggregate.columns:
        facts["runs ok"] = count(results.aggregate["runs_ok"].sum())
        failed = results.aggregate.get("runs_failed")
        if failed is not None and failed.sum():
            facts["runs failed"] = count(failed.sum())
    for key in ("seed", "version", "git_revision", "created_utc"):
        if meta.get(key) is not None:
            value = str(meta[key])
            facts[key.replace("_", " ")] = value[:12] if key == "git_revision" else value
    return facts
