"""Global sensitivity analysis: which uncertain assumptions decide the answer.

:mod:`~rassim.sensitivity.parameters` reads the ``[[uncertain]]`` distributions of an
experiment file, :mod:`~rassim.sensitivity.design` loads the study and builds Morris and
Sobol designs as sweep points, :mod:`~rassim.sensitivity.execute` runs them
through the sweep machinery, :mod:`~rassim.sensitivity.indices` computes the indices and
:mod:`~rassim.sensitivity.verdict` how robustly one arm beats the other.
"""
