import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rassim.sim.distributions import (
    Distribution,
    Empirical,
    Exponential,
    Fixed,
    LogNormal,
    Sum,
    Uniform,
    parse_distribution,
)

N = 200_000
Z = 4.0  # z-score bound: a correct sampler fails this about once in 16,000 runs


def _variance(d: Distribution) -> float:
    match d:
        case Fixed():
            return 0.0
        case Exponential(mean=m):
            return m * m
        case Uniform(low=a, high=b):
            return (b - a) ** 2 / 12
        case LogNormal(mean=m, sigma=s):
            return (math.exp(s * s) - 1) * m * m
        case Empirical(values=v):
            return float(np.var(v))
    raise AssertionError(d)


@pytest.mark.parametrize(
    "dist",
    [
        Fixed(50_000),
        Exponential(50_000),
        Uniform(10_000, 1_000_000),
        LogNormal(50_000, 0.5),
        Empirical((1_000, 2_000, 9_000)),
    ],
    ids=str,
)
def test_sample_mean_matches_known_mean(dist: Distribution) -> None:
    draws = dist.sample(np.random.default_rng(1), N)
    assert draws.dtype == np.int64 and (draws >= 0).all()
    tolerance = Z * math.sqrt(_variance(dist) / N) + 0.5  # +0.5 ns for rounding to integers
    assert abs(draws.mean() - dist.mean_ns) <= tolerance


def test_exponential_shape() -> None:
    """Exponential, not merely the right mean: P(X > mean) = 1/e."""
    draws = Exponential(1_000_000).sample(np.random.default_rng(2), N)
    p = math.exp(-1)
    assert abs((draws > 1_000_000).mean() - p) <= Z * math.sqrt(p * (1 - p) / N)


def test_sampler_yields_the_same_sequence_as_sample() -> None:
    dist = Exponential(1_000)
    sampler = dist.sampler(np.random.default_rng(3), block=16)
    one_by_one = [sampler() for _ in range(40)]
    rng = np.random.default_rng(3)
    blocks = np.concatenate([dist.sample(rng, 16) for _ in range(3)])
    assert one_by_one == blocks[:40].tolist()


@pytest.mark.parametrize(
    "text",
    ["50us", "exp(50us)", "uniform(10us, 1ms)", "lognormal(50us, 0.5)", "empirical(1us, 2us, 9us)"],
)
def test_text_round_trip(text: str) -> None:
    dist = parse_distribution(text)
    assert str(dist) == text
    assert parse_distribution(str(dist)) == dist


@given(st.integers(min_value=1, max_value=10**15), st.integers(min_value=0, max_value=10**15))
def test_uniform_round_trip(low: int, span: int) -> None:
    dist = Uniform(low, low + span)
    assert parse_distribution(str(dist)) == dist
    assert dist.mean_ns == low + span / 2


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ("exp(-5us)", "not a duration"),
        ("exp(0us)", "mean must be"),
        ("uniform(2ms, 1ms)", "below low"),
        ("uniform(1ms)", "takes 2 argument"),
        ("gamma(1ms, 2)", "unknown distribution 'gamma'"),
        ("empirical()", "at least one value"),
        ("lognormal(1ms, -1)", "sigma"),
        (3.5, "not a distribution"),
    ],
)
def test_bad_distributions_say_why(bad: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_distribution(bad)  # type: ignore[arg-type]


def test_sum_adds_parts() -> None:
    total = Sum((Fixed(408), Exponential(1_000)))
    assert total.mean_ns == 1_408 and str(total) == "408ns + exp(1us)"
    draws = total.sample(np.random.default_rng(4), N)
    assert (draws >= 408).all()
    assert abs(draws.mean() - 1_408) <= Z * math.sqrt(1e6 / N) + 0.5


def test_only_non_random_distributions_are_constant() -> None:
    assert Fixed(5).constant_ns == 5
    assert Sum((Fixed(3), Fixed(4))).constant_ns == 7
    assert Sum((Fixed(3), Exponential(4))).constant_ns is None
    assert Exponential(4).constant_ns is None
