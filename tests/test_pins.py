"""One table of versions (modalfleet/generate/pins.py): the images and pyproject agree with it."""

from __future__ import annotations

import ast
import re
import tomllib

import pytest
from conftest import REPO

from modalfleet.generate import pins

REQUIREMENT = re.compile(r"^([A-Za-z0-9_.-]+)(\[[^\]]*\])?==([^;\s]+)$")


def runtime_extra() -> list[str]:
    data = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    return data["project"]["optional-dependencies"]["runtime"]


def image_packages(path) -> list[tuple[str, str]]:
    """(package argument, extra_options) of every uv_pip_install call in a generated module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "uv_pip_install":
            options = {k.arg: ast.literal_eval(k.value) for k in node.keywords}
            found += [(ast.literal_eval(a), options.get("extra_options", "")) for a in node.args]
    return found


def test_pyproject_runtime_extra_pins_exactly_the_tables_versions():
    stand_ins = {cpu: (gpu, version) for gpu, (cpu, version) in pins.CPU_STAND_INS.items()}
    for requirement in runtime_extra():
        match = REQUIREMENT.match(requirement)
        assert match, f"{requirement!r} is not pinned with =="
        name, _, version = match.groups()
        if name in stand_ins:
            assert version == stand_ins[name][1], requirement
            continue
        assert pins.pin(name) == f"{name}=={version}", requirement


def test_a_disagreeing_version_is_caught():
    with pytest.raises(AssertionError):
        assert pins.pin("torch") == "torch==2.12.0"
    with pytest.raises(KeyError):
        pins.pin("not-a-pinned-package")


@pytest.mark.parametrize(
    "path", sorted((REPO / "generated").glob("*/*.py")), ids=lambda p: f"{p.parent.name}/{p.name}"
)
def test_every_image_package_is_the_tables_pin(path):
    packages = image_packages(path)
    assert packages, path
    for package, _ in packages:
        name = REQUIREMENT.match(package).group(1)
        assert package == pins.pin(package.split("==")[0]), package
        assert pins.normalise(name) in {pins.normalise(n) for n in pins.PINS}


@pytest.mark.parametrize(
    "strategy", ["baseline", "cost-optimized", "performance-optimized", "hybrid"]
)
def test_instantid_image_has_one_onnx_runtime_the_gpu_build(strategy):
    packages = dict(image_packages(REPO / "generated" / strategy / "instantid.py"))
    names = [REQUIREMENT.match(p).group(1) for p in packages]
    assert [n for n in names if n.startswith("onnxruntime")] == ["onnxruntime-gpu"]
    assert "onnxruntime-gpu[cuda,cudnn]==1.31.1" in packages
    # insightface comes without its declared dependencies (they would add the CPU onnxruntime) ...
    assert packages["insightface==2.1"] == "--no-deps"
    # ... so every other dependency it declares is installed by name.
    from importlib.metadata import requires

    declared = {
        re.match(r"[A-Za-z0-9_.-]+", r).group(0)
        for r in requires("insightface")
        if "extra ==" not in r
    }
    assert declared - set(names) - {"numpy"} == {"onnxruntime"}  # numpy comes with the base
    assert any(p.startswith("numpy==") for p in packages)
