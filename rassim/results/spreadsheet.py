"""CSV copies of result tables, for people who open results in a spreadsheet.

Parquet stays the format rassim reads back (``trace``, ``report``, resuming sweeps); with
``--format csv`` each table is also written as ``NAME.csv`` beside ``NAME.parquet``: a
header row, one row per table row, empty cells for missing values, read from the Parquet
file a record batch at a time so that a large table never sits in memory twice.
"""

from __future__ import annotations

from pathlib import Path

FORMATS = ("parquet", "csv")


def csv_beside(parquet: Path, target: Path | None = None) -> Path:
    """Write the table in ``parquet`` as CSV to ``target`` (default: ``NAME.csv`` beside
    it) and return its path."""
    import pyarrow.csv as arrow_csv
    import pyarrow.parquet as arrow_parquet

    target = target if target is not None else parquet.with_suffix(".csv")
    source = arrow_parquet.ParquetFile(parquet)
    with arrow_csv.CSVWriter(target, source.schema_arrow) as writer:
        for batch in source.iter_batches():
            writer.write_batch(batch)
    return target
