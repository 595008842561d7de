"""Warnings acknowledged in models.yaml: shown with their reason, hidden by --quiet, summed up by
validate in one line, not failing --strict; and every command shows a warning once."""

from __future__ import annotations

import json

from conftest import run_cli

SCHNELL_GPU = "    gpu: {baseline: L40S, cost-optimized: T4, performance-optimized: A10, hybrid: [T4, L4]}  # L4 if no T4 is free\n"
REASON = "Turing has no bf16; float16 output checked by eye on the T4"
WARNING = "warning[dtype-support] flux-schnell is bfloat16 but T4"


def acknowledge(fleet_dir, entry: str = f'{{code: dtype-support, reason: "{REASON}"}}') -> None:
    models = fleet_dir / "models.yaml"
    text = models.read_text()
    assert text.splitlines(keepends=True)[52] == SCHNELL_GPU  # flux-schnell's, line 53
    new = SCHNELL_GPU + f"    acknowledge: [{entry}]\n"
    models.write_text(text.replace(SCHNELL_GPU, new, 1))


def test_acknowledged_warnings_show_their_reason_and_a_summary(fleet_dir):
    acknowledge(fleet_dir)
    result = run_cli("validate", root=fleet_dir)
    assert result.exit_code == 0, result.text
    lines = result.output.splitlines()
    assert lines[0].startswith(f"models.yaml:53:43: {WARNING} (strategy cost-optimized)")
    assert lines[2] == f"  acknowledged: {REASON}"
    assert lines[5] == f"  acknowledged: {REASON}"
    assert lines[6:] == [
        "0 error(s), 2 warning(s)",
        "2 acknowledged warning(s): flux-schnell dtype-support x2 (--quiet hides them)",
        "ok: 6 models, 4 strategies, 10 GPUs",
    ]


def test_quiet_hides_acknowledged_warnings_but_keeps_the_summary_line(fleet_dir):
    acknowledge(fleet_dir)
    expected = [
        "2 acknowledged warning(s): flux-schnell dtype-support x2 (hidden by --quiet)",
        "ok: 6 models, 4 strategies, 10 GPUs",
    ]
    assert run_cli("validate", "--quiet", root=fleet_dir).output.splitlines() == expected
    assert run_cli("--quiet", "validate", root=fleet_dir).output.splitlines() == expected


def test_quiet_keeps_warnings_nobody_acknowledged(fleet_dir):
    result = run_cli("validate", "--quiet", root=fleet_dir)
    assert result.output.count(WARNING) == 2
    assert "acknowledged" not in result.output


def test_strict_fails_only_on_unacknowledged_warnings(fleet_dir):
    assert run_cli("validate", "--strict", root=fleet_dir).exit_code == 1
    acknowledge(fleet_dir)
    assert run_cli("validate", "--strict", root=fleet_dir).exit_code == 0


def test_json_lists_every_problem_acknowledged_or_not(fleet_dir):
    before = run_cli("validate", "--format", "json", root=fleet_dir).output
    acknowledge(fleet_dir)
    after = json.loads(run_cli("validate", "--quiet", "--format", "json", root=fleet_dir).output)
    assert [p["code"] for p in after] == ["dtype-support", "dtype-support"]
    assert after == json.loads(before)  # same problems, same keys, same positions
    assert set(after[0]) == {"code", "severity", "file", "line", "column", "message", "hint"}


def test_an_acknowledgement_needs_a_known_code_and_a_reason(fleet_dir):
    acknowledge(fleet_dir, "{code: vram-fit, reason: too big}")
    result = run_cli("validate", "--format", "json", root=fleet_dir)
    assert result.exit_code == 1
    (found,) = [p for p in json.loads(result.output) if p["code"] == "schema"]
    assert (found["line"], found["column"]) == (54, 26)  # the code value
    models = fleet_dir / "models.yaml"
    text = models.read_text().replace("{code: vram-fit, reason: too big}", "{code: dtype-support}")
    models.write_text(text)
    assert run_cli("validate", root=fleet_dir).exit_code == 1


def test_deploy_dry_run_shows_each_warning_once_and_quiet_hides_acknowledged(fleet_dir):
    dry_run = ("deploy", "--strategy", "hybrid", "--dry-run")
    result = run_cli(*dry_run, root=fleet_dir)
    assert result.exit_code == 0, result.text
    assert result.stderr.count(WARNING) == 1  # hybrid's one T4 warning, printed once
    acknowledge(fleet_dir)
    assert run_cli(*dry_run, root=fleet_dir).stderr.count(f"  acknowledged: {REASON}") == 1
    quiet = run_cli("--quiet", *dry_run, root=fleet_dir)
    assert quiet.exit_code == 0
    # Only what the dry run itself says is left: that a real run needs a token, and that it ended.
    assert [line.split(":")[0] for line in quiet.stderr.splitlines()] == ["note", "dry run"]


def test_a_warning_is_printed_once_however_often_a_command_loads_the_fleet(fleet_dir, capsys):
    from modalfleet.cli import common, term

    term.reset()
    common.load_valid_fleet(fleet_dir, "hybrid", show_warnings=False)  # silent: nothing recorded
    common.load_valid_fleet(fleet_dir, "hybrid")
    common.load_valid_fleet(fleet_dir, "hybrid")
    common.load_valid_fleet(fleet_dir)  # adds cost-optimized's warning, not hybrid's again
    err = capsys.readouterr().err
    assert err.count(f"{WARNING} (strategy hybrid)") == 1
    assert err.count(f"{WARNING} (strategy cost-optimized)") == 1
    term.reset()
