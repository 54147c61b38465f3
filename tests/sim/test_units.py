import pytest
from hypothesis import given
from hypothesis import strategies as st

from rassim.sim.units import (
    NS_PER_H,
    NS_PER_S,
    GiB,
    MiB,
    format_duration,
    format_fit,
    format_rate,
    format_rate_per_gib_hour,
    format_size,
    parse_duration,
    parse_fit,
    parse_rate,
    parse_rate_per_gib_hour,
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


@pytest.mark.parametrize(
    ("text", "per_hour"), [("60/h", 60.0), ("1/min", 60.0), ("0.5/d", 0.5 / 24), (" 2 / s", 7200.0)]
)
def test_parse_rate_per_time(text: str, per_hour: float) -> None:
    assert parse_rate(text, NS_PER_H) == pytest.approx(per_hour, rel=1e-15)


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_rate_round_trip_is_exact(rate: float) -> None:
    assert parse_rate(format_rate(rate, "h"), NS_PER_H) == rate
    assert parse_rate(format_rate(rate, "s"), NS_PER_S) == rate
    assert parse_fit(format_fit(rate)) == rate
    assert parse_rate_per_gib_hour(format_rate_per_gib_hour(rate)) == rate


def test_fit_is_per_billion_device_hours() -> None:
    assert parse_fit("14.2FIT") == parse_fit("14.2 FIT") == 14.2
    assert parse_fit("1e-9/h") == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("parse", "value"),
    [
        (parse_duration, 30),
        (parse_size, 4096),
        (parse_rate_per_gib_hour, 1e-4),
        (parse_fit, 14.2),
        (lambda value, required: parse_rate(value, NS_PER_H, required), 60),
    ],
)
def test_a_user_writes_the_unit(parse, value: float) -> None:
    """What a user writes needs its unit; 0 does not (it is 0 in every unit); Python
    callers may pass the internal unit's bare number."""
    with pytest.raises(ValueError, match=rf"^{value!r} has no unit: .*e\.g\. '.*only 0 may"):
        parse(value, True)
    assert parse(0, True) == 0
    assert parse(value, False) == value
