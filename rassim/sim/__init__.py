"""The domain-free simulation kernel: units, distributions, random streams and draws,
cancellable events, timed channels with hop records, result columns.

Import the modules themselves (``from rassim.sim.units import parse_duration``): this
package imports nothing, so reading units or distributions never loads SimPy.
"""
