"""Files rassim writes whole: a reader, or a run killed mid-write, sees the old file or the
new one, never half of one."""

from __future__ import annotations

import os
from pathlib import Path


def write_whole(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary sibling renamed over it (``rename(2)``
    is atomic within a directory); the temporary never outlives a failure."""
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        staged.write_text(text, encoding="utf-8")
        os.replace(staged, path)
    finally:
        staged.unlink(missing_ok=True)
