"""coldstart.py: the cold start's terms follow what the rendered module does per SNAPSHOT mode.

The constants are written out here, from coldstart.yaml's sources, and every expected figure is
computed from them in the test, not read from the module:

    Volume read        2.5 GB/s (Modal's Volumes guide, "up to 2.5 GB/s")
    container start    1 s (assumption: Modal's "sub-second startup" rounded up)
    process            3 GB held in every memory snapshot (assumption, checks.py's 3 GiB)
    imports            5 s without a snapshot (assumption; only in the derivation below)
    FLUX.2-klein-9B on an L40S, 18 GB bf16: 35.0 s plain, 3.1 s with a GPU snapshot (published)

    snapshot restore   (18 + 3) GB / (3.1 - 1) s               = 10 GB/s
    host-to-GPU copy   18 GB / (35.0 - 1 - 5 - 18 / 2.5) s    = 18 / 21.8 GB/s
    warm-up            one denoiser step from the speed model (SpeedEstimate.step_seconds, whose
                       terms tests/test_speed.py checks); a model without a shipped architecture,
                       one step of its flat 10 s request; instantid none
"""

from __future__ import annotations

import pytest
from conftest import REPO

from modalfleet.economics import coldstart
from modalfleet.economics.coldstart import ColdStart, cold_start_on
from modalfleet.economics.speed import speed_on
from modalfleet.fleet.load import load_fleet

VOLUME = 2.5
START = 1.0
PROCESS = 3.0
IMPORTS = 5.0
RESTORE = (18.0 + PROCESS) / (3.1 - START)
COPY = 18.0 / (35.0 - START - IMPORTS - 18.0 / VOLUME)
FLAT = 10.0

# Per bundled model: (SNAPSHOT mode the module renders, GB the Volume and a CPU snapshot hold,
# GB that end up on the GPU, warm-up steps: 0 none, else the speed model's step on the GPU). Sizes from models.yaml: flux-schnell's quantized
# copies 23.8 x 0.28 + 9.52 x 0.5 + 0.25 + 0.17 = 11.84; flux-dev 33.73 declared, 33.74 by
# components; instantid 6.95 + 0.17 + 4.19 + 0.36; lora 6.95 + 0.17 + 0.17; wan2-1 14.75;
# seedvr2 7.3 (its upstream code reads the weights at warm-up, so its CPU snapshot holds none).
BUNDLED = {
    "flux-schnell": ("none", 11.84, 11.84, 1),
    "flux-dev": ("cpu", 33.73, 33.74, 1),
    "instantid": ("cpu", 11.67, 11.67, 0),
    "lora": ("cpu", 7.29, 7.29, 1),
    "wan2-1": ("cpu", 14.75, 14.75, 1),
    "seedvr2": ("cpu", 7.3, 7.3, 1),
}
HOLDS_NO_WEIGHTS = {"seedvr2"}


@pytest.fixture(scope="module")
def fleet():
    loaded = load_fleet(REPO)
    assert loaded.ok, loaded.problems
    return loaded.fleet


def warm_up(fleet, name: str, gpu: str) -> float:
    """One denoiser step on `gpu` (the speed model's), or one step of the flat request."""
    _, _, _, steps = BUNDLED[name]
    if not steps:
        return 0.0
    model = fleet.models[name]
    step = speed_on(model, gpu, fleet.catalog).step_seconds
    return FLAT / model.params.get("steps", 1) if step is None else step


def expected_terms(name: str, mode: str, warm: float) -> dict[str, float]:
    own, stored, loaded, _ = BUNDLED[name]
    if mode == "gpu":
        return {
            "container start": START,
            "snapshot restore": (PROCESS + loaded) / RESTORE,
            "warm-up": warm,
        }
    if mode == "cpu" and name not in HOLDS_NO_WEIGHTS:
        return {
            "container start": START,
            "snapshot restore": (PROCESS + stored) / RESTORE,
            "host-to-GPU copy": loaded / COPY,
            "warm-up": warm,
        }
    return {
        "container start": START,
        "snapshot restore": PROCESS / RESTORE,
        "volume read": stored / VOLUME,
        "host-to-GPU copy": loaded / COPY,
        "warm-up": warm,
    }


def test_the_derived_rates_come_from_the_published_flux2_klein_cold_starts():
    assert coldstart.SNAPSHOT_RESTORE_GB_PER_S == pytest.approx(10.0)
    assert coldstart.HOST_TO_GPU_GB_PER_S == pytest.approx(0.8257, abs=1e-4)
    # Put back together, the constants give the two published overheads for 18 GB on the L40S.
    assert START + IMPORTS + 18 / VOLUME + 18 / coldstart.HOST_TO_GPU_GB_PER_S == pytest.approx(
        35.0
    )
    assert START + (18 + PROCESS) / coldstart.SNAPSHOT_RESTORE_GB_PER_S == pytest.approx(3.1)


@pytest.mark.parametrize("name", sorted(BUNDLED))
@pytest.mark.parametrize("gpu", ["L40S", "A100-80GB"])
def test_each_bundled_model_starts_as_its_module_does(fleet, name, gpu):
    mode = BUNDLED[name][0]
    cold = cold_start_on(fleet.models[name], gpu, fleet.catalog)
    expected = expected_terms(name, mode, warm_up(fleet, name, gpu))
    assert (cold.source, cold.snapshot) == ("estimate", mode)
    assert [term for term, _ in cold.parts] == list(expected)
    for term, seconds in cold.parts:
        assert seconds == pytest.approx(expected[term], abs=0.05), term
    assert cold.seconds == pytest.approx(sum(expected.values()), abs=0.05)


@pytest.mark.parametrize("name", sorted(BUNDLED))
def test_a_gpu_snapshot_restores_the_weights_onto_the_gpu(fleet, name):
    cold = cold_start_on(fleet.models[name], "L40S", fleet.catalog, "gpu")
    expected = expected_terms(name, "gpu", warm_up(fleet, name, "L40S"))
    assert cold.snapshot == "gpu"
    assert dict(cold.parts) == pytest.approx(expected, abs=0.05)
    assert cold.seconds == pytest.approx(sum(expected.values()), abs=0.05)


def test_the_bundled_figures_to_the_tenth_of_a_second(fleet):
    # The same arithmetic, totals written out: what the simulation gets per model and mode.
    seconds = {
        (name, mode): round(
            cold_start_on(fleet.models[name], "L40S", fleet.catalog, mode).seconds, 1
        )
        for name in BUNDLED
        for mode in ("none", "cpu", "gpu")
    }
    # Warm-up steps on an L40S (speed model, ESTIMATE): flux-schnell 0.66 s, flux-dev 0.71 s,
    # lora 0.18 s, wan2-1 7.07 s (81 frames, two passes).
    # flux-schnell none: 1 + 0.3 + 11.84 / 2.5 + 11.84 x 21.8 / 18 + 0.66 = 21.04
    assert seconds["flux-schnell", "none"] == 21.0
    assert seconds["flux-schnell", "gpu"] == 3.1  # 1 + 14.84 / 10 + 0.66
    # flux-dev cpu: 1 + 36.73 / 10 + 33.74 x 21.8 / 18 + 0.71 = 46.24
    assert seconds["flux-dev", "cpu"] == 46.2
    assert seconds["flux-dev", "none"] == 56.4  # 1 + 0.3 + 13.49 + 40.86 + 0.71
    assert seconds["flux-dev", "gpu"] == 5.4  # 1 + 3.67 + 0.71
    assert seconds["instantid", "cpu"] == 16.6  # 1 + 1.47 + 14.13, no warm-up
    assert seconds["lora", "cpu"] == 11.0  # 1 + 1.03 + 8.83 + 0.18
    assert seconds["wan2-1", "cpu"] == 27.7  # 1 + 1.78 + 17.86 + 7.07
    # seedvr2's warm-up is its one DiT step on the L40S (speed model, ESTIMATE): 1.17 s.
    assert seconds["seedvr2", "cpu"] == 14.2  # 1 + 0.3 + 2.92 + 8.84 + 1.17
    assert seconds["seedvr2", "gpu"] == 3.2  # 1 + 1.03 + 1.17


def test_describe_names_every_term(fleet):
    cold = cold_start_on(fleet.models["lora"], "T4", fleet.catalog)
    assert cold.describe() == (
        "11.89 s ESTIMATE (container start 1 s + snapshot restore 1.03 s + "
        "host-to-GPU copy 8.83 s + warm-up 1.03 s)"
    )


def test_a_measured_figure_applies_to_the_mode_it_was_measured_under(fleet_dir):
    path = fleet_dir / "models.yaml"
    text = path.read_text()
    anchor = "    resources: {cpu: 4, memory_gb: 40}\n    params: {steps: 28"
    assert anchor in text
    path.write_text(text.replace(anchor, "    cold_start_s: 50\n" + anchor, 1))
    fleet = load_fleet(fleet_dir).fleet
    model = fleet.models["flux-dev"]
    assert cold_start_on(model, "L40S", fleet.catalog) == ColdStart(50.0, "measured")
    assert cold_start_on(model, "L40S", fleet.catalog, "cpu") == ColdStart(50.0, "measured")
    # A GPU snapshot was not measured: the estimate for that mode.
    what_if = cold_start_on(model, "L40S", fleet.catalog, "gpu")
    assert (what_if.source, round(what_if.seconds, 1)) == ("estimate", 5.4)  # 1 + 3.67 + 0.71


def test_an_unknown_snapshot_mode_is_refused(fleet):
    with pytest.raises(ValueError, match="^unknown snapshot mode 'disk'; known: none, cpu, gpu$"):
        cold_start_on(fleet.models["lora"], "L4", fleet.catalog, "disk")


def test_every_constant_says_where_it_comes_from():
    data = coldstart.constants_file()
    for name, entry in data["constants"].items():
        assert entry["kind"] in {"documented", "assumption"}, name
        assert entry["source"] and entry["as_of"], name
    for entry in data["measurements"].values():
        assert entry["source"].startswith("https://")


def test_the_snapshot_is_the_most_specific_setting_under_the_strategy(fleet_dir):
    from modalfleet.economics.serving import serving_policy
    from modalfleet.generate.render import render_tree, template_search_path

    strategy = fleet_dir / "strategies" / "hybrid.yaml"
    strategy.write_text(
        strategy.read_text() + "gpu_snapshot: true\nmodels:\n  lora: {gpu_snapshot: false}\n"
    )
    models = fleet_dir / "models.yaml"
    anchor = "    vram_gb: 16\n    params: {steps: 30, guidance: 5.0, width: 1024, height: 1024, ip"
    assert anchor in models.read_text()
    models.write_text(models.read_text().replace(anchor, "    gpu_snapshot: false\n" + anchor))
    loaded = load_fleet(fleet_dir)
    assert loaded.ok, loaded.problems
    fleet = loaded.fleet

    def mode(name, strategy="hybrid"):
        return serving_policy(fleet, name, strategy).cold_start.snapshot

    assert mode("flux-dev") == "gpu"  # the strategy's gpu_snapshot: true
    assert mode("instantid") == "cpu"  # the model's own false wins over the strategy's
    assert mode("lora") == "cpu"  # the strategy's entry for the model wins over both
    assert mode("flux-dev", "baseline") == "cpu"
    # The rendered module takes the same snapshot as the estimate assumes.
    files = render_tree(fleet, template_search_path(fleet_dir), ["hybrid"])
    assert 'SNAPSHOT = "gpu"' in files["hybrid/flux_dev.py"]
    assert 'SNAPSHOT = "cpu"' in files["hybrid/lora.py"]
    assert 'SNAPSHOT = "cpu"' in files["hybrid/instantid.py"]


def test_the_docs_table_shows_each_models_terms_and_its_gpu_snapshot_total(fleet):
    table = coldstart.fleet_table(list(fleet.models.values()), fleet.catalog, "L40S").splitlines()
    assert len(table) == 2 + len(BUNDLED)
    assert table[:2] == [
        "| Model | SNAPSHOT | Terms (s) | Estimate | With a GPU snapshot (alpha) |",
        "|---|---|---|---:|---:|",
    ]
    assert table[3] == (
        "| flux-dev | cpu | container start 1 + snapshot restore 3.67 + host-to-GPU copy 40.86 "
        "+ warm-up 0.71 | 46.2 s | 5.4 s |"
    )
    constants = coldstart.constants_table().splitlines()
    assert constants[2].startswith("| `volume_read_gb_per_s` | 2.5 GB/s | documented |")
    assert constants[-1].startswith("| `host_to_gpu_gb_per_s` | 0.826 GB/s | derived |")


def test_a_measured_figure_per_gpu_beats_the_default_and_an_alias_finds_it(fleet_dir):
    path = fleet_dir / "models.yaml"
    anchor = "    resources: {cpu: 4, memory_gb: 40}\n    params: {steps: 28"
    text = path.read_text()
    assert anchor in text
    path.write_text(text.replace(anchor, "    cold_start_s: {default: 30, T4: 41.5}\n" + anchor, 1))
    fleet = load_fleet(fleet_dir).fleet
    model = fleet.models["flux-dev"]
    assert cold_start_on(model, "T4", fleet.catalog) == ColdStart(41.5, "measured")
    assert cold_start_on(model, "L40S", fleet.catalog) == ColdStart(30.0, "measured")
    assert cold_start_on(model, "T4", fleet.catalog).describe() == "41.5 s measured"
    assert cold_start_on(model, "T4", fleet.catalog).is_estimate is False


@pytest.mark.parametrize(
    ("steps", "divisor"),
    [(28, 28), (4, 4), (1.5, 1.5), (1, 1), (0, 1), (True, 1), ("many", 1), (None, 1)],
)
def test_without_a_shipped_architecture_the_warm_up_is_a_steps_share_of_the_request(
    fleet, steps, divisor
):
    import dataclasses

    # lora's weights renamed to a repository with no shipped config: no step from the speed
    # model, so its flat 10 s request shared by its steps (a steps param that is not a number
    # of at least 1, or none at all, counts the whole request).
    model = fleet.models["lora"]
    unknown = tuple(dataclasses.replace(w, repo="example/unknown-model") for w in model.weights)
    params = {key: value for key, value in model.params.items() if key != "steps"}
    if steps is not None:
        params["steps"] = steps
    model = dataclasses.replace(model, weights=unknown, params=params)
    assert speed_on(model, "L40S", fleet.catalog).step_seconds is None
    assert coldstart.warm_up_seconds(model, "L40S", fleet.catalog) == pytest.approx(FLAT / divisor)


def test_an_estimate_is_labelled_and_its_terms_sum_to_its_seconds(fleet):
    cold = cold_start_on(fleet.models["flux-dev"], "L40S", fleet.catalog)
    assert cold.is_estimate is True
    assert cold.seconds == round(sum(seconds for _, seconds in cold.parts), 2)


def test_the_constants_table_rows_in_full():
    import yaml

    data = yaml.safe_load((REPO / "modalfleet" / "economics" / "coldstart.yaml").read_text())
    volume = data["constants"]["volume_read_gb_per_s"]
    klein = data["measurements"]["flux2_klein_9b_l40s"]
    table = coldstart.constants_table().splitlines()
    assert table[:2] == ["| Constant | Value | Kind | What | Source |", "|---|---:|---|---|---|"]
    assert table[2] == (
        f"| `volume_read_gb_per_s` | 2.5 GB/s | documented | {volume['text']} "
        f"| {volume['source']} ({volume['as_of']}) |"
    )
    where = f"{klein['source']} ({klein['as_of']})"
    assert table[-2:] == [
        f"| `snapshot_restore_gb_per_s` | 10 GB/s | derived | restoring a snapshot | {where} |",
        f"| `host_to_gpu_gb_per_s` | 0.826 GB/s | derived | pageable host-to-GPU copy | {where} |",
    ]
    assert len(table) == 2 + len(data["constants"]) + 2


def test_a_gpu_snapshot_restores_what_is_on_the_gpu_not_what_the_volume_holds(fleet):
    import dataclasses

    model = fleet.models["flux-dev"]
    weights = model.weights[0]
    # A breakdown larger than the declared 33.73 GB: 30 + 9.52 + 0.25 + 0.17 = 39.94 GB load
    # onto the GPU, while the Volume (and a CPU snapshot) hold the declared 33.73 GB.
    bigger = dataclasses.replace(
        model,
        weights=(
            dataclasses.replace(weights, components={**weights.components, "transformer": 30.0}),
        ),
    )
    gpu = fleet.catalog.gpus["L40S"]
    on_gpu = dict(coldstart.estimate_cold_start(bigger, gpu, fleet.catalog, "gpu").parts)
    assert on_gpu["snapshot restore"] == round((PROCESS + 39.94) / RESTORE, 2)
    on_cpu = dict(coldstart.estimate_cold_start(bigger, gpu, fleet.catalog, "cpu").parts)
    assert on_cpu["snapshot restore"] == round((PROCESS + 33.73) / RESTORE, 2)
    assert on_cpu["host-to-GPU copy"] == round(39.94 / COPY, 2)
