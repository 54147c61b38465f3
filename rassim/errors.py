"""The errors user-facing entry points raise, in a module with no heavy imports.

:mod:`rassim.config` re-exports :class:`ConfigError`, so ``rassim.config.ConfigError``
is the same class; living here lets :mod:`rassim.report` raise it without importing the
scenario, the simulation kernel or SimPy.
"""


class ConfigError(ValueError):
    """Input that cannot be used (a scenario, an experiment, a results directory), with a
    one-line message for the user."""


class RunFailed(RuntimeError):
    """A run that could not finish for a reason outside its input (a group of hosts
    failed twice on a cluster), with a one-line message naming what failed."""
