"""The bundled fleet and the validate/gpus commands: values, positions, formats, exit codes."""

from __future__ import annotations

import json
import shutil
from decimal import Decimal

import pytest
from conftest import run_cli, run_subprocess

from modalfleet.fleet.checks import validate
from modalfleet.fleet.load import load_fleet
from modalfleet.fleet.resolve import resolve
from modalfleet.fleet.sizes import loaded_weights_gb


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
