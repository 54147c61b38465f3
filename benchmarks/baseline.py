"""A baseline commit checked out beside the working tree, for side-by-side measurements.

``worktree(commit)`` gives a git worktree of ``commit`` in ``/tmp/baseline-<commit>``
(made on first use, detached, shared by every checkout of the repository), so that the
benchmark and the golden-scenario harness can import the old code through ``PYTHONPATH``
with this interpreter's dependencies.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT = "5a18884"  # the last commit before the layers became SimPy processes


def worktree(commit: str = DEFAULT) -> Path:
    """The checkout of ``commit`` (short or full hash), made if missing."""
    path = Path(f"/tmp/baseline-{commit}")
    if not (path / "rassim" / "__init__.py").is_file():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(path), commit],
            check=True,
            capture_output=True,
        )
    head = _git(path, "rev-parse", "HEAD")
    if head != _git(ROOT, "rev-parse", f"{commit}^{{commit}}"):
        raise RuntimeError(f"{path} is at {head[:12]}, not {commit}: remove it and retry")
    return path


def _git(where: Path, *args: str) -> str:
    done = subprocess.run(["git", "-C", str(where), *args], check=True, capture_output=True)
    return done.stdout.decode().strip()
