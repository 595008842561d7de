"""`region:` on a strategy or a model: Modal's names (fleet/regions.py), rendered as `region=` in
@app.cls, and priced with Modal's multiplier on GPU + CPU + memory (serving.container_rate).

Modal's region selection guide (regions.yaml, 2026-12-06): a broad region (`us`) costs 1.5x, a
narrow one (`us-west`) 1.75x; several spanning both pay the smaller.
"""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from conftest import REPO

from modalfleet.economics.serving import serving_policy
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.regions import known_regions, region_kind, region_multiplier
from modalfleet.generate.render import render_tree, template_search_path

D = Decimal
# flux-schnell under hybrid on its T4: 0.000164 + 4 x 0.0000131 + 40 x 0.00000222 (no region).
SCHNELL_T4 = D("0.000164") + 4 * D("0.0000131") + 40 * D("0.00000222")


def edit(root, file, old, new):
    path = root / file
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


def loaded(root):
    result = load_fleet(root)
    assert result.ok, result.problems
    return result.fleet


@pytest.mark.parametrize(
    ("regions", "multiplier"),
    [
        ((), D(1)),
        (("us",), D("1.5")),
        (("eu",), D("1.5")),
        (("us-west",), D("1.75")),
        (("jp",), D("1.75")),
        (("us-west", "us"), D("1.5")),  # spanning both: the smaller
        (("us-east", "us-central"), D("1.75")),
    ],
)
def test_modal_region_multipliers(regions, multiplier):
    assert region_multiplier(regions) == multiplier


def test_modal_lists_nine_broad_and_thirteen_narrow_regions():
    assert [r for r in known_regions() if region_kind(r) == "broad"] == [
        "us", "eu", "ap", "uk", "ca", "me", "sa", "af", "mx",
    ]  # fmt: skip
    assert len(known_regions()) == 22
    assert region_kind("frankfurt") is None


def test_a_strategy_region_multiplies_gpu_cpu_and_memory(fleet_dir):
    edit(
        fleet_dir,
        "strategies/hybrid.yaml",
        "  timeout_s: 600\n",
        "  timeout_s: 600\nregion: us-west\n",
    )
    fleet = loaded(fleet_dir)
    serving = serving_policy(fleet, "flux-schnell", "hybrid")
    assert SCHNELL_T4 == D("0.0003052")
    assert serving.usd_per_second == D("0.0003052") * D("1.75") == D("0.0005341")
    # Another strategy without a region keeps the list price.
    assert serving_policy(fleet, "flux-schnell", "baseline", gpu="T4").usd_per_second == SCHNELL_T4


def test_a_model_region_wins_over_the_strategys(fleet_dir):
    edit(
        fleet_dir,
        "strategies/hybrid.yaml",
        "  timeout_s: 600\n",
        "  timeout_s: 600\nregion: us-west\n",
    )
    edit(
        fleet_dir,
        "models.yaml",
        "    limits: {max_pixels: 1572864}\n",
        "    limits: {max_pixels: 1572864}\n    region: [eu, eu-west]\n",
    )
    fleet = loaded(fleet_dir)
    assert serving_policy(fleet, "flux-schnell", "hybrid").usd_per_second == D("0.0004578")
    assert serving_policy(fleet, "lora", "hybrid").rate.multiplier == D("1.75")  # the strategy's


def test_memory_is_billed_at_the_host_peak_when_it_exceeds_the_reservation(fleet_dir):
    # flux-dev's CPU snapshot holds its 33.73 GB in host memory beside the ~3 GB process:
    # 36.73e9 / 2**30 = 34.21 GiB, above a 20 GiB reservation: Modal bills the use.
    edit(
        fleet_dir,
        "models.yaml",
        "    resources: {cpu: 4, memory_gb: 40}\n    params: {steps: 28",
        "    resources: {cpu: 4, memory_gb: 20}\n    params: {steps: 28",
    )
    fleet = loaded(fleet_dir)
    rate = serving_policy(fleet, "flux-dev", "hybrid").rate
    assert round(36.73e9 / 2**30, 2) == 34.21
    assert rate.memory == D("34.21") * D("0.00000222")
    # Under the reservation (the bundled 40 GiB) the reservation is what is billed.
    assert serving_policy(loaded(REPO), "flux-dev", "hybrid").rate.memory == 40 * D("0.00000222")


def test_nf4_streams_one_component_so_its_peak_is_the_largest_saved_copy(fleet_dir):
    # flux-schnell (SNAPSHOT none): its largest saved copy, the nf4 transformer 23.8 x 0.28 =
    # 6.664 GB, + 3 GB = 9.664e9 / 2**30 = 9.0 GiB, so even a 10 GiB reservation covers it.
    edit(
        fleet_dir,
        "models.yaml",
        "    resources: {cpu: 4, memory_gb: 40}\n    params: {steps: 4",
        "    resources: {cpu: 4, memory_gb: 10}\n    params: {steps: 4",
    )
    fleet = loaded(fleet_dir)
    assert serving_policy(fleet, "flux-schnell", "hybrid").rate.memory == 10 * D("0.00000222")


def test_region_is_rendered_into_app_cls(fleet_dir):
    bundled = render_tree(loaded(REPO), template_search_path(REPO))
    assert not any("region=" in text for text in bundled.values())
    edit(
        fleet_dir, "strategies/hybrid.yaml", "  timeout_s: 600\n", "  timeout_s: 600\nregion: eu\n"
    )
    edit(
        fleet_dir,
        "models.yaml",
        "    limits: {max_pixels: 1572864}\n",
        "    limits: {max_pixels: 1572864}\n    region: [us-east, us-central]\n",
    )
    files = render_tree(loaded(fleet_dir), template_search_path(fleet_dir), ["hybrid"])
    lora = files["hybrid/lora.py"]
    assert (
        '    ],\n    region="eu",  # Modal bills a region\'s multiplier on GPU, CPU and memory\n'
        in lora
    )
    schnell = files["hybrid/flux_schnell.py"]
    assert (
        '    region=[\n        "us-east",\n        "us-central",\n    ],  # Modal bills' in schnell
    )
    assert files["hybrid/lora.py"].count("region=") == 1


def test_simulate_says_the_region_multiplier(fleet_dir, cli):
    edit(
        fleet_dir,
        "strategies/hybrid.yaml",
        "  timeout_s: 600\n",
        "  timeout_s: 600\nregion: us-west\n",
    )
    args = ("simulate", "--model", "flux-schnell", "--strategy", "hybrid", "--days", "1")
    text = cli(*args, root=fleet_dir).output
    assert "at $0.0005341/s ((GPU + CPU + memory) x 1.75 for the region)" in text
    data = json.loads(cli(*args, "--format", "json", root=fleet_dir).output)
    assert (data["usd_per_second"], data["region_multiplier"]) == (0.0005341, 1.75)
