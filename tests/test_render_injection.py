"""Hostile strings in models.yaml cannot break or change the generated program.

Descriptions and string params reach the code only as literals built by the `py` filter: the
file must parse, its MODEL literal must equal the input, and the rest of the program must be
exactly the program a harmless string gives.
"""

from __future__ import annotations

import ast
import dataclasses
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from modalfleet.fleet.load import load_fleet
from modalfleet.generate.render import PACKAGED_TEMPLATES, model_literal, render_tree

TEMPLATES = PACKAGED_TEMPLATES

FRAGMENTS = [
    '"',
    "'",
    '"""',
    "'''",
    "\\",
    "\\n",
    "\n",
    "\r\n",
    "\t",
    "\x00",
    "{{ model.name }}",
    "{% if true %}x{% endif %}",
    "{#",
    "#}",
    "}}",
    "{%",
    "é",
    "✓",
    "😀",
    "\u2028",
    "\u200b",
    '"; import os; os.system("x"); "',
    "\\x41",
    "f'{x}'",
]

hostile = st.one_of(
    st.text(max_size=80),
    st.lists(st.sampled_from(FRAGMENTS) | st.text(max_size=5), max_size=12).map("".join),
)


@pytest.fixture(scope="module")
def fleet():
    return load_fleet(REPO).fleet


def model_value(tree: ast.Module) -> dict:
    return next(
        ast.literal_eval(node.value)
        for node in tree.body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MODEL"
    )


def program_without_model(tree: ast.Module) -> str:
    """The module's AST with the MODEL literal blanked: everything the strings must not touch."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", "") == "MODEL":
            node.value = ast.Constant(None)
    return ast.dump(tree)


def render_one(fleet, model_name: str, **changes) -> tuple[str, dict]:
    model = dataclasses.replace(fleet.models[model_name], **changes)
    small = dataclasses.replace(
        fleet, models={model_name: model}, strategies={"hybrid": fleet.strategies["hybrid"]}
    )
    (text,) = render_tree(small, TEMPLATES).values()
    return text, model_literal(model)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(description=hostile, negative=hostile)
def test_hostile_description_and_string_param_stay_data(fleet, description, negative):
    base = fleet.models["lora"]
    params = {**base.params, "negative_prompt": negative, "adapter": description}
    text, expected = render_one(fleet, "lora", description=description, params=params)
    tree = ast.parse(text)
    assert model_value(tree) == expected
    assert model_value(tree)["description"] == description
    assert model_value(tree)["params"]["negative_prompt"] == negative
    harmless, _ = render_one(
        fleet, "lora", description="x", params={**base.params, "negative_prompt": "y"}
    )
    assert program_without_model(tree) == program_without_model(ast.parse(harmless))


def test_hostile_strings_render_ruff_formatted_and_clean(fleet, tmp_path):
    """One ruff run over a batch of renders with the nastiest fixed strings."""
    samples = [
        *FRAGMENTS,
        "".join(FRAGMENTS),
        "both ' and \" quotes",
        'more "double" than \'single\' "',
        "x" * 300,
    ]
    out = tmp_path / "out"
    out.mkdir()
    for index, sample in enumerate(samples):
        model = fleet.models["flux-dev"]
        text, expected = render_one(
            fleet,
            "flux-dev",
            description=sample,
            params={**model.params, "negative_prompt": sample},
        )
        assert model_value(ast.parse(text)) == expected
        (out / f"sample_{index}.py").write_text(text, encoding="utf-8")
    config = ["--config", str(REPO / "pyproject.toml")]
    fmt = subprocess.run(
        [sys.executable, "-m", "ruff", "format", "--check", *config, str(out)],
        capture_output=True,
        text=True,
    )
    assert fmt.returncode == 0, fmt.stdout + fmt.stderr
    lint = subprocess.run(
        [sys.executable, "-m", "ruff", "check", *config, str(out)], capture_output=True, text=True
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_files_are_written_as_utf8_and_read_back_equal(fleet, tmp_path):
    text, expected = render_one(fleet, "wan2-1", description="Ünïcödé ✓ 😀 \u2028 line")
    path = Path(tmp_path / "m.py")
    path.write_bytes(text.encode("utf-8"))
    assert (
        model_value(ast.parse(path.read_bytes().decode("utf-8")))["description"]
        == expected["description"]
    )
