"""Property tests: random valid fleets render to clean, inert Python; random damage to
models.yaml never produces a traceback or a half-written generated/.

Example counts are kept small (CI runs on two cores) and every test is deterministic for a
given Hypothesis database state: no timing, no network.
"""

from __future__ import annotations

import ast
import keyword
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from conftest import REPO, copy_fleet, run_cli
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

SETTINGS = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
STRATEGIES = ("baseline", "cost-optimized", "performance-optimized", "hybrid")
# name -> VRAM (GB), bf16, fp8: the bundled catalog's facts the generator needs.
GPUS = {
    "T4": (16, False, False),
    "L4": (24, True, True),
    "A10": (24, True, False),
    "L40S": (48, True, True),
    "A100-40GB": (40, True, False),
    "A100-80GB": (80, True, False),
    "H100": (80, True, True),
    "H200": (141, True, True),
    "B200": (192, True, True),
    "RTX-PRO-6000": (96, True, True),
}
ROLES = {
    "text-to-image": ["pipeline"],
    "lora": ["pipeline", "adapter"],
    "instantid": ["pipeline", "instantid", "face-analysis"],
    "text-to-video": ["pipeline"],
    "video-upscale": ["pipeline"],
}
SHA = "0123456789abcdef0123456789abcdef01234567"

# Free text with everything a template could trip on: quotes, backslashes, newlines, Jinja
# and Python syntax, any Unicode letter. (Credential look-alikes are the secret check's job.)
HOSTILE_PIECES = [
    "{{ x }}",
    "{% if %}",
    "{#",
    '"""',
    "'''",
    "\\",
    "\n",
    "\r\n",
    "\t",
    "# x",
    "${HOME}",
]
# NEL and the Unicode line/paragraph separators are line breaks to YAML, and PyYAML's emitter
# writes them raw (they come back as spaces): leave them out so the fixture says what it means.
characters = st.characters(blacklist_categories=("Cs",), blacklist_characters="\x85\u2028\u2029")
free_text = st.lists(
    st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(characters, max_size=20)), max_size=8
).map("".join)
model_names = st.from_regex(r"[a-z][a-z0-9]{0,10}(-[a-z0-9]{1,5}){0,2}", fullmatch=True).filter(
    lambda name: (
        not keyword.iskeyword(name.replace("-", "_"))
        and not keyword.issoftkeyword(name.replace("-", "_"))
    )
)


@st.composite
def models(draw, name: str) -> dict:
    kind = draw(st.sampled_from(sorted(ROLES)))
    vram = draw(st.integers(min_value=1, max_value=192))
    fitting = sorted(gpu for gpu, (gb, _, _) in GPUS.items() if gb >= vram)
    weights = []
    for index, role in enumerate(ROLES[kind]):
        entry = {
            "repo": f"org{index}/repo-{name}",
            "revision": SHA,
            "role": role,
            "size_gb": round(vram / 4, 2),
        }
        if role == "adapter":
            entry["name"] = "style"
        weights.append(entry)
    gpu = {}
    for strategy in STRATEGIES:
        choice = draw(st.lists(st.sampled_from(fitting), min_size=1, max_size=3, unique=True))
        gpu[strategy] = choice[0] if len(choice) == 1 else choice
    params = {}
    if kind != "video-upscale":  # the upscaler has neither steps nor a prompt
        params = {"steps": draw(st.integers(1, 200)), "negative_prompt": draw(free_text)}
    model = {
        "kind": kind,
        "description": draw(free_text),
        "weights": weights,
        "dtype": draw(st.sampled_from(["float16", "bfloat16", "float32"])),
        "vram_gb": vram,
        "params": params,
        "latency_target_s": draw(st.integers(1, 600)),
        "traffic": {
            "requests_per_day": draw(st.integers(0, 10**6)),
            "seconds_per_request": draw(
                st.floats(0.5, 600, allow_nan=False).map(lambda x: round(x, 2))
            ),
        },
        "gpu": gpu,
    }
    if kind == "video-upscale":
        # A clip its timeout holds on any GPU (timeout-too-short): at worst 2160 px on a T4,
        # ~18 s a frame ESTIMATE, and 7200 s leave 6480: 300 frames fit.
        model["containers"] = {"timeout_s": 7200}
        model["limits"] = {"max_input_frames": 300}
    return model


@st.composite
def fleets(draw, min_models: int = 1) -> dict:
    names = draw(
        st.lists(
            model_names, min_size=min_models, max_size=30, unique_by=lambda n: n.replace("-", "_")
        )
    )
    return {"version": 1, "models": {name: draw(models(name)) for name in names}}


def write_fleet(root: Path, fleet: dict) -> None:
    text = yaml.safe_dump(fleet, sort_keys=False, allow_unicode=True, width=100)
    (root / "models.yaml").write_text(text, encoding="utf-8")


def model_literals(path: Path) -> dict:
    module = ast.parse(path.read_text("utf-8"), filename=str(path))
    for node in module.body:
        if isinstance(node, ast.Assign) and any(
            getattr(t, "id", None) == "MODEL" for t in node.targets
        ):
            return ast.literal_eval(node.value)
    raise AssertionError(f"no MODEL literal in {path}")


def tree_bytes(root: Path) -> dict[str, bytes]:
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@SETTINGS
@given(fleet=fleets())
def test_random_valid_fleet_renders_inert_parseable_idempotent(fleet):
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_fleet(Path(tmp) / "fleet", with_generated=False)
        write_fleet(root, fleet)
        assert yaml.safe_load((root / "models.yaml").read_text("utf-8")) == fleet
        validated = run_cli("validate", root=root)
        assert validated.exit_code == 0, validated.text

        first = run_cli("render", root=root)
        assert first.exit_code == 0, first.text
        count = len(fleet["models"]) * len(STRATEGIES)
        assert first.output.startswith(f"written {count}, unchanged 0, removed 0"), first.output
        for strategy in STRATEGIES:
            for name, model in fleet["models"].items():
                path = root / "generated" / strategy / f"{name.replace('-', '_')}.py"
                literal = model_literals(path)  # parses, and MODEL is a pure literal
                assert literal["description"] == model["description"]
                assert literal["params"] == model["params"]
        second = run_cli("render", root=root)
        assert second.output.startswith(f"written 0, unchanged {count}, removed 0"), second.output


@settings(
    max_examples=3,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # ruff per shrink step is too slow
)
@given(fleet=fleets(min_models=20))
def test_random_fleet_sample_is_ruff_clean(fleet):
    """A few big hostile fleets, checked by ruff itself with this repository's settings."""
    with tempfile.TemporaryDirectory() as tmp:
        root = copy_fleet(Path(tmp) / "fleet", with_generated=False)
        write_fleet(root, fleet)
        assert run_cli("render", root=root).exit_code == 0
        config = ["--config", str(REPO / "pyproject.toml"), "--no-cache"]
        for command in (["check", *config], ["format", "--check", "--diff", *config]):
            result = subprocess.run(
                [sys.executable, "-m", "ruff", *command, str(root / "generated")],
                capture_output=True,
                text=True,
            )
            assert result.returncode == 0, result.stdout[-4000:] + result.stderr


# ---------------------------------------------------------------------------------------------
# Damaged models.yaml

BUNDLED = (REPO / "models.yaml").read_bytes()
LINES = BUNDLED.split(b"\n")

mutation = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, len(BUNDLED) - 1), st.integers(0, 255)),
    st.tuples(st.just("delete"), st.integers(0, len(LINES) - 1), st.just(0)),
    st.tuples(st.just("duplicate"), st.integers(0, len(LINES) - 1), st.just(0)),
)


def mutate(operations: list[tuple[str, int, int]]) -> bytes:
    data = bytearray(BUNDLED)
    for kind, index, value in operations:
        if kind == "flip":
            data[index % len(data)] = value
        else:
            lines = bytes(data).split(b"\n")
            index %= len(lines)
            lines[index : index + 1] = [] if kind == "delete" else [lines[index]] * 2
            data = bytearray(b"\n".join(lines))
        if not data:
            break
    return bytes(data)


_pristine: dict[str, Path] = {}


def pristine_copy(tmp: Path) -> Path:
    """A copy of the bundled fleet with its generated/ (copied once, then cloned per example)."""
    if "root" not in _pristine:
        _pristine["root"] = copy_fleet(Path(tempfile.mkdtemp(prefix="fuzz-fleet-")))
    root = tmp / "fleet"
    shutil.copytree(_pristine["root"], root)
    return root


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(operations=st.lists(mutation, min_size=1, max_size=4))
def test_damaged_models_yaml_never_tracebacks_or_half_writes(operations):
    with tempfile.TemporaryDirectory() as tmp:
        root = pristine_copy(Path(tmp))
        (root / "models.yaml").write_bytes(mutate(operations))
        before = tree_bytes(root / "generated")

        validated = run_cli("validate", root=root)
        assert validated.exit_code in (0, 1), validated.text
        assert "Traceback" not in validated.text and "internal error" not in validated.text

        rendered = run_cli("render", root=root)
        assert rendered.exit_code in (0, 1), rendered.text
        assert "Traceback" not in rendered.text and "internal error" not in rendered.text
        if rendered.exit_code == 1:
            assert tree_bytes(root / "generated") == before
        else:
            # All or nothing: the tree on disk is exactly what a render produces.
            assert run_cli("render", "--check", root=root).exit_code == 0
            assert not [p for p in (root / "generated").rglob(".*")], "temp or lock file left"
