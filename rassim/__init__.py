"""rassim: a discrete-event simulator of ARM64 RAS error propagation in virtualized servers."""

from importlib.metadata import PackageNotFoundError, version

from rassim.run import RunResult, simulate
from rassim.scenario import Scenario

try:
    __version__ = version("rassim")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["RunResult", "Scenario", "__version__", "simulate"]
