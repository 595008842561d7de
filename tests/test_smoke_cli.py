from conftest import run_cli


def test_bundled_fleet_validates(repo_root):
    result = run_cli("validate", root=repo_root)
    assert result.exit_code == 0, result.text
    assert "ok: 6 models, 4 strategies, 10 GPUs" in result.output
