"""load.py: the exact message, hint, code and position of each kind of schema error (type,
const, enum, minimum/maximum, pattern, anyOf, a missing or an unknown key, a non-finite number),
and the defaults load_fleet fills in where the YAML says nothing."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

from conftest import REPO

from modalfleet.fleet.load import fleet_names, load_fleet, schema_problems
from modalfleet.fleet.yamlread import read_yaml


def problems_of(path: Path, relative: str, kind: str) -> list[tuple]:
    doc, unreadable = read_yaml(path, relative)
    assert unreadable == []
    # Sorted: python-jsonschema's error order follows set iteration, which varies by run.
    return sorted((p.line, p.column, p.code, p.message, p.hint) for p in schema_problems(doc, kind))


STRATEGY = """\
version: 2
name: [a]
goal: 5
containers:
  min_containers: -1
  max_containers: 2000
  scaledown_window_s: true
  timeout_s: null
  max_inputs: 1.5
  scaledown: 3
endpoint: {auth: proxi}
zzz: 1
"""


def test_each_kind_of_schema_error_in_a_strategy(tmp_path):
    (tmp_path / "s.yaml").write_text(STRATEGY)
    assert problems_of(tmp_path / "s.yaml", "strategies/s.yaml", "strategy") == sorted(
        [
            (
                12,
                1,
                "unknown-key",
                "unknown key 'zzz' in (top level)",
                "allowed keys: compare_to, containers, description, endpoint, goal, gpu_snapshot, "
                "models, name, region, version",
            ),
            (1, 10, "schema", "version must be 1, not 2", ""),
            (2, 7, "schema", "name must be a string, not a list", ""),
            (3, 7, "schema", "goal must be a string, not an integer", ""),
            (
                10,
                3,
                "unknown-key",
                "unknown key 'scaledown' in containers",
                "did you mean 'scaledown_window_s'?",
            ),
            (5, 19, "schema", "containers.min_containers is -1; it must be >= 0", ""),
            (6, 19, "schema", "containers.max_containers is 2000; it must be <= 1000", ""),
            (
                7,
                23,
                "schema",
                "containers.scaledown_window_s must be an integer, not a boolean",
                "",
            ),
            (8, 14, "schema", "containers.timeout_s must be an integer, not null", ""),
            (9, 15, "schema", "containers.max_inputs must be an integer, not a number", ""),
            (
                11,
                18,
                "schema",
                "endpoint.auth is 'proxi', not one of the allowed values",
                "did you mean 'proxy'?",
            ),
        ]
    )
    (tmp_path / "t.yaml").write_text("version: 1\nname: x\nendpoint: {auth: open, mode: x}\n")
    assert problems_of(tmp_path / "t.yaml", "strategies/t.yaml", "strategy") == sorted(
        [
            (1, 1, "schema", "(top level) is missing required key 'containers'", ""),
            (3, 24, "unknown-key", "unknown key 'mode' in endpoint", "allowed keys: auth"),
            (
                3,
                18,
                "schema",
                "endpoint.auth is 'open', not one of the allowed values",
                "one of 'proxy', 'none'",
            ),
        ]
    )


def test_pattern_anyof_and_non_finite_errors_carry_their_codes(tmp_path):
    gpus = (REPO / "gpus.yaml").read_text()
    gpus = gpus.replace('as_of: "2026-01-21"', 'as_of: "21 Jan 2026"')
    t4 = "  T4:\n    vram_gb: 16\n"
    assert t4 in gpus
    gpus = gpus.replace(t4, "  T4:\n    vram_gb: .inf\n")
    (tmp_path / "gpus.yaml").write_text(gpus)
    # The lines as they fall in gpus.yaml (its header comments move them as the catalog grows).
    as_of = gpus[: gpus.index('as_of: "21 Jan 2026"')].count("\n") + 1
    vram = gpus[: gpus.index("vram_gb: .inf")].count("\n") + 1
    assert problems_of(tmp_path / "gpus.yaml", "gpus.yaml", "gpus") == sorted(
        [
            (
                as_of,
                10,
                "schema",
                "prices.as_of '21 Jan 2026' has characters or a shape that is not allowed",
                r"it must match ^\d{4}-\d{2}-\d{2}$",
            ),
            (vram, 14, "schema", "gpus.T4.vram_gb is inf; it must be <= 4096", ""),
            (vram, 14, "schema", "gpus.T4.vram_gb is inf; numbers must be finite", ""),
        ]
    )
    models = (REPO / "models.yaml").read_text()
    for old, new in [
        ("400, seconds_per_request: 10}", "400, seconds_per_request: .nan}"),
        ("300, seconds_per_request: 10}", "300, seconds_per_request: fast}"),
        ("200, seconds_per_request: 10}", "200, seconds_per_request: {T4: -1}}"),
        ("latency_target_s: 5\n", "latency_target_s: .inf\n"),
    ]:
        assert models.count(old) == 1
        models = models.replace(old, new)
    (tmp_path / "models.yaml").write_text(models)
    schnell, dev = "models.flux-schnell", "models.flux-dev"
    assert problems_of(tmp_path / "models.yaml", "models.yaml", "models") == sorted(
        [
            (51, 23, "latency", f"{schnell}.latency_target_s is inf; it must be <= 86400", ""),
            (
                74,
                59,
                "traffic",
                f"{dev}.traffic.seconds_per_request: expected a number or a mapping, got a string "
                "'fast'",
                "",
            ),
            # A mapping where a number or a mapping goes: the error inside the mapping.
            (
                111,
                64,
                "traffic",
                "models.instantid.traffic.seconds_per_request.T4 is -1; it must be > 0",
                "",
            ),
            (51, 23, "latency", f"{schnell}.latency_target_s is inf; numbers must be finite", ""),
            (
                52,
                59,
                "traffic",
                f"{schnell}.traffic.seconds_per_request is nan; numbers must be finite",
                "",
            ),
        ]
    )


STRATEGY_YML = """\
version: 1
name: only
containers: {min_containers: 0, max_containers: 2, scaledown_window_s: 60, timeout_s: 600}
"""
MODELS = """\
version: 1
DEFAULTS
models:
  sdxl:
    kind: text-to-image
    weights:
      - repo: stabilityai/stable-diffusion-xl-base-1.0
        revision: 462165984030d82259a11f4367a4eed129e94a7b
        role: pipeline
        size_gb: 6.95
    dtype: float16
    quantization: QUANTIZATION
    vram_gb: 12
    traffic: {requests_per_day: 10, seconds_per_request: {default: 8, T4: 20}}
    cold_start_s: {L4: 30}
    gpu: {only: [L4, T4]}
"""


def small_fleet(root: Path, quantization: str = "none", defaults: str = "") -> Path:
    (root / "strategies").mkdir(parents=True)
    (root / "strategies" / "only.yml").write_text(STRATEGY_YML)
    (root / "gpus.yaml").write_text((REPO / "gpus.yaml").read_text())
    text = MODELS.replace("QUANTIZATION", quantization).replace("DEFAULTS", defaults)
    (root / "models.yaml").write_text(text)
    return root


def test_what_load_fleet_fills_in_where_the_yaml_says_nothing(tmp_path):
    loaded = load_fleet(small_fleet(tmp_path))
    assert loaded.problems == [] and loaded.ok
    fleet = loaded.fleet
    assert fleet.vram_headroom_gb == 0.0
    strategy = fleet.strategies["only"]
    assert (strategy.goal, strategy.description, strategy.compare_to) == ("", "", "baseline")
    assert (strategy.endpoint_auth, strategy.containers.max_inputs) == ("proxy", 1)
    assert (strategy.file, strategy.model_containers) == ("strategies/only.yml", {})
    model = fleet.models["sdxl"]
    assert (model.description, model.python, model.volume, model.secrets) == (
        "",
        "3.11",
        "model-weights",
        (),
    )
    weights = model.weights[0]
    assert (weights.name, weights.repo_type, weights.files, weights.components) == (
        "",
        "model",
        (),
        {},
    )
    assert (model.quantization, model.params, model.containers, model.limits) == ({}, {}, {}, {})
    assert model.gpu == {"only": ("L4", "T4")}
    assert model.traffic.seconds_per_request == D(8)
    assert model.traffic.seconds_by_gpu == {"T4": D(20)}
    assert (model.traffic.profile, model.traffic.peak_to_trough, model.traffic.trace) == (
        "poisson",
        None,
        None,
    )
    assert (model.cold_start_s, model.cold_start_by_gpu) == (None, {"L4": 30.0})
    # gpu_snapshot None: models.yaml is silent, so the strategy's setting (or off) applies.
    assert (model.latency_target_s, model.endpoint_auth, model.gpu_snapshot) == (None, None, None)
    assert model.region == ()
    assert model.resources.cpu == D("0.125") and model.resources.memory_gb == D("0.125")
    catalog = fleet.catalog
    assert (catalog.usd_per_core_second, catalog.usd_per_gib_second) == (
        D("0.0000131"),
        D("0.00000222"),
    )
    assert (catalog.source, catalog.as_of) == ("https://modal.com/pricing", "2026-01-21")
    assert (catalog.cpu_memory_source, catalog.cpu_memory_as_of) == (
        "https://modal.com/pricing",
        "2026-06-27",
    )
    assert catalog.gpus["T4"].usd_per_second == D("0.000164")
    assert fleet_names(tmp_path) == (["only"], ["sdxl"])


def test_defaults_and_quantization_shorthands(tmp_path):
    defaults = (
        "defaults:\n  python: '3.12'\n  volume: weights\n  secrets: [hf]\n"
        "  vram_headroom_gb: 2.5\n  resources: {cpu: 2, memory_gb: 8}"
    )
    fleet = load_fleet(small_fleet(tmp_path / "a", "int8", defaults)).fleet
    model = fleet.models["sdxl"]
    assert fleet.vram_headroom_gb == 2.5
    assert (model.python, model.volume, model.secrets) == ("3.12", "weights", ("hf",))
    assert (model.resources.cpu, model.resources.memory_gb) == (D(2), D(8))
    assert model.quantization == {"*": "int8"}  # one scheme for every component
    mixed = "{unet: none, text_encoder: int8}"
    fleet = load_fleet(small_fleet(tmp_path / "b", mixed)).fleet
    assert fleet.models["sdxl"].quantization == {"text_encoder": "int8"}  # "none" is dropped


def test_other_schema_errors_keep_jsonschemas_message_cut_at_200_characters(tmp_path):
    containers = (
        "containers: {min_containers: 0, max_containers: 1, scaledown_window_s: 2, timeout_s: 10}"
    )
    for length in (61, 250):
        path = tmp_path / f"n{length}.yaml"
        path.write_text(f"version: 1\nname: {'n' * length}\n{containers}\n")
        message = f"'{'n' * length}' is too long"  # maxLength 60
        if length == 250:
            message = message[:200] + "..."
        assert problems_of(path, "strategies/n.yaml", "strategy") == [
            (2, 7, "schema", f"name: {message}", "")
        ]


def test_an_enum_or_mapping_value_of_neither_shape_lists_the_choices(tmp_path):
    models = (REPO / "models.yaml").read_text()
    old = "quantization: {transformer: nf4, text_encoder_2: int8}"
    (tmp_path / "models.yaml").write_text(models.replace(old, "quantization: fast", 1))
    assert problems_of(tmp_path / "models.yaml", "models.yaml", "models") == [
        (
            40,
            19,
            "schema",
            "models.flux-schnell.quantization: expected one of 'none', 'int8', 'fp8', 'nf4' "
            "or a mapping, got a string 'fast'",
            "",
        )
    ]


def test_what_the_yaml_sets_is_what_load_fleet_loads(tmp_path):
    root = small_fleet(tmp_path)
    models = (root / "models.yaml").read_text()
    models = models.replace(
        "        size_gb: 6.95\n",
        "        size_gb: 6.95\n        repo_type: dataset\n        files: [a.json, 'b/*']\n",
    )
    models = models.replace("    vram_gb: 12\n", "    vram_gb: 12\n    secrets: [s1]\n")
    models = models.replace("    dtype: float16\n", "    dtype: float16\n    latency_target_s: 7\n")
    (root / "models.yaml").write_text(models)
    strategy = (root / "strategies" / "only.yml").read_text()
    (root / "strategies" / "only.yml").write_text(strategy + "goal: cheap\n")
    loaded = load_fleet(root)
    assert loaded.problems == []
    model = loaded.fleet.models["sdxl"]
    assert (model.weights[0].repo_type, model.weights[0].files) == ("dataset", ("a.json", "b/*"))
    assert (model.secrets, model.latency_target_s) == (("s1",), 7)
    assert loaded.fleet.strategies["only"].goal == "cheap"
