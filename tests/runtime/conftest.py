"""Tiny weights built once per session, and the generated handler modules imported from generated/.

Every model gets a folder laid out as <folder>/<artefact key> (pipeline, vae, instantid,
face-analysis, adapter-<name>), which is what MODALFLEET_WEIGHTS_DIR points the runtime at.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

# Nothing in these tests may reach the hub; set before huggingface_hub is first imported.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

sys.path.insert(0, str(Path(__file__).parent))
from modalfleet.platform import tiny_weights as tiny  # noqa: E402  (bench --tiny uses them too)

from .handlers import load_generated  # noqa: E402


def _link(target: Path, link: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target, target_is_directory=True)


@pytest.fixture(scope="session")
def weights_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("weights")


@pytest.fixture(scope="session")
def flux_schnell_weights(weights_root: Path) -> Path:
    tiny.build_flux(weights_root / "flux-schnell" / "pipeline", dev=False)
    return weights_root / "flux-schnell"


@pytest.fixture(scope="session")
def flux_dev_weights(weights_root: Path) -> Path:
    tiny.build_flux(weights_root / "flux-dev" / "pipeline", dev=True)
    return weights_root / "flux-dev"


@pytest.fixture(scope="session")
def sdxl_weights(weights_root: Path) -> tuple[Path, Path]:
    """(SDXL base pipeline, fp16-fix VAE), shared by the LoRA and InstantID models."""
    base = tiny.build_sdxl(weights_root / "_shared" / "sdxl")
    vae = tiny.build_sdxl_vae(weights_root / "_shared" / "sdxl-vae")
    return base, vae


@pytest.fixture(scope="session")
def lora_weights(weights_root: Path, sdxl_weights: tuple[Path, Path]) -> Path:
    folder = weights_root / "lora"
    base, vae = sdxl_weights
    _link(base, folder / "pipeline")
    _link(vae, folder / "vae")
    # The file name the fleet declares for the adapter, so the runtime's weight_name is exercised.
    model = load_generated("lora").MODEL
    for weights in model["weights"]:
        if weights["role"] == "adapter":
            tiny.build_sdxl_lora(base, folder / f"adapter-{weights['name']}", weights["files"][0])
    return folder


@pytest.fixture(scope="session")
def instantid_weights(weights_root: Path, sdxl_weights: tuple[Path, Path]) -> Path:
    folder = weights_root / "instantid"
    base, vae = sdxl_weights
    _link(base, folder / "pipeline")
    _link(vae, folder / "vae")
    tiny.build_instantid(base, folder / "instantid")
    tiny.build_face_pack(folder / "face-analysis")
    return folder


@pytest.fixture(scope="session")
def wan_weights(weights_root: Path) -> Path:
    tiny.build_wan(weights_root / "wan2-1" / "pipeline")
    return weights_root / "wan2-1"


@pytest.fixture(scope="session")
def seedvr2_weights(weights_root: Path) -> Path:
    """The files upstream is pointed at; the stand-in upstream checks the DiT exists, nothing more."""
    folder = weights_root / "seedvr2" / "pipeline"
    folder.mkdir(parents=True)
    for weights in load_generated("seedvr2").MODEL["weights"]:
        for name in weights["files"]:
            (folder / name).write_bytes(b"placeholder")
    return folder.parent


@pytest.fixture
def seedvr2_upstream(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A stand-in for SeedVR2's upstream code in a fresh folder (a fresh import: fresh
    counters), which the handler imports in place of the image's /opt/seedvr2."""
    from modalfleet.runtime.video_upscale import UPSTREAM_DIR_ENV

    from .seedvr2_standin import write_standin

    folder = write_standin(tmp_path / "seedvr2-upstream")
    monkeypatch.setenv(UPSTREAM_DIR_ENV, str(folder))
    return folder


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # .local() warns that Volumes are not mounted; these tests point at local weights on purpose.
    for item in items:
        if "tests/runtime/" in str(item.path).replace("\\", "/"):
            for function in ("Model.generate", "download"):
                item.add_marker(
                    pytest.mark.filterwarnings(
                        f"ignore:The {function} function is executing locally"
                    )
                )
