"""What code made a result: a fingerprint of rassim's own source, and the versions of the
libraries that decide a run's draws and tables besides it."""

from __future__ import annotations

import hashlib
import importlib.metadata
from functools import cache
from pathlib import Path

from rassim import __version__

RESULT_LIBRARIES = ("numpy", "simpy", "pandas", "pyarrow")  # draws, event order, tables


@cache
def code_fingerprint() -> str:
    """A hash of rassim's version and source: stored runs are reused only by the code that
    made them (a model change, even without a version bump, recomputes them)."""
    return hashlib.blake2b(f"{__version__}\0{_source()}".encode(), digest_size=16).hexdigest()


@cache
def _source() -> str:
    return source_fingerprint(Path(__file__).parent)


def source_fingerprint(package: Path) -> str:
    """A hash of every module of ``package``: its path and its bytes."""
    digest = hashlib.blake2b(digest_size=16)
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0")
        digest.update(path.read_bytes())
    return digest.hexdigest()


@cache
def code_identity() -> dict[str, str]:
    """What makes a run's tables besides its scenario and seed, as a worker compares it
    with the process that gathers the run: rassim's source, not its version (a checkout
    run without being installed reports 0.0.0+unknown, the same code installed on the
    workers its real version), and the versions of :data:`RESULT_LIBRARIES`."""
    identity = {"rassim": _source()[:12]}
    for name in RESULT_LIBRARIES:
        try:
            identity[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            identity[name] = "not installed"
    return identity
