"""Experiments: factor grids over a base scenario, run in parallel and resumably.

:mod:`~rassim.sweep.experiment_file` reads an experiment file, :mod:`~rassim.sweep.experiment`
expands it into points and runs, :mod:`~rassim.sweep.execute` runs them on a local pool or a
Dask cluster, :mod:`~rassim.sweep.store` keeps finished runs, :mod:`~rassim.sweep.tables`
writes the tidy tables.
"""
