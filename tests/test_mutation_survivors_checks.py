"""Behaviours of fleet loading and checks that mutation testing found unpinned (issue 18):
exact VRAM fits, vram_headroom_gb, a fixed container pool, a LoRA default adapter that names a
weights entry which is not an adapter."""

from __future__ import annotations

import re

import pytest
from conftest import copy_fleet
from test_cost import edit

from modalfleet.economics.plan import sides
from modalfleet.fleet.checks import (
    cheapest_fitting,
    check_secrets,
    did_you_mean,
    fit_hint,
    name_problem,
    validate,
)
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.yamlread import parse_yaml

FLUX_DEV_GPUS = (
    "gpu: {baseline: L40S, cost-optimized: L40S, performance-optimized: L40S, hybrid: L40S}"
)


def _line_col(path, needle: str, word: str) -> tuple[int, int]:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number, line.index(word) + 1
    raise AssertionError(f"{needle!r} not in {path}")


def _problems(root):
    return [(p.code, p.file, p.line, p.column, p.message, p.hint) for p in validate(root)[1]]


def _errors(root):
    return [p for p in validate(root)[1] if p.is_error]


def test_a_model_needing_exactly_the_gpus_vram_fits(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    edit(fleet / "models.yaml", "vram_gb: 36", "vram_gb: 48")  # flux-dev, on an L40S (48 GB)
    assert _errors(fleet) == []
    side = sides(load_fleet(fleet).fleet, "hybrid")["flux-dev"]
    assert (side.need_gb, side.smallest_vram_gb, side.fits) == (48.0, 48.0, True)
    assert side.vram_text == "48/48 GB fits"


def test_a_model_needing_a_gb_more_than_the_gpu_does_not_fit(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    edit(fleet / "models.yaml", "vram_gb: 36", "vram_gb: 49")
    line, _ = _line_col(fleet / "models.yaml", FLUX_DEV_GPUS, "L40S")
    columns = [match.start() + 1 for match in re.finditer("L40S", FLUX_DEV_GPUS)]
    columns = [column + 4 for column in columns]  # the line's 4-space indent
    errors = _errors(fleet)
    assert [(p.code, p.line, p.column) for p in errors] == [("vram-fit", line, c) for c in columns]
    assert errors[0].message == "flux-dev needs 49 GB but L40S (strategy baseline) has 48 GB"
    assert (
        errors[0].hint
        == "use a GPU with >= 49 GB (A100-80GB 80 GB at $2.50/h, RTX-PRO-6000 96 GB at $3.03/h)"
    )
    side = sides(load_fleet(fleet).fleet, "hybrid")["flux-dev"]
    assert (side.fits, side.vram_text) == (False, "49/48 GB DOES NOT FIT")


def test_the_cheapest_fitting_hint_includes_a_gpu_of_exactly_the_need(repo_root):
    catalog = load_fleet(repo_root).fleet.catalog
    assert [gpu.name for gpu in cheapest_fitting(catalog, 40)] == ["L40S", "A100-40GB"]
    assert [gpu.name for gpu in cheapest_fitting(catalog, 40, count=3)] == [
        "L40S",
        "A100-40GB",
        "A100-80GB",
    ]
    assert fit_hint(catalog, 40) == (
        "use a GPU with >= 40 GB (L40S 48 GB at $1.95/h, A100-40GB 40 GB at $2.00/h)"
    )
    assert fit_hint(catalog, 500) == (
        "no GPU in gpus.yaml has 500 GB; quantize the model or lower vram_gb"
    )


def test_vram_headroom_is_added_to_every_models_need(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    models = fleet / "models.yaml"
    edit(models, "defaults:\n", "defaults:\n  vram_headroom_gb: 4\n")
    loaded = load_fleet(fleet)
    assert loaded.fleet.vram_headroom_gb == 4.0
    # flux-schnell and lora need 12 + 4 GB: exactly their T4's 16 GB, still a fit.
    assert _errors(fleet) == []
    assert sides(loaded.fleet, "hybrid")["lora"].vram_text == "16/16 GB fits"
    edit(models, "vram_headroom_gb: 4", "vram_headroom_gb: 5")
    line, _ = _line_col(models, "hybrid: [T4, L4]}", "T4")
    text = models.read_text().splitlines()[line - 1]
    errors = _errors(fleet)
    assert [(p.code, p.line, p.column, p.message) for p in errors[:2]] == [
        (
            "vram-fit",
            line,
            text.index("T4") + 1,
            "flux-schnell needs 17 GB but T4 (strategy cost-optimized) has 16 GB",
        ),
        (
            "vram-fit",
            line,
            text.index("[T4") + 2,
            "flux-schnell needs 17 GB but T4 (strategy hybrid) has 16 GB",
        ),
    ]
    assert [p.message.split(" needs")[0] for p in errors] == ["flux-schnell"] * 2 + ["lora"] * 2
    assert {p.hint for p in errors} == {
        "use a GPU with >= 17 GB (L4 24 GB at $0.80/h, A10 24 GB at $1.10/h)"
    }


def test_a_fixed_container_pool_is_valid(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    edit(fleet / "strategies/hybrid.yaml", "min_containers: 0", "min_containers: 10")
    assert _errors(fleet) == []
    edit(fleet / "strategies/hybrid.yaml", "min_containers: 10", "min_containers: 11")
    line, column = _line_col(fleet / "strategies/hybrid.yaml", "min_containers: 11", "11")
    assert [(p.code, p.file, p.line, p.column, p.message, p.hint) for p in _errors(fleet)] == [
        (
            "schema",
            "strategies/hybrid.yaml",
            line,
            column,
            "strategy hybrid: min_containers 11 is above max_containers 10",
            "min_containers must be <= max_containers",
        )
    ]


def test_a_models_fixed_container_pool_is_valid(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    models = fleet / "models.yaml"
    # cost-optimized allows 5 containers, baseline and hybrid 10, performance-optimized 20.
    edit(models, "    vram_gb: 36\n", "    vram_gb: 36\n    containers: {min_containers: 5}\n")
    assert _errors(fleet) == []
    edit(models, "containers: {min_containers: 5}", "containers: {min_containers: 6}")
    line, column = _line_col(models, "containers: {min_containers: 6}", "{")
    assert [(p.code, p.line, p.column, p.message) for p in _errors(fleet)] == [
        (
            "schema",
            line,
            column,
            "flux-dev under strategy cost-optimized: min_containers 6 is above max_containers 5",
        )
    ]


def test_a_broken_strategy_is_reported_once_not_again_under_each_model(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    edit(fleet / "strategies/baseline.yaml", "min_containers: 0", "min_containers: 11")
    edit(
        fleet / "models.yaml",
        "    vram_gb: 36\n",
        "    vram_gb: 36\n    containers: {min_containers: 11}\n",
    )
    # baseline is broken on its own (reported once); the model is then checked against the
    # next strategy, cost-optimized (max 5).
    assert sorted(p.message for p in _errors(fleet)) == [
        "flux-dev under strategy cost-optimized: min_containers 11 is above max_containers 5",
        "strategy baseline: min_containers 11 is above max_containers 10",
    ]


def test_a_lora_default_adapter_must_name_an_adapter_not_another_weights_entry(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    models = fleet / "models.yaml"
    edit(
        models,
        "        revision: 207b116dae70ace3637169f1ddd2434b91b3a8cd\n        role: vae\n        size_gb: 0.17\n        files",
        "        revision: 207b116dae70ace3637169f1ddd2434b91b3a8cd\n        role: vae\n        name: pixel-vae\n        size_gb: 0.17\n        files",
    )
    assert _errors(fleet) == []  # a named vae is fine while the default names the adapter
    edit(models, "adapter: pixel-art, adapter_scale", "adapter: pixel-vae, adapter_scale")
    line, column = _line_col(models, "adapter: pixel-vae, adapter_scale", "pixel-vae")
    assert [(p.code, p.line, p.column, p.message, p.hint) for p in _errors(fleet)] == [
        (
            "params",
            line,
            column,
            "lora: default adapter 'pixel-vae' is not among its adapters",
            "did you mean 'pixel-art'?",
        )
    ]


def _secret_messages(value: str) -> list[tuple]:
    doc, problems = parse_yaml(f"a:\n  b: x {value}\n".encode(), "models.yaml")
    assert problems == []
    return [(p.code, p.line, p.column, p.message, p.hint) for p in check_secrets([doc])]


@pytest.mark.parametrize(
    ("prefix", "length", "what"),
    [
        ("hf_", 30, "a Hugging Face token"),
        ("sk-", 20, "an API key (sk-...)"),
        ("ghp_", 30, "a GitHub token"),
        ("github_pat_", 30, "a GitHub token"),
        ("ak-", 20, "a Modal token"),
        ("as-", 20, "a Modal token"),
    ],
)
def test_credential_patterns_at_their_shortest(prefix, length, what):
    assert _secret_messages(prefix + "a" * length) == [
        (
            "secret-literal",
            2,
            6,
            f"a.b looks like {what}; credentials must not be written in YAML",
            "store it in a Modal Secret (modal secret create NAME KEY=...) and list the secret's name under secrets:",
        )
    ]
    assert _secret_messages(prefix + "a" * (length - 1)) == []


def test_aws_keys_and_long_random_keys_at_their_boundaries():
    assert [m[3] for m in _secret_messages("AKIA" + "A" * 16)] == [
        "a.b looks like an AWS access key; credentials must not be written in YAML"
    ]
    assert _secret_messages("AKIA" + "A" * 15) == []
    assert [m[3] for m in _secret_messages("aB3" + "c" * 37)] == [
        "a.b looks like a long random key; credentials must not be written in YAML"
    ]
    assert _secret_messages("aB3" + "c" * 36) == []  # 39 characters
    assert _secret_messages("ab3" + "c" * 40) == []  # no capital: a word or a hex commit
    assert _secret_messages("AB3" + "C" * 40) == []  # no lowercase
    assert _secret_messages("aBc" + "c" * 40) == []  # no digit
    assert _secret_messages("aB3" + "c" * 30 + "--" + "c" * 10) == []  # a slug, not a key


def test_name_rules_and_their_length_limit():
    assert name_problem("a" * 60) is None
    assert name_problem("a" * 61) == "is longer than 60 characters"
    assert name_problem("class") == "maps to the Python keyword 'class'"
    assert name_problem("Bad") == (
        "must be lowercase letters, digits and single hyphens, starting with a letter"
    )
    assert did_you_mean("hybird", ["baseline", "hybrid"]) == "did you mean 'hybrid'?"
    assert did_you_mean("zzz", ["baseline", "hybrid"]) == "known: baseline, hybrid"


def _error_rows(root) -> list[tuple]:
    return [(p.code, p.file, p.line, p.column, p.message, p.hint) for p in _errors(root)]


def test_weights_that_fit_the_declared_vram_but_not_the_gpu(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    models = fleet / "models.yaml"
    edit(models, "    vram_gb: 36\n", "    vram_gb: 20\n")  # flux-dev's weights are 33.74 GB
    edit(models, FLUX_DEV_GPUS, FLUX_DEV_GPUS.replace("hybrid: L40S", "hybrid: A10"))
    vram_line, vram_column = _line_col(models, "    vram_gb: 20", "20")
    gpu_line, gpu_column = _line_col(models, "hybrid: A10}", "A10}")
    assert _error_rows(fleet) == [
        (
            "weights-size",
            "models.yaml",
            vram_line,
            vram_column,
            "flux-dev loads 33.74 GB of weights (after quantization) but declares vram_gb 20",
            "raise vram_gb to weights + activations, or declare quantization",
        ),
        (
            "weights-size",
            "models.yaml",
            gpu_line,
            gpu_column,
            "flux-dev's weights (33.74 GB) do not fit A10 (24 GB)",
            "use a GPU with >= 33.74 GB (L40S 48 GB at $1.95/h, A100-40GB 40 GB at $2.00/h)",
        ),
    ]


def test_compare_to_an_unknown_strategy(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    edit(fleet / "strategies/hybrid.yaml", "compare_to: baseline", "compare_to: basline")
    line, column = _line_col(fleet / "strategies/hybrid.yaml", "compare_to:", "basline")
    assert _error_rows(fleet) == [
        (
            "strategy-coverage",
            "strategies/hybrid.yaml",
            line,
            column,
            "compare_to names unknown strategy 'basline'",
            "did you mean 'baseline'?",
        )
    ]


def test_an_adapter_needs_a_name_and_a_lora_model(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    models = fleet / "models.yaml"
    edit(models, "        role: adapter\n        name: pixel-art\n", "        role: adapter\n")
    rows = _error_rows(fleet)
    assert [row[:2] + row[4:5] for row in rows] == [
        (
            "weights-role",
            "models.yaml",
            "lora: an adapter needs a name (selected per request by name)",
        ),
        ("params", "models.yaml", "lora: default adapter 'pixel-art' is not among its adapters"),
    ]
    # The nameless adapter is reported at its weights entry (its "- repo:" line).
    line, column = _line_col(models, "- repo: nerijs/pixel-art-xl", "repo")
    assert rows[0][2:4] == (line, column)


def test_adapters_belong_to_lora_models_only(tmp_path):
    fleet = copy_fleet(tmp_path / "fleet", with_generated=False)
    models = fleet / "models.yaml"
    vae = "        role: vae\n        size_gb: 0.17\n"
    text = models.read_text()
    first = text.index(vae)  # instantid's fp16-safe VAE comes first
    models.write_text(
        text[:first]
        + "        role: adapter\n        name: x\n        size_gb: 0.17\n"
        + text[first + len(vae) :]
    )
    line = models.read_text()[:first].count("\n") + 1
    assert _error_rows(fleet) == [
        (
            "weights-role",
            "models.yaml",
            line,
            15,
            "instantid: adapters are only used by kind lora",
            "",
        )
    ]


def test_the_length_below_which_secrets_are_not_searched_is_every_patterns_shortest_match():
    from modalfleet.fleet import checks

    shortest = min(
        re._parser.parse(pattern.pattern).getwidth()[0]
        for pattern in [*(p for p, _ in checks.CREDENTIAL_PATTERNS), checks.BASE64_RE]
    )
    assert checks.SHORTEST_CREDENTIAL == shortest == 20


@pytest.mark.parametrize("value", ["AKIA" + "B" * 16, "hf_" + "a" * 30])
def test_a_credential_that_is_the_whole_string_is_found(value):
    doc, problems = parse_yaml(f"a:\n  b: {value}\n".encode(), "models.yaml")
    assert problems == []
    assert [(p.code, p.line, p.column) for p in check_secrets([doc])] == [("secret-literal", 2, 6)]
