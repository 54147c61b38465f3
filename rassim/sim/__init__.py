"""The domain-free simulation kernel: units, distributions, random streams, timed channels."""

from rassim.sim.channel import HOP_COLUMNS, Channel, HopLog, Message, Network
from rassim.sim.distributions import (
    Distribution,
    Empirical,
    Exponential,
    Fixed,
    LogNormal,
    Sampler,
    Uniform,
    parse_distribution,
)
from rassim.sim.streams import Streams, name_key
from rassim.sim.units import (
    GiB,
    KiB,
    MiB,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)

__all__ = [
    "HOP_COLUMNS",
    "Channel",
    "Distribution",
    "Empirical",
    "Exponential",
    "Fixed",
    "GiB",
    "HopLog",
    "KiB",
    "LogNormal",
    "Message",
    "MiB",
    "Network",
    "Sampler",
    "Streams",
    "Uniform",
    "format_duration",
    "format_size",
    "name_key",
    "parse_distribution",
    "parse_duration",
    "parse_size",
]
