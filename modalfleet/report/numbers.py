"""Figures for a reader and for JSON: rounding half up, seconds without trailing zeros, numbers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def quantize(value: Decimal, places: int) -> Decimal:
    """Round half up to `places` decimals (what people expect of money, unlike banker's rounding)."""
    return value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def seconds_text(seconds: Decimal) -> str:
    text = f"{quantize(seconds, 2):f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def number(value: Decimal) -> int | float:
    """A Decimal as a JSON number: integral values as ints, the rest as the nearest float."""
    return int(value) if value == value.to_integral_value() else float(value)
