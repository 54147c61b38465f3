"""The error every user-facing entry point raises, in a module with no heavy imports.

:mod:`rassim.config` re-exports it, so ``rassim.config.ConfigError`` is the same class;
living here lets :mod:`rassim.report` raise it without importing the scenario, the
simulation kernel or SimPy.
"""


class ConfigError(ValueError):
    """Input that cannot be used (a scenario, an experiment, a results directory), with a
    one-line message for the user."""
