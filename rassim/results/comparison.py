"""Tables of metrics as ``rassim run`` and ``rassim compare`` print them."""

from __future__ import annotations

from typing import Any

from rassim.results.stats import mean_ci

TABLE_METRICS = (
    "recovery_rate",
    "first_consumption_survival",
    "vm_interruptions_per_1000_vm_years",
    "event_survival_rate",
    "goodput",
)


def format_table(columns: dict[str, list[dict[str, Any]]]) -> str:
    """Metrics (rows) by column: the mean over replications and its 95% CI when R > 1."""
    cells: dict[str, list[str]] = {}
    for metric in TABLE_METRICS:
        row = []
        for summaries in columns.values():
            if metric not in summaries[0]:
                row.append("n/a")
                continue
            mean, _, low, high = mean_ci([s[metric] for s in summaries])
            text = f"{mean:.4g}"
            if len(summaries) > 1 and low == low:  # CI defined
                text += f" [{low:.3g}, {high:.3g}]"
            row.append(text)
        cells[metric] = row
    widths = [max(len(name), *(len(cells[m][i]) for m in cells)) for i, name in enumerate(columns)]
    name_width = max(len(m) for m in TABLE_METRICS)
    lines = [
        f"{'per run (mean [95% CI])':<{name_width}}  "
        + "  ".join(f"{n:>{w}}" for n, w in zip(columns, widths, strict=True))
    ]
    for metric, row in cells.items():
        lines.append(
            f"{metric:<{name_width}}  "
            + "  ".join(f"{c:>{w}}" for c, w in zip(row, widths, strict=True))
        )
    return "\n".join(lines)
