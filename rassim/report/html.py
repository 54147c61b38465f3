"""One self-contained HTML page: figures inlined as base64 PNG, no external files or URLs."""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from rassim import __version__
from rassim.report.verdict import Verdict

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #222; line-height: 1.45; padding: 0 1rem; }
h1 { margin-bottom: 0.2rem; } h2 { border-bottom: 2px solid #ddd; padding-bottom: 0.2rem;
margin-top: 2.5rem; } h3 { margin-top: 1.8rem; }
.muted { color: #666; font-size: 0.9rem; }
.note { background: #fff4d6; border-left: 5px solid #e0a800; padding: 0.6rem 0.9rem;
        margin: 1rem 0; }
figure { margin: 1.2rem 0; } figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9rem; color: #444; }
table { border-collapse: collapse; font-size: 0.82rem; margin: 0.6rem 0; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
td { white-space: nowrap; } table.text td { white-space: normal; }
table.text td, table.text th { text-align: left; }
.scroll { overflow-x: auto; }
.scroll td:first-child { position: sticky; left: 0; background: #fff; }
.scroll th:first-child { position: sticky; left: 0; }
pre { background: #f7f7f7; padding: 0.7rem; overflow-x: auto; font-size: 0.8rem; }
details.skipped { font-size: 0.9rem; color: #555; margin: 1rem 0; }
ul.verdict li { margin: 0.35rem 0; } ul.why li { margin: 0.35rem 0; font-size: 0.92rem; }
"""


@dataclass
class Shown:
    """A figure as it goes into the page."""

    title: str
    caption: str
    png: Path  # read and inlined
    files: tuple[str, ...]  # where the PNG and SVG are, relative to the page


@dataclass
class Section:
    """What the page says about one results directory."""

    name: str
    anchor: str
    kind: str
    description: str
    path: str
    facts: dict[str, str]
    accelerations: list[float]
    table: pd.DataFrame
    parameters: dict[str, str]
    verdict: Verdict = field(default_factory=Verdict)
    table_title: str = "Every metric with its 95% confidence interval"
    figures: list[Shown] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)  # of text, titled


def acceleration_note(accelerations: list[float]) -> str:
    """The warning a reader must see when rates were scaled up to get enough events."""
    factors = [a for a in accelerations if a != 1]
    if not factors:
        return ""
    shown = ", ".join(f"x{a:g}" for a in factors)
    return (
        f"<p class='note'><strong>Accelerated rates ({shown}).</strong> "
        "memory.acceleration multiplies every fault and UE rate, so these runs saw that many "
        "times more errors than the hardware would in the same time. Rates per VM-, host- or "
        "TiB-year are divided by it (field-scaled: they read as field numbers); goodput, "
        "availability and per-run totals are not, and scale with it. Per-UE shares "
        "(recovery rate) do not depend on it.</p>"
    )


def render(title: str, sections: list[Section], source: str) -> str:
    escape = html.escape
    parts = [
        "<!DOCTYPE html>",
        "<html lang='en'><head><meta charset='utf-8'>",
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(title)}</h1>",
        f"<p class='muted'>rassim {escape(__version__)} report of <code>{escape(source)}</code>."
        " Ratio metrics are pooled over every host of every replication; intervals are 95% "
        "and stay inside each metric's domain (shares in [0, 1], rates at or above 0; "
        "docs/metrics.md); n/a where none can be given.</p>",
    ]
    parts += _verdicts(sections)
    if len(sections) > 1:
        parts.append("<p>Experiments:</p><ul>")
        for section in sections:
            parts.append(
                f"<li><a href='#{section.anchor}'>{escape(section.name)}</a>: "
                f"{escape(section.description)}</li>"
            )
        parts.append("</ul>")
        parts.append(acceleration_note(sorted({a for s in sections for a in s.accelerations})))
    for section in sections:
        parts.extend(_section(section))
    parts.append("</body></html>")
    return "\n".join(p for p in parts if p)


def _verdicts(sections: list[Section]) -> list[str]:
    """The first section of the page: what each experiment says, in plain words."""
    escape = html.escape
    said = [s for s in sections if s.verdict.findings or s.verdict.why or s.verdict.notes]
    if not said:
        return []
    out = ["<h2 id='verdict'>Verdict</h2>"]
    out.append(
        "<p class='muted'>Per-UE recovery and field-scaled rates, with 95% intervals; "
        "differences are the second policy (or strategy) minus the first. Definitions: "
        "docs/metrics.md.</p>"
    )
    for section in said:
        verdict = section.verdict
        if verdict.title:
            out.append(f"<h3>{escape(verdict.title)}</h3>")
        elif len(sections) > 1:
            out.append(f"<h3><a href='#{escape(section.anchor)}'>{escape(section.name)}</a></h3>")
        out.append(acceleration_note(section.accelerations) if len(sections) == 1 else "")
        if verdict.findings:
            out.append("<ul class='verdict'>")
            out += [f"<li>{escape(text)}</li>" for text in verdict.findings]
            out.append("</ul>")
        if verdict.why:
            out.append(
                "<p><strong>Where event-weighted survival and the recovery rate disagree, and "
                "why.</strong></p><ul class='why'>"
            )
            out += [f"<li>{escape(text)}</li>" for text in verdict.why]
            out.append("</ul>")
        out += [f"<p class='muted'>{escape(note)}</p>" for note in verdict.notes]
    return out


def _section(section: Section) -> list[str]:
    escape = html.escape
    out = [
        f"<h2 id='{escape(section.anchor)}'>{escape(section.name)}</h2>",
        f"<p>{escape(section.description)}</p>" if section.description else "",
        acceleration_note(section.accelerations),
        "<p class='muted'>"
        + "; ".join(f"{escape(k)}: {escape(v)}" for k, v in section.facts.items())
        + "</p>",
    ]
    if section.verdict.table is not None:
        caption = section.verdict.table.attrs.get("caption", "")
        out.append(f"<h3>Differences</h3><p class='muted'>{escape(caption)}</p>")
        table = section.verdict.table.to_html(index=False, border=0)
        out.append(f"<div class='scroll'>{table}</div>")
    for shown in section.figures:
        data = base64.b64encode(shown.png.read_bytes()).decode("ascii")
        out += [
            f"<figure id='{escape(section.anchor)}-{escape(shown.png.stem)}'>",
            f"<h3>{escape(shown.title)}</h3>",
            f"<img alt='{escape(shown.title)}' src='data:image/png;base64,{data}'>",
            f"<figcaption>{escape(shown.caption)} <span class='muted'>(files: "
            f"{escape(', '.join(shown.files))})</span></figcaption>",
            "</figure>",
        ]
    if section.skipped:
        names = ", ".join(t for t, _ in section.skipped)
        out.append(
            f"<details class='skipped'><summary>Not drawn for this directory: {escape(names)} "
            "(why)</summary><ul>"
        )
        out += [f"<li>{escape(t)}: {escape(why)}</li>" for t, why in section.skipped]
        out.append("</ul></details>")
    for title, table, kind in [
        (section.table_title, section.table, None),
        *((title, table, "text") for title, table in section.tables),
    ]:
        out.append(f"<h3>{escape(title)}</h3>")
        out.append(
            "<div class='scroll'>" + table.to_html(index=False, border=0, classes=kind) + "</div>"
        )
    if section.parameters:
        out.append("<h3>Parameters</h3>")
        for index, (name, text) in enumerate(section.parameters.items()):
            opened = " open" if index == 0 and name != "base_scenario.toml" else ""
            out.append(
                f"<details{opened}><summary><code>{escape(name)}</code></summary>"
                f"<pre>{escape(text)}</pre></details>"
            )
    return out
