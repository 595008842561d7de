"""Modal's container regions (`region:` in models.yaml or a strategy) and their price multiplier.

The names and multipliers are package data (regions.yaml, with its source and date). A function
with a region pays its GPU, CPU and memory times the multiplier; one that names several regions
spanning broad and narrow pays the smaller one (Modal's region selection guide).
"""

from __future__ import annotations

from decimal import Decimal
from functools import cache
from importlib import resources

import yaml


@cache
def region_table() -> dict:
    text = resources.files("modalfleet.fleet").joinpath("regions.yaml").read_text("utf-8")
    return yaml.safe_load(text)


def known_regions() -> tuple[str, ...]:
    table = region_table()
    return tuple(table["broad"]) + tuple(table["narrow"])


def region_kind(region: str) -> str | None:
    """ "broad", "narrow", or None for a name Modal does not list."""
    table = region_table()
    if region in table["broad"]:
        return "broad"
    if region in table["narrow"]:
        return "narrow"
    return None


def region_multiplier(regions: tuple[str, ...]) -> Decimal:
    """1 without a region; else the smallest multiplier among the named (known) regions."""
    kinds = {region_kind(region) for region in regions} - {None}
    if not kinds:
        return Decimal(1)
    return min(Decimal(region_table()["multipliers"][kind]) for kind in kinds)
