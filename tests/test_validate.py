"""The bundled fleet and the validate/gpus commands: values, positions, formats, exit codes."""

from __future__ import annotations

import json
import re
import shutil
from decimal import Decimal

import pytest
from conftest import copy_fleet, run_cli, run_subprocess
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
from modalfleet.fleet.resolve import resolve
from modalfleet.fleet.sizes import loaded_weights_gb
from modalfleet.fleet.yamlread import parse_yaml


def _line_of(path, needle: str) -> int:
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in {path}")


def test_bundled_fleet_has_only_the_expected_warnings(repo_root):
    loaded, problems = validate(repo_root)
    line = _line_of(
        repo_root / "models.yaml",
        "gpu: {baseline: L40S, cost-optimized: T4, performance-optimized: A10, hybrid: [T4, L4]}",
    )
    text = (repo_root / "models.yaml").read_text().splitlines()[line - 1]
    # Flux Schnell is bf16 and the seed puts it on a T4 under cost-optimized and hybrid.
    expected = {
        ("dtype-support", "warning", "models.yaml", line, text.index("T4") + 1),
        ("dtype-support", "warning", "models.yaml", line, text.index("[T4") + 2),
    }
    assert {(p.code, p.severity, p.file, p.line, p.column) for p in problems} == expected
    assert all("flux-schnell" in p.message for p in problems)


def test_bundled_fleet_reproduces_the_seed_tables(repo_root):
    fleet = load_fleet(repo_root).fleet
    assert list(fleet.models) == [
        "flux-schnell",
        "flux-dev",
        "instantid",
        "lora",
        "wan2-1",
        "seedvr2",
    ]
    assert set(fleet.strategies) == {
        "baseline",
        "cost-optimized",
        "performance-optimized",
        "hybrid",
    }
    prices = {name: gpu.usd_per_second for name, gpu in fleet.catalog.gpus.items()}
    assert prices["T4"] == Decimal("0.000164")
    assert prices["L40S"] == Decimal("0.000542")
    assert prices["H100"] == Decimal("0.001097")
    assert fleet.catalog.gpus["T4"].bf16 is False
    gpus = {s: [d.primary_gpu for d in resolve(fleet, s)] for s in fleet.strategies}
    assert gpus["baseline"] == ["L40S"] * 6
    assert gpus["cost-optimized"] == ["T4", "L40S", "A10", "T4", "L40S", "A10"]
    assert gpus["performance-optimized"] == ["A10", "L40S", "L40S", "A10", "A100-80GB", "L40S"]
    assert gpus["hybrid"] == ["T4", "L40S", "A10", "T4", "L40S", "A10"]
    traffic = {
        m.name: (m.traffic.requests_per_day, m.traffic.seconds_per_request)
        for m in fleet.models.values()
    }
    assert (
        traffic["flux-schnell"] == (400, 10)
        and traffic["lora"] == (100, 10)
        and traffic["wan2-1"][0] == 0
    )


def test_flux_schnell_fits_a_t4_only_through_its_quantization(repo_root):
    fleet = load_fleet(repo_root).fleet
    schnell = fleet.models["flux-schnell"]
    assert schnell.quantization == {"transformer": "nf4", "text_encoder_2": "int8"}
    # 23.8 x 0.28 + 9.52 x 0.5 + 0.25 + 0.17 = 11.84 GB of weights within the seed's 12 GB.
    assert loaded_weights_gb(schnell) == 11.84
    assert loaded_weights_gb(fleet.models["flux-dev"]) == 33.74


def test_validate_json_lists_problems_with_every_field(repo_root):
    result = run_cli("validate", "--format", "json", root=repo_root)
    assert result.exit_code == 0
    rows = json.loads(result.output)
    assert len(rows) == 2
    assert set(rows[0]) == {"code", "severity", "file", "line", "column", "message", "hint"}
    assert rows[0]["code"] == "dtype-support"


def test_strict_turns_warnings_into_failure(repo_root):
    assert run_cli("validate", "--strict", root=repo_root).exit_code == 1


def test_strategy_filter_and_unknown_strategy(repo_root):
    baseline = run_cli("validate", "--strategy", "baseline", "--format", "json", root=repo_root)
    assert baseline.exit_code == 0 and json.loads(baseline.output) == []
    unknown = run_cli("validate", "--strategy", "cheapest", root=repo_root)
    assert unknown.exit_code == 2
    assert "known: baseline, cost-optimized, hybrid, performance-optimized" in unknown.stderr


def test_flux_dev_on_t4_fails_vram_fit_at_the_gpu_value(fleet_dir):
    models = fleet_dir / "models.yaml"
    old = "gpu: {baseline: L40S, cost-optimized: L40S, performance-optimized: L40S, hybrid: L40S}"
    new = "gpu: {baseline: L40S, cost-optimized: T4, performance-optimized: L40S, hybrid: L40S}"
    models.write_text(models.read_text().replace(old, new, 1))
    line = _line_of(models, new)
    column = models.read_text().splitlines()[line - 1].index("T4") + 1
    result = run_cli("validate", root=fleet_dir)
    assert result.exit_code == 1
    assert (
        f"models.yaml:{line}:{column}: error[vram-fit] flux-dev needs 36 GB but T4 (strategy cost-optimized) has 16 GB"
        in result.output
    )
    assert (
        "hint: use a GPU with >= 36 GB (A100-40GB 40 GB at $2.00/h, L40S 48 GB at $1.95/h)"
        not in result.output
    )
    assert (
        "hint: use a GPU with >= 36 GB (L40S 48 GB at $1.95/h, A100-40GB 40 GB at $2.00/h)"
        in result.output
    )


def test_gpu_aliases_are_normalised(fleet_dir):
    models = fleet_dir / "models.yaml"
    text = models.read_text().replace(
        "cost-optimized: A10, performance-optimized: L40S, hybrid: A10}",
        "cost-optimized: a10g, performance-optimized: L40S, hybrid: [A10G, l40s]}",
        1,
    )
    models.write_text(text)
    loaded, problems = validate(fleet_dir)
    assert not [p for p in problems if p.is_error]
    gpus = {d.model.name: d.gpus for d in resolve(loaded.fleet, "hybrid")}
    assert gpus["instantid"] == ("A10", "L40S")
    assert resolve(loaded.fleet, "cost-optimized")[2].gpus == ("A10",)


def test_gpus_command_text_and_json(repo_root):
    text = run_cli("gpus", root=repo_root)
    assert text.exit_code == 0
    lines = text.output.splitlines()
    assert lines[0].split() == ["GPU", "VRAM", "$/HOUR", "$/SECOND", "BF16", "FP8"]
    assert lines[1].split() == ["T4", "16", "GB", "$0.59", "$0.000164", "no", "no"]
    rows = json.loads(run_cli("gpus", "--format", "json", root=repo_root).output)
    t4 = next(row for row in rows if row["name"] == "T4")
    assert t4 == {
        "name": "T4",
        "vram_gb": 16.0,
        "usd_per_second": 0.000164,
        "usd_per_hour": 0.5904,
        "bf16": False,
        "fp8": False,
    }
    assert [row["name"] for row in rows][-3:] == ["H200", "B200", "RTX-PRO-6000"]


def test_gpus_reports_a_broken_catalog(fleet_dir):
    (fleet_dir / "gpus.yaml").write_text("version: 1\ngpus:\n  T4: {vram_gb: sixteen}\n")
    result = run_cli("gpus", root=fleet_dir)
    assert result.exit_code == 1
    assert "gpus.yaml:3:" in result.stderr and "Traceback" not in result.text


def test_missing_models_file_is_a_problem_not_a_traceback(fleet_dir):
    (fleet_dir / "models.yaml").unlink()
    shutil.rmtree(fleet_dir / "strategies")
    result = run_cli("validate", root=fleet_dir)
    assert result.exit_code == 1
    assert "models.yaml:1:1: error[missing-file]" in result.output
    assert "strategies/:1:1: error[missing-file] the strategies/ folder is missing" in result.output


def test_real_subprocess_from_repo_root(repo_root):
    completed = run_subprocess("validate")
    assert completed.returncode == 0, completed.stderr
    assert "ok: 6 models, 4 strategies, 10 GPUs" in completed.stdout
    assert "0 error(s), 2 warning(s)" in completed.stdout


def test_validate_does_not_import_heavy_modules(repo_root):
    code = (
        "import sys; from modalfleet.cli import main; "
        f"main(['validate', '--root', {str(repo_root)!r}]); "
        "print([m for m in ('modal', 'torch', 'rich', 'diffusers') if m in sys.modules])"
    )
    completed = run_subprocess_code(code)
    assert completed.stdout.strip().endswith("[]"), completed.stdout + completed.stderr


def run_subprocess_code(code: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)


def test_a_model_naming_a_strategy_with_no_file_gets_the_file_to_create(fleet_dir):
    models = fleet_dir / "models.yaml"
    text = models.read_text()
    models.write_text(text.replace("hybrid: [T4, L4]}", "hybrid: T4, fast: A10}", 1))
    result = run_cli("validate", root=fleet_dir)
    assert result.exit_code == 1
    lines = result.output.splitlines()
    start = lines.index(
        "models.yaml:53:87: error[strategy-coverage] flux-schnell names unknown strategy 'fast'"
    )
    assert lines[start + 1 : start + 6] == [
        "  hint: create strategies/fast.yaml:",
        "    version: 1",
        "    name: fast",
        "    compare_to: baseline",
        "    containers: {min_containers: 0, max_containers: 10, scaledown_window_s: 300, timeout_s: 600}",
    ]
    # The skeleton is a valid strategy file: written as the hint says, that error is gone and
    # what is left is giving the other models a GPU under it.
    skeleton = "\n".join(line[4:] for line in lines[start + 2 : start + 6]) + "\n"
    (fleet_dir / "strategies" / "fast.yaml").write_text(skeleton)
    after = json.loads(run_cli("validate", "--format", "json", root=fleet_dir).output)
    assert {p["code"] for p in after if p["severity"] == "error"} == {"strategy-coverage"}
    assert all(
        "has no GPU for strategy 'fast'" in p["message"] for p in after if p["severity"] == "error"
    )
    assert len([p for p in after if p["severity"] == "error"]) == 5  # the other five models


def test_a_misspelt_strategy_gets_a_did_you_mean_before_the_skeleton(fleet_dir):
    models = fleet_dir / "models.yaml"
    models.write_text(models.read_text().replace("hybrid: [T4, L4]}", "hybird: T4}", 1))
    problems = json.loads(run_cli("validate", "--format", "json", root=fleet_dir).output)
    unknown = next(p for p in problems if "unknown strategy" in p["message"])
    assert unknown["hint"].startswith(
        "did you mean 'hybrid'? If not, create strategies/hybird.yaml:\nversion: 1\nname: hybird\n"
    )


def test_a_deleted_strategy_file_shows_its_skeleton_once(fleet_dir):
    """strategies/hybrid.yaml deleted: six models name it. The file to create is shown under
    the first; the other five point there in one line each."""
    (fleet_dir / "strategies" / "hybrid.yaml").unlink()
    result = run_cli("validate", root=fleet_dir)
    assert result.exit_code == 1
    errors = [line for line in result.output.splitlines() if "error[" in line or "hint:" in line]
    hints = [line for line in errors if "hint: create" in line]
    assert hints[0] == "  hint: create strategies/hybrid.yaml:"
    assert result.output.count("    name: hybrid") == 1
    assert hints[1:] == ["  hint: create strategies/hybrid.yaml (the hint at models.yaml:53)"] * 5
    assert [line.split(" error")[0] for line in errors if "error[" in line] == [
        "models.yaml:53:75:",
        "models.yaml:75:78:",
        "models.yaml:112:77:",
        "models.yaml:142:75:",
        "models.yaml:164:83:",
        "models.yaml:193:77:",
    ]
    assert result.output.endswith("6 error(s), 1 warning(s)\n")


def test_a_root_that_does_not_exist_is_one_problem(tmp_path):
    missing = tmp_path / "nowhere"
    result = run_cli("validate", root=missing)
    assert result.exit_code == 1
    assert result.output == (
        f"{missing}/:1:1: error[missing-file] the fleet folder {missing} does not exist\n"
        "  hint: give the folder that holds models.yaml, gpus.yaml and strategies/ "
        "(--root DIR; `modalfleet init DIR` starts a new one)\n"
        "1 error(s), 0 warning(s)\n"
    )
    problems = json.loads(run_cli("validate", "--format", "json", root=missing).output)
    assert [(p["code"], p["file"], p["line"], p["column"]) for p in problems] == [
        ("missing-file", f"{missing}/", 1, 1)
    ]


def test_yaml_syntax_errors_in_our_words(fleet_dir):
    """A key without its colon and a line indented to no level: our message, where the fix
    goes (file:line:col), and a hint; never PyYAML's 'while scanning a simple key'."""
    hybrid = fleet_dir / "strategies" / "hybrid.yaml"
    original = hybrid.read_text()
    hybrid.write_text(original.replace("containers:\n", "containers\n", 1))
    line = _line_of(hybrid, "containers")
    result = run_cli("validate", root=fleet_dir)
    assert result.exit_code == 1
    assert result.output.splitlines()[:2] == [
        f"strategies/hybrid.yaml:{line}:11: error[yaml-syntax] 'containers' has no ':' after "
        "it: every line of a mapping is `key: value`",
        "  hint: write `containers:`, or indent the line under the key above if it continues "
        "that key's value",
    ]
    hybrid.write_text(original.replace("  timeout_s: 600\n", " timeout_s: 600\n", 1))
    line = _line_of(hybrid, " timeout_s: 600")
    result = run_cli("validate", root=fleet_dir)
    assert result.output.splitlines()[:2] == [
        f"strategies/hybrid.yaml:{line}:2: error[yaml-syntax] bad indentation: this line "
        "starts at column 2, which lines up with no key or list item above it",
        "  hint: start it at column 1 or 3, as the keys above it do; spaces only",
    ]
    assert "while parsing" not in result.output


@pytest.mark.parametrize("kind", ["fifo", "device"])
def test_a_fleet_file_that_never_ends_is_refused_not_read(fleet_dir, kind):
    """A strategy file that is a FIFO, or a link to /dev/zero (a pull request can commit one):
    validate and render --check name it at once, where reading would block or never end. A
    real process with a timeout, so a regression fails instead of hanging."""
    import os

    path = fleet_dir / "strategies" / "zero.yaml"
    if kind == "fifo":
        os.mkfifo(path)
        what = "a FIFO (named pipe)"
    else:
        path.symlink_to("/dev/zero")
        what = "a character device"
    for args in (["validate"], ["render", "--check"]):
        result = run_subprocess(*args, "--root", str(fleet_dir), timeout=60)
        assert result.returncode == 1, result.stderr
        assert (
            f"strategies/zero.yaml:1:1: error[missing-file] cannot read strategies/zero.yaml: "
            f"it is {what}, not a regular file"
        ) in result.stdout + result.stderr


def test_loading_pauses_the_garbage_collector_and_restores_it(repo_root, monkeypatch):
    import gc

    from modalfleet.fleet import load as load_module

    seen = []
    real = load_module._load_fleet
    monkeypatch.setattr(
        load_module, "_load_fleet", lambda root: seen.append(gc.isenabled()) or real(root)
    )
    assert gc.isenabled()
    assert load_fleet(repo_root).ok
    assert seen == [False] and gc.isenabled()  # paused while loading, running again after
    gc.disable()
    try:
        load_fleet(repo_root)
        assert not gc.isenabled()  # a caller that had paused it keeps it paused
    finally:
        gc.enable()


# --- exact VRAM fits, vram_headroom_gb, a fixed container pool, a LoRA default adapter that names a
# weights entry which is not an adapter.


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
