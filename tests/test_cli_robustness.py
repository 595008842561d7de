"""Hostile use of the CLI: each case once broke the contract (exit 0/1/2, a one-line reason,
no traceback, no "internal error" from main()'s safety net, nothing half-written).
"""

from __future__ import annotations

import pytest
from conftest import run_cli

NO_MODAL = ("MODAL_TOKEN_ID", "MODAL_TOKEN_SECRET", "MODAL_PROFILE", "MODAL_SERVER_URL")


@pytest.fixture
def no_credentials(tmp_path, monkeypatch):
    for name in NO_MODAL:
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(home / ".modal.toml"))


def assert_clean(result, exit_code: int) -> None:
    assert result.exit_code == exit_code, result.text
    assert "Traceback" not in result.text
    assert "internal error" not in result.text


@pytest.mark.parametrize("since", ["99999999999w", "1000000d", "999999999999999999999h"])
def test_spend_since_beyond_the_calendar_is_a_usage_error(since, no_credentials):
    result = run_cli("spend", "--since", since)
    assert_clean(result, 2)
    assert "reaches back before the year 1" in result.stderr


def test_deploy_render_into_an_unwritable_generated_is_a_preflight_failure(
    fleet_dir, no_credentials
):
    # A folder where the render lock must go: the lock cannot be taken, even as root, and a
    # state file that is not a regular file is refused by name (fleet/statefile.py).
    models = fleet_dir / "models.yaml"
    models.write_text(models.read_text().replace("steps: 4, guidance", "steps: 5, guidance"))
    lock = fleet_dir / "generated" / ".render.lock"
    lock.mkdir()
    before = {p: p.read_bytes() for p in (fleet_dir / "generated").rglob("*.py")}

    result = run_cli("deploy", "--strategy", "hybrid", "--render", root=fleet_dir)

    assert_clean(result, 1)
    assert (
        f"error: {lock} is a folder, not a regular file; modalfleet keeps its state only in real "
        "files and folders and does not follow links (remove it; modalfleet makes it again)"
    ) in result.stderr
    assert {p: p.read_bytes() for p in (fleet_dir / "generated").rglob("*.py")} == before


@pytest.mark.parametrize("flag", ["--timeout", "--backoff"])
def test_deploy_rejects_nan_seconds(flag, fleet_dir, no_credentials):
    result = run_cli("deploy", "--strategy", "hybrid", "--dry-run", flag, "nan", root=fleet_dir)
    assert_clean(result, 2)
    assert f"Invalid value for '{flag}': nan is not a number of seconds" in result.stderr


def test_bench_write_into_an_unwritable_folder_is_an_edit_error(fleet_dir, monkeypatch):
    from modalfleet.fleet import atomic, yamledit

    def read_only_folder(*_, dir=None, **__):
        raise PermissionError(13, "Permission denied", str(dir))

    models = fleet_dir / "models.yaml"
    before = models.read_text()
    monkeypatch.setattr(atomic.tempfile, "mkstemp", read_only_folder)
    with pytest.raises(yamledit.EditError) as caught:
        yamledit.write_measured_seconds(models, "lora", {"T4": 4.0})
    assert str(caught.value) == f"cannot write {models}: Permission denied"
    assert models.read_text() == before


@pytest.mark.parametrize(
    "args",
    [
        ("status",),
        ("spend",),
        ("deploy", "--strategy", "hybrid", "--model", "lora", "--retries", "0"),
        ("bench", "--model", "lora", "--gpus", "T4", "--requests", "1", "--warmup", "0"),
        ("bench", "--model", "lora", "--local", "--requests", "1", "--warmup", "0"),
    ],
    ids=["status", "spend", "deploy", "bench", "bench-local"],
)
@pytest.mark.parametrize("broken", ["not toml", "a folder", "no tables"])
def test_a_broken_modal_config_file_is_named_before_modal_is_imported(
    args, broken, fleet_dir, tmp_path, monkeypatch
):
    # The SDK reads ~/.modal.toml when imported: a broken one raised InvalidError from the
    # import (and printed a banner to stdout), which reached main()'s safety net.
    config = tmp_path / "modal.toml"
    if broken == "a folder":
        config.mkdir()
    else:
        config.write_text("this is [not toml\n" if broken == "not toml" else "token_id = 'x'\n")
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(config))
    monkeypatch.setenv("MODAL_TOKEN_ID", "ak-x")
    monkeypatch.setenv("MODAL_TOKEN_SECRET", "as-x")
    monkeypatch.setenv("MODAL_SERVER_URL", "http://127.0.0.1:9")

    result = run_cli(*args, root=fleet_dir)

    assert_clean(result, 1)
    assert f"cannot read the Modal configuration {config}: " in result.stderr
    assert "fix it or move it aside" in result.stderr
    assert result.output == ""


@pytest.mark.parametrize(
    ("args", "exit_code", "message"),
    [
        # An empty value was read as "not given": cost costed every strategy, plan compared
        # with git HEAD instead of the strategy asked for, spend took the last 7 days.
        (("cost", "--strategy", ""), 2, "unknown strategy ''"),
        (("cost", "--baseline", ""), 2, "unknown strategy ''"),
        (("cost", "--strategy", "hybrid", "--chart", ""), 2, "--chart needs a file path"),
        (("plan", "--strategy", "hybrid", "--from-strategy", ""), 2, "unknown strategy ''"),
        (("plan", "--strategy", "hybrid", "--against", ""), 1, "'' is not a commit"),
        (("spend", "--since", ""), 2, "--since '' is not a duration like 7d, 24h or 2w"),
        (("spend", "--start", ""), 2, "--start '' is not a date like 2026-11-01"),
        (("bench", "--model", "lora", "--gpus", ""), 2, "--gpus names no GPU"),
        (
            ("bench", "--model", "lora", "--baseline-gpu", ""),
            2,
            "unknown GPU '' for --baseline-gpu",
        ),
    ],
)
def test_an_empty_value_is_not_taken_for_a_missing_option(
    args, exit_code, message, fleet_dir, no_credentials
):
    result = run_cli(*args, root=fleet_dir)
    assert_clean(result, exit_code)
    assert message in result.stderr
    assert result.output == ""


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--local", "--gpus", "T4,L4"), "--local runs on this machine, not on a GPU: drop --gpus"),
        (
            ("--local", "--baseline-gpu", "T4"),
            "--local runs on this machine, not on a GPU: drop --baseline-gpu",
        ),
        (("--strategy", "hybrid"), "--strategy picks the module --local runs"),
    ],
)
def test_bench_options_that_the_mode_would_ignore_are_usage_errors(
    extra, message, fleet_dir, no_credentials
):
    # They were silently ignored: a user asking for T4 and L4 locally got one "local" row.
    result = run_cli("bench", "--model", "lora", *extra, root=fleet_dir)
    assert_clean(result, 2)
    assert message in result.stderr


def test_spend_against_a_server_that_hangs_up_is_a_connection_failure(fleet_dir, tmp_path):
    # grpclib's StreamTerminatedError (not a modal or builtin ConnectionError) reached main()'s
    # safety net. A subprocess: the SDK keeps its client for the life of the process.
    import os
    import socket
    import subprocess
    import sys
    import threading

    from conftest import REPO

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)

    def hang_up_on_everyone():
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            connection.recv(100)
            connection.close()

    threading.Thread(target=hang_up_on_everyone, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODAL")}
    env.update(
        MODAL_TOKEN_ID="ak-dummy",
        MODAL_TOKEN_SECRET="as-dummy",
        MODAL_SERVER_URL=f"http://127.0.0.1:{listener.getsockname()[1]}",
        MODAL_CONFIG_PATH=str(tmp_path / "no-such.toml"),
    )
    command = [sys.executable, str(REPO / "cli.py"), "spend", "--root", str(fleet_dir)]
    try:
        done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=60)
    finally:
        listener.close()
    assert done.returncode == 1, done.stderr
    assert done.stderr.strip() == (
        "spend: cannot reach Modal to read the billing report: Connection lost"
    )
    assert done.stdout == ""


MALFORMED_SECRETS = {
    "a dotted number": (b'[default]\ntoken_id = "ak-x"\ntoken_secret = 1.2.3.SECRET\n', 3, 1),
    "an unclosed quote": (b'[default]\ntoken_id = "ak-x"\ntoken_secret = "as-SECRET\n', 3, 26),
    "a bare word": (b'[default]\ntoken_id = "ak-x"\ntoken_secret = as-SECRET\n', 3, 1),
}


@pytest.mark.parametrize("args", [("status",), ("spend",)], ids=["status", "spend"])
@pytest.mark.parametrize(
    ("content", "line", "column"), MALFORMED_SECRETS.values(), ids=MALFORMED_SECRETS.keys()
)
def test_a_malformed_modal_config_value_is_never_echoed(
    args, content, line, column, fleet_dir, tmp_path, monkeypatch
):
    """~/.modal.toml holds tokens: the parser's message quotes the value it choked on
    ("could not convert string to float: '1.2.3.SECRET'"). Only where it is may be said."""
    for name in NO_MODAL:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MODAL_CONFIG_PATH", raising=False)
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    (home / ".modal.toml").write_bytes(content)

    result = run_cli(*args, root=fleet_dir)

    assert_clean(result, 1)
    assert "SECRET" not in result.text
    assert (
        f"cannot read the Modal configuration {home}/.modal.toml: not valid TOML at line {line}, "
        f"column {column} (a value the SDK cannot parse; its text is not shown); fix it or move "
        "it aside (the Modal SDK refuses to start with it)"
    ) in result.stderr


def test_a_modal_config_that_is_a_fifo_is_not_opened(fleet_dir, tmp_path, monkeypatch):
    import os

    config = tmp_path / "modal.toml"
    os.mkfifo(config)  # opening it would wait for a writer forever
    monkeypatch.setenv("MODAL_CONFIG_PATH", str(config))
    result = run_cli("status", root=fleet_dir)
    assert_clean(result, 1)
    assert (
        f"cannot read the Modal configuration {config}: it is a FIFO (named pipe), not a file"
    ) in result.stderr
