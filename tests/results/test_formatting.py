"""How numbers are printed for people: counts as whole numbers, intervals to the digits
their width supports, and an exact zero without spurious decimals or a sign."""

import math

from rassim.results.comparison import count, interval_text, number


def test_a_count_is_a_whole_number():
    assert count(3.0) == "3"
    assert count(12_345.0) == "12,345"
    assert count(math.nan) == "n/a"


def test_an_exact_zero_has_no_decimals_nor_sign():
    assert number(0.0) == "0"
    assert interval_text(0.0, 0.0, 0.0, sign=True) == "0 [0, 0]"
    assert interval_text(0.0, math.nan, math.nan) == "0 [n/a]"
    assert number(4.0) == "4"  # a whole number with no interval to show


def test_an_interval_sets_the_decimals_of_its_value():
    assert interval_text(0.0, 0.0, 0.028) == "0.000 [0.000, 0.028]"
    assert interval_text(0.0, -0.012, 0.012, sign=True) == "0.000 [-0.012, +0.012]"
    assert interval_text(0.99913, 0.99887, 0.99935) == "0.99913 [0.99887, 0.99935]"
    assert interval_text(4321.0, 4100.0, 4560.0) == "4,320 [4,100, 4,560]"


def test_what_rounds_to_zero_has_no_sign():
    assert number(-0.0001, 2) == "0.00"
    assert number(0.0001, 2, sign=True) == "0.00"
    assert number(0.02, 2, sign=True) == "+0.02"
