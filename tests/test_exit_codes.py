"""Exit codes where 2 means "changes" (Terraform): under plan --detailed-exitcode and in status a
usage error is an error, 1, so a CI step gating on 2 never mistakes a typo for drift. Elsewhere
a usage error stays 2."""

from __future__ import annotations

import pytest
from conftest import REPO, run_cli, run_subprocess

USAGE_ERRORS = [
    pytest.param(["--strategy", "hybird"], "unknown strategy 'hybird'", id="unknown-strategy"),
    pytest.param(
        ["--strategy", "hybrid", "--bogus"], "No such option '--bogus'", id="unknown-flag"
    ),
    pytest.param(
        ["--strategy", "hybrid", "--format", "xml"], "'xml' is not one of", id="bad-choice"
    ),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_a_usage_error_in_status_exits_1(args, message, monkeypatch):
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-test")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-test")
    result = run_cli("status", *args, root=REPO)
    assert result.exit_code == 1, result.text
    assert message in result.stderr


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_a_usage_error_in_plan_detailed_exitcode_exits_1(args, message):
    result = run_cli("plan", "--detailed-exitcode", *args, root=REPO)
    assert result.exit_code == 1, result.text
    assert message in result.stderr


def test_the_flag_counts_wherever_it_stands():
    result = run_cli("plan", "--strategy", "hybird", "--detailed-exitcode", root=REPO)
    assert result.exit_code == 1
    result = run_cli(
        "plan",
        "--strategy",
        "hybrid",
        "--against",
        "HEAD",
        "--from-strategy",
        "baseline",
        "--detailed-exitcode",
        root=REPO,
    )
    assert result.exit_code == 1
    assert "use --against REF or --from-strategy T, not both" in result.stderr


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_without_detailed_exitcode_a_plan_usage_error_stays_2(args, message):
    result = run_cli("plan", *args, root=REPO)
    assert result.exit_code == 2, result.text
    assert message in result.stderr


@pytest.mark.parametrize("command", ["validate", "render", "cost", "deploy", "optimize"])
def test_other_commands_keep_2_for_usage_errors(command):
    result = run_cli(command, "--bogus", root=REPO)
    assert result.exit_code == 2
    assert "No such option '--bogus'" in result.stderr


def test_an_unknown_command_is_2():
    assert run_cli("statsu").exit_code == 2


def test_the_installed_entry_point_maps_them_the_same_way():
    # Through the real process exit status, not the in-process runner.
    assert run_subprocess("status", "--strategy", "hybird").returncode == 1
    assert run_subprocess("plan", "--strategy", "hybird", "--detailed-exitcode").returncode == 1
    assert run_subprocess("plan", "--strategy", "hybird").returncode == 2
