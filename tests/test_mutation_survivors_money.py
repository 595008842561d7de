"""report/money.py's rounding tiers at their edges and zero's sign (mutation survivors, #18).

Pinned as the formatter behaves today; a change of the money format rules changes this file
and nothing else."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from modalfleet.report.money import pct, usd, usd_cents


@pytest.mark.parametrize(
    ("value", "plain", "fine"),
    [
        # Tens of dollars and up: cents.
        ("1234.565", "$1234.57", "$1234.57"),
        ("10.1234", "$10.12", "$10.12"),
        ("10", "$10.00", "$10.00"),
        # Under $10: up to three decimals, at least two; rounding up may reach $10.00.
        ("9.9996", "$10.00", "$10.00"),
        ("9.9994", "$9.999", "$9.999"),
        ("9.99", "$9.99", "$9.99"),
        ("5.4249", "$5.425", "$5.425"),
        ("2.1", "$2.10", "$2.10"),
        ("3", "$3.00", "$3.00"),
        ("1.0004", "$1.00", "$1.00"),
        # Under $1: a price per request (fine) keeps six decimals.
        ("0.999", "$0.999", "$0.999"),
        ("0.1234567", "$0.123", "$0.123457"),
        ("0.9999996", "$1.00", "$1.00"),
        ("0.0123456", "$0.012", "$0.012346"),
        ("0.01", "$0.01", "$0.01"),
        # Sub-cent: six decimals either way.
        ("0.0099999", "$0.01", "$0.01"),
        ("0.00999949", "$0.009999", "$0.009999"),
        ("0.0000005", "$0.000001", "$0.000001"),
        ("0.0000004", "$0.00", "$0.00"),
        ("0", "$0.00", "$0.00"),
    ],
)
def test_usd_rounding_tiers(value, plain, fine):
    assert usd(D(value)) == plain
    assert usd(D(value), fine=True) == fine
    if plain != "$0.00":  # (a tiny sum that rounds to zero keeps its sign today: -$0.00)
        assert usd(-D(value)) == "-" + plain
        assert usd(D(value), sign=True) == "+" + plain


def test_zero_has_no_sign():
    for zero in (D("0"), D("-0"), D("0.000"), D("-0.00")):
        assert usd(zero) == "$0.00"
        assert usd(zero, sign=True) == "$0.00"
        assert usd_cents(zero) == "$0.00"
        assert usd_cents(zero, sign=True) == "$0.00"


def test_usd_cents_always_shows_cents():
    assert [usd_cents(D(v)) for v in ("9.9994", "5.425", "0.0049", "0.005", "1234.565")] == [
        "$10.00",
        "$5.43",
        "$0.00",
        "$0.01",
        "$1234.57",
    ]
    assert usd_cents(D("2.362"), sign=True) == "+$2.36"
    assert usd_cents(D("-2.362"), sign=True) == "-$2.36"
    assert usd_cents(D("-2.362")) == "-$2.36"
    assert usd_cents(D("2.362")) == "$2.36"
    assert usd_cents(D("0.5"), sign=True) == "+$0.50"


def test_pct():
    assert pct(None) == "n/a"
    assert [pct(D(v)) for v in ("0", "5", "-5", "12.35", "-43.58")] == [
        "0.0%",
        "+5.0%",
        "-5.0%",
        "+12.4%",
        "-43.6%",
    ]
    assert pct(D("12.35"), sign=False) == "12.4%"
    assert pct(D("0.5")) == "+0.5%"
