"""rassim: a discrete-event simulator of ARM64 RAS error propagation in virtualized servers.

``rassim.simulate(scenario, seed=...)`` runs one scenario; ``rassim.Scenario`` describes
one. Both are imported on first use, so the command line starts quickly.
"""

from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING, Any

try:
    __version__ = version("rassim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

if TYPE_CHECKING:
    from rassim.run import RunResult, simulate
    from rassim.scenario import Scenario

_LAZY = {"RunResult": "rassim.run", "simulate": "rassim.run", "Scenario": "rassim.scenario"}

__all__ = ["RunResult", "Scenario", "__version__", "simulate"]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rassim' has no attribute {name!r}")
