"""benchmarks/speed_gpu.py's CPU path: the same code that times the full-size denoisers on a GPU,
run on tiny configs, so the GPU check cannot rot between sessions that have a GPU."""

from __future__ import annotations

import importlib.util

import pytest

from modalfleet.economics.speed import Measurement, row_model

from .handlers import REPO

pytestmark = pytest.mark.runtime


def _script():
    spec = importlib.util.spec_from_file_location("speed_gpu", REPO / "benchmarks" / "speed_gpu.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_speed_gpu_times_each_bundled_architecture_and_prints_calibration_rows():
    rows = _script().run(models=["flux-dev", "instantid", "wan2-1"], steps=1, tiny=True)
    assert [r["id"] for r in rows] == [
        "flux-dev-cpu-random",
        "instantid-cpu-random",
        "wan2-1-cpu-random",
    ]
    dev, instantid, wan = rows
    assert "2 pass(es) a step" in wan["note"]  # Wan: guidance 5, two transformer passes
    assert (wan["params"]["num_frames"], wan["params"]["steps"]) == (5, 30)
    assert dev["repo"] == "black-forest-labs/FLUX.1-dev"
    assert instantid["repo"] == "stabilityai/stable-diffusion-xl-base-1.0"
    assert (dev["params"]["steps"], dev["params"]["width"]) == (28, 64)  # model's steps, tiny size
    assert "TINY config" in dev["source"] and "not a measurement" in dev["source"]
    assert "1 pass(es) a step" in dev["note"]  # FLUX.1 [dev]: guidance distilled, one pass
    assert "2 pass(es) a step" in instantid["note"]  # SDXL + ControlNet, guidance 5: two
    for row in rows:
        assert row["seconds"] > 0 and row["gpu"] == "cpu"
        # The row is in the calibration file's format: it loads as a Measurement.
        fields = {k: v for k, v in row.items()}
        assert row_model(Measurement(**fields)).weights[0].repo == row["repo"]
