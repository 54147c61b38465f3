import pytest
from hypothesis import given
from hypothesis import strategies as st

from rassim.sim.units import (
    NS_PER_H,
    GiB,
    MiB,
    format_duration,
    format_size,
    parse_duration,
    parse_size,
)


@pytest.mark.parametrize(
    ("text", "ns"),
    [
        ("50us", 50_000),
        ("2ms", 2_000_000),
        ("24h", 24 * NS_PER_H),
        ("1.5s", 1_500_000_000),
        ("30d", 30 * 86_400 * 10**9),
        ("1e3ns", 1000),
        (" 7 min ", 420 * 10**9),
        (12, 12),
    ],
)
def test_parse_duration(text: str | int, ns: int) -> None:
    assert parse_duration(text) == ns


@pytest.mark.parametrize("bad", ["50", "us", "5 parsecs", "-3ms", "", "1e999h", True, 2.5, -1])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=2**63 - 1))
def test_duration_round_trip(ns: int) -> None:
    assert parse_duration(format_duration(ns)) == ns


def test_format_duration_for_display() -> None:
    assert format_duration(1_534_000, digits=3) == "1.53ms"
    assert format_duration(24 * NS_PER_H) == "1d"


@pytest.mark.parametrize(("text", "size"), [("4KiB", 4096), ("2MiB", 2 * MiB), ("1GiB", GiB)])
def test_parse_size(text: str, size: int) -> None:
    assert parse_size(text) == size
    assert format_size(size) == text


@pytest.mark.parametrize("bad", ["4kb", "1.3B", "GiB", -4])
def test_parse_size_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_size(bad)  # type: ignore[arg-type]


@given(st.integers(min_value=0, max_value=2**50))
def test_size_round_trip(size: int) -> None:
    assert parse_size(format_size(size)) == size
