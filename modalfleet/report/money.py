"""The one money formatter: dollars and percentages as every command prints them.

The rule, the same in every command's text and markdown output (JSON keeps unrounded numbers):

- sums of money (per day, per month, totals, deltas, prices per hour): `usd`, to the cent;
- unit prices (per request, per second): `usd_rate`, five significant digits so that a
  fraction of a cent is never shown as $0.00, trailing zeros dropped down to the cents;
- percentages: `pct`, one decimal.

Rounding is half up and happens here only. A value that rounds to zero prints without a sign
(never -$0.00, +$0.00 or -0.0%), so a column of deltas does not show a change that is not there.
"""

from __future__ import annotations

from decimal import Decimal

from .numbers import quantize

RATE_DIGITS = 5  # significant digits of a unit price


def _signed(rounded: Decimal, text: str, sign: bool, unit: str = "$") -> str:
    if rounded < 0:
        return f"-{unit}{text}"
    if sign and rounded > 0:
        return f"+{unit}{text}"
    return f"{unit}{text}"


def usd(value: Decimal, sign: bool = False) -> str:
    """A sum of money to the cent: $162.60, $3.06, $0.00; `sign` adds + to a positive delta."""
    rounded = quantize(Decimal(value), 2)
    return _signed(rounded, f"{abs(rounded):.2f}", sign)


def usd_rate(value: Decimal, sign: bool = False) -> str:
    """A unit price: five significant digits, at least the cents: $0.00542, $0.0054167, $1.50.

    Per request and per second prices are fractions of a cent; to the cent they would all read
    $0.00. Trailing zeros are dropped ($0.00542, not $0.0054200) but never below the cents.
    """
    value = Decimal(value)
    if value == 0:
        return "$0.00"
    places = max(2, RATE_DIGITS - 1 - value.adjusted())
    rounded = quantize(value, places)
    whole, _, decimals = f"{abs(rounded):f}".partition(".")
    decimals = decimals.rstrip("0").ljust(2, "0")
    return _signed(rounded, f"{whole}.{decimals}", sign)


def pct(value: Decimal | None, sign: bool = True) -> str:
    """A percentage with one decimal: +12.5%, -3.0%, 0.0%; n/a when there is nothing to divide by."""
    if value is None:
        return "n/a"
    rounded = quantize(Decimal(value), 1)
    return _signed(rounded, f"{abs(rounded):.1f}", sign, unit="") + "%"
