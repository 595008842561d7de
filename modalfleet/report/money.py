"""The one money formatter: dollars and percentages as every command prints them."""

from __future__ import annotations

from decimal import Decimal

from .numbers import quantize


def usd(value: Decimal, sign: bool = False, fine: bool = False) -> str:
    """Dollars for a reader: $162.60, $2.168, $0.00164 (rounded here and only here).

    Tens of dollars and up show cents; smaller sums keep up to three decimals (the seed's
    $2.168 per day); sub-cent sums, and every sum under $1 when fine (a price per request),
    keep six; trailing zeros are dropped.
    """
    magnitude = abs(value)
    if magnitude >= 10 or magnitude == 0:
        text = f"{quantize(magnitude, 2):.2f}"
    else:
        places = 6 if magnitude < Decimal("0.01") or (fine and magnitude < 1) else 3
        text = f"{quantize(magnitude, places):f}".rstrip("0")
        whole, _, decimals = text.partition(".")
        text = f"{whole}.{decimals.ljust(2, '0')}"
    prefix = "-" if value < 0 else ("+" if sign and value > 0 else "")
    return f"{prefix}${text}"


def usd_cents(value: Decimal, sign: bool = False) -> str:
    """Dollars to the cent, as a headline shows them: $2.36."""
    text = f"{quantize(abs(value), 2):.2f}"
    prefix = "-" if value < 0 else ("+" if sign and value > 0 else "")
    return f"{prefix}${text}"


def pct(value: Decimal | None, sign: bool = True) -> str:
    if value is None:
        return "n/a"
    text = f"{quantize(value, 1):.1f}"
    return f"+{text}%" if sign and value > 0 else f"{text}%"
