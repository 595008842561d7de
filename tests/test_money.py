"""The one money formatter's rule, case by case: sums to the cent, unit prices to five
significant digits, percentages to one decimal, and no signed zero anywhere."""

from decimal import Decimal as D

import pytest

from modalfleet.report.money import pct, usd, usd_rate


@pytest.mark.parametrize(
    ("value", "sign", "text"),
    [
        ("3.058", False, "$3.06"),  # the document's hybrid total, $3.058/day
        ("2.168", False, "$2.17"),
        ("162.6", False, "$162.60"),
        ("46.8288", False, "$46.83"),  # one warm L40S a day
        ("0", False, "$0.00"),
        ("0.005", False, "$0.01"),  # half up, not to even
        ("0.015", False, "$0.02"),
        ("0.00164", False, "$0.00"),  # a sum under half a cent is nothing to the cent
        ("-2.362", True, "-$2.36"),
        ("2.362", True, "+$2.36"),
        ("2.362", False, "$2.36"),
        ("-0.004", True, "$0.00"),  # rounds to zero: never -$0.00
        ("0.004", True, "$0.00"),  # nor +$0.00
        ("-0.005", True, "-$0.01"),
        ("9.995", False, "$10.00"),  # carries across a power of ten
        ("1234567.891", False, "$1234567.89"),
    ],
)
def test_usd_sums_to_the_cent(value, sign, text):
    assert usd(D(value), sign=sign) == text


@pytest.mark.parametrize(
    ("value", "sign", "text"),
    [
        ("0.00542", False, "$0.00542"),  # flux-dev on L40S, 10 s at $0.000542/s
        ("0.00164", False, "$0.00164"),
        ("0.0158246", False, "$0.015825"),  # five significant digits, half up
        ("0.0054166666", False, "$0.0054167"),
        ("0.000164", False, "$0.000164"),  # T4 per second
        ("0.00000012345678", False, "$0.00000012346"),  # never rounds to $0.00
        ("0.492", False, "$0.492"),  # trailing zeros dropped ...
        ("0.5", False, "$0.50"),  # ... but never below the cents
        ("1.5", False, "$1.50"),
        ("12.345678", False, "$12.346"),
        ("99999.5", False, "$99999.50"),  # at least the cents above five digits
        ("0.999995", False, "$1.00"),  # the tier boundary: 0.99999|5 rounds up to a dollar
        ("0.0099999", False, "$0.0099999"),
        ("0.00999995", False, "$0.01"),
        ("0", True, "$0.00"),
        ("-0.0012345", True, "-$0.0012345"),
        ("0.0012345", True, "+$0.0012345"),
    ],
)
def test_usd_rate_five_significant_digits(value, sign, text):
    assert usd_rate(D(value), sign=sign) == text


@pytest.mark.parametrize(
    ("value", "sign", "text"),
    [
        ("69.672", True, "+69.7%"),
        ("-43.5", True, "-43.5%"),
        ("43.5", False, "43.5%"),
        ("0.05", True, "+0.1%"),  # half up
        ("-0.04", True, "0.0%"),  # rounds to zero: never -0.0%
        ("0.04", True, "0.0%"),
        ("0", True, "0.0%"),
        ("100", True, "+100.0%"),
        (None, True, "n/a"),  # nothing to divide by
    ],
)
def test_pct_one_decimal(value, sign, text):
    assert pct(None if value is None else D(value), sign=sign) == text


def test_floats_format_like_decimals():
    # bench passes float ratios; the text must not depend on the float's binary digits.
    assert pct(0.125 * 100, sign=False) == "12.5%"
    assert usd_rate(0.00542) == "$0.00542"
