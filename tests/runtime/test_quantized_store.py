"""Quantize once: flux-schnell's generated `download` saves the quantized T5 to the store, and the
serving container loads it from there without quantizing again; a missing, half-written or stale
copy falls back to quantizing at load with a warning naming the download command.

On this CPU the int8 half of flux-schnell's quantization (torchao, T5) runs for real; the nf4
half (bitsandbytes, CUDA only) is skipped on both sides, as the runtime does without a GPU.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
import torch

from modalfleet.runtime import quantize, quantized_store
from modalfleet.runtime.quantize import ComponentQuantization as CQ

from .handlers import generated_handler, user_instance

pytestmark = pytest.mark.runtime

REQUEST = {
    "prompt": "a red fox",
    "seed": 5,
    "width": 32,
    "height": 32,
    "steps": 2,
    "max_sequence_length": 16,
}
T5_INT8 = CQ("text_encoder_2", "int8", "transformers", "torchao")
STORE_LOGGER = "modalfleet.runtime.quantized_store"
LINEARS = {"q", "k", "v", "o", "wi", "wo"}  # T5's Linear layers, which int8 quantizes


class QuantizerCalls:
    """Counts the quantization path while letting the real work run: our config builder (one call
    per component a load or a save quantizes) and torchao's quantize_ (one per Linear layer),
    wherever diffusers and transformers reach it."""

    def __init__(self, patch: pytest.MonkeyPatch) -> None:
        import diffusers.quantizers.torchao.torchao_quantizer as diffusers_torchao
        import torchao.quantization

        self.configs: list[tuple[str, str]] = []
        self.layers = 0
        build, run = quantize.component_config, torchao.quantization.quantize_

        def counted_config(item, compute_dtype):
            self.configs.append((item.component, item.scheme))
            return build(item, compute_dtype)

        def counted_quantize(module, *args, **kwargs):
            self.layers += 1
            return run(module, *args, **kwargs)

        patch.setattr(quantize, "component_config", counted_config)
        patch.setattr(torchao.quantization, "quantize_", counted_quantize)
        patch.setattr(diffusers_torchao, "quantize_", counted_quantize)

    def reset(self) -> None:
        self.configs, self.layers = [], 0


@pytest.fixture
def calls(monkeypatch) -> QuantizerCalls:
    return QuantizerCalls(monkeypatch)


@pytest.fixture
def volume(tmp_path, flux_schnell_weights) -> Path:
    """An empty weights Volume holding flux-schnell's tiny pipeline (linked, not copied)."""
    (tmp_path / "pipeline").symlink_to(flux_schnell_weights / "pipeline", target_is_directory=True)
    return tmp_path


def t5_copy(volume: Path, module) -> Path:
    weights = module.MODEL["weights"][0]
    return (
        volume
        / "modalfleet-quantized"
        / "black-forest-labs--FLUX.1-schnell"
        / weights["revision"]
        / "text_encoder_2-int8-float32"
    )


def serve(volume: Path, change_model=None) -> tuple[object, bytes]:
    """A fresh flux-schnell container on volume: its loaded pipeline and one image."""
    with generated_handler("flux_schnell", volume) as (module, model):
        if change_model:
            change_model(module.MODEL)
        content = model.generate.local(**REQUEST)
        return user_instance(model).handle.pipe, content


def linear_weight_bytes(path: Path) -> dict[str, tuple[torch.dtype, int]]:
    """Layer -> (dtype, bytes) of each T5 Linear weight in a safetensors file, quantized or not
    (torchao stores an Int8Tensor as <layer>._weight_qdata beside its scales)."""
    from safetensors import safe_open

    found = {}
    with safe_open(path, "pt") as weights:
        for key in weights.keys():  # noqa: SIM118 (safe_open has no __iter__)
            layer, _, leaf = key.rpartition(".")
            if leaf in ("weight", "_weight_qdata") and layer.rsplit(".", 1)[-1] in LINEARS:
                tensor = weights.get_tensor(key)
                found[layer] = (tensor.dtype, tensor.numel() * tensor.element_size())
    return found


def fallback_warnings(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == STORE_LOGGER and r.levelno >= 30]


def test_download_saves_the_copy_and_serving_loads_it_without_quantizing(volume, calls, caplog):
    caplog.set_level(logging.INFO)
    with generated_handler("flux_schnell", volume) as (module, _):
        module.download.local()
        folder = t5_copy(volume, module)
        revision = module.MODEL["weights"][0]["revision"]
        command = module.DOWNLOAD_COMMAND
    # One component quantized, the T5's Linear layers each once; nf4 needs the GPU it lacks here.
    assert calls.configs == [("text_encoder_2", "int8")]
    assert calls.layers > 0
    assert "not quantizing transformer: nf4 needs cuda, not cpu" in caplog.text
    manifest = json.loads((folder / "modalfleet-quantized.json").read_text())
    assert manifest == {
        "format": 1,
        "repo": "black-forest-labs/FLUX.1-schnell",
        "revision": revision,
        "component": "text_encoder_2",
        "scheme": "int8",
        "dtype": "float32",
        "versions": {
            "torch": torch.__version__,
            "transformers": __import__("transformers").__version__,
            "torchao": __import__("torchao").__version__,
        },
    }
    assert sorted(p.name for p in folder.iterdir()) == [
        "config.json",
        "modalfleet-quantized.json",
        "model.safetensors",
    ]
    # What a start reads for the T5's Linear layers: one byte a weight, not the run dtype's four.
    original = linear_weight_bytes(volume / "pipeline" / "text_encoder_2" / "model.safetensors")
    stored = linear_weight_bytes(folder / "model.safetensors")
    assert set(stored) == set(original) and len(stored) == 12  # q k v o wi wo, two blocks
    assert all(stored[name] == (torch.int8, original[name][1] // 4) for name in original)

    calls.reset()
    caplog.clear()
    pipe, from_store = serve(volume)
    assert calls.configs == [] and calls.layers == 0  # nothing quantized a second time
    assert fallback_warnings(caplog) == []
    t5_weight = pipe.text_encoder_2.encoder.block[0].layer[0].SelfAttention.q.weight
    assert type(t5_weight).__name__ == "Int8Tensor" and t5_weight.qdata.dtype == torch.int8

    # The same image as a container that quantizes at load (no copy on its Volume).
    calls.reset()
    caplog.clear()
    empty = volume / "empty"
    (empty / "pipeline").parent.mkdir()
    (empty / "pipeline").symlink_to(volume / "pipeline", target_is_directory=True)
    _, quantized_at_load = serve(empty)
    assert calls.configs == [("text_encoder_2", "int8")]
    assert quantized_at_load == from_store
    (warning,) = fallback_warnings(caplog)
    assert warning == (
        f"flux-schnell: no quantized copy at {t5_copy(empty, module)}; quantizing text_encoder_2 "
        "(int8) at load instead, which reads its 16-bit weights at every start; save the copy "
        f"with `{command}`"
    )
    assert command == "modal run generated/hybrid/flux_schnell.py::download"


def test_a_stale_copy_falls_back_and_the_next_download_remakes_it(volume, calls, caplog):
    with generated_handler("flux_schnell", volume) as (module, _):
        module.download.local()
        folder = t5_copy(volume, module)
    manifest_path = folder / "modalfleet-quantized.json"
    manifest = json.loads(manifest_path.read_text())
    current_torchao = manifest["versions"]["torchao"]
    manifest["versions"]["torchao"] = "0.1.0"  # made by an older image
    manifest_path.write_text(json.dumps(manifest))

    calls.reset()
    pipe, _ = serve(volume)
    assert calls.configs == [("text_encoder_2", "int8")]  # quantized at load, as before the store
    t5_weight = pipe.text_encoder_2.encoder.block[0].layer[0].SelfAttention.q.weight
    assert type(t5_weight).__name__ == "Int8Tensor"
    (warning,) = fallback_warnings(caplog)
    assert warning.startswith(
        f"flux-schnell: the copy at {folder} is stale: torchao '0.1.0' where this container has "
        f"'{current_torchao}'; quantizing text_encoder_2 (int8) at load instead"
    )
    assert warning.endswith("with `modal run generated/hybrid/flux_schnell.py::download`")

    # Running download again replaces the stale copy; a third run finds it current.
    calls.reset()
    with generated_handler("flux_schnell", volume) as (module, _):
        module.download.local()
        assert calls.configs == [("text_encoder_2", "int8")]
        assert json.loads(manifest_path.read_text())["versions"]["torchao"] == current_torchao
        calls.reset()
        module.download.local()
        assert calls.configs == [] and calls.layers == 0


def test_a_copy_without_its_manifest_or_for_another_revision_is_not_loaded(volume, calls, caplog):
    """A save cut short before its manifest (written last) is missing; so is every copy after the
    model's pinned revision changes, until download runs for the new one."""
    with generated_handler("flux_schnell", volume) as (module, _):
        module.download.local()
        folder = t5_copy(volume, module)
    (folder / "modalfleet-quantized.json").unlink()
    calls.reset()
    serve(volume)
    assert calls.configs == [("text_encoder_2", "int8")]
    (warning,) = fallback_warnings(caplog)
    assert warning.startswith(
        f"flux-schnell: {folder} has no modalfleet-quantized.json (the save that made it did "
        "not finish); quantizing text_encoder_2 (int8) at load instead"
    )

    caplog.clear()
    calls.reset()
    new_revision = "0" * 40

    def bump(model: dict) -> None:
        model["weights"][0]["revision"] = new_revision

    serve(volume, bump)
    assert calls.configs == [("text_encoder_2", "int8")]
    (warning,) = fallback_warnings(caplog)
    assert f"no quantized copy at {folder.parent.parent / new_revision / folder.name};" in warning


def test_copies_are_keyed_by_repo_revision_component_scheme_and_dtype(tmp_path, monkeypatch):
    """The folders a T4 container (fp16) of the real flux-schnell looks for: nf4 transformer and
    int8 T5, beside the Hugging Face cache's own models--* folders."""
    monkeypatch.delenv("MODALFLEET_WEIGHTS_DIR", raising=False)
    monkeypatch.setattr("huggingface_hub.constants.HF_HUB_CACHE", str(tmp_path))
    model = {
        "name": "flux-schnell",
        "quantization": {"transformer": "nf4", "text_encoder_2": "int8"},
        "weights": [
            {
                "repo": "black-forest-labs/FLUX.1-schnell",
                "revision": "741f7c3ce8b383c54771c7003378a50191e9efe9",
                "role": "pipeline",
            }
        ],
    }
    nf4 = CQ("transformer", "nf4", "diffusers", "bitsandbytes")
    base = tmp_path / "modalfleet-quantized" / "black-forest-labs--FLUX.1-schnell"
    revision = "741f7c3ce8b383c54771c7003378a50191e9efe9"
    assert quantized_store.copy_folder(model, nf4, torch.float16) == (
        base / revision / "transformer-nf4-float16"
    )
    assert quantized_store.copy_folder(model, T5_INT8, torch.bfloat16) == (
        base / revision / "text_encoder_2-int8-bfloat16"
    )
    assert quantized_store.manifest(model, nf4, torch.float16)["versions"] == {
        "torch": torch.__version__,
        "diffusers": __import__("diffusers").__version__,
        "bitsandbytes": __import__("bitsandbytes").__version__,
    }


def test_a_manifest_for_another_revision_or_scheme_is_stale(tmp_path):
    """A copy whose manifest disagrees with what the container needs (copied by hand, or an
    older layout) is not loaded, and the reason names each field that differs."""
    model = {
        "name": "flux",
        "weights": [{"repo": "tiny/flux", "revision": "a" * 40, "role": "pipeline"}],
    }
    expected = quantized_store.manifest(model, T5_INT8, torch.bfloat16)
    written = {**expected, "revision": "b" * 40, "scheme": "fp8"}
    (tmp_path / "modalfleet-quantized.json").write_text(json.dumps(written))
    assert quantized_store.unusable(tmp_path, expected) == (
        f"the copy at {tmp_path} is stale: revision {'b' * 40!r} where this container has "
        f"{'a' * 40!r}, scheme 'fp8' where this container has 'int8'"
    )
    (tmp_path / "modalfleet-quantized.json").write_text(json.dumps(expected))
    assert quantized_store.unusable(tmp_path, expected) is None
    (tmp_path / "modalfleet-quantized.json").write_text("{not json")
    assert quantized_store.unusable(tmp_path, expected).startswith(
        f"{tmp_path / 'modalfleet-quantized.json'} is unreadable ("
    )


def test_a_model_without_a_pipeline_artefact_is_refused():
    with pytest.raises(ValueError, match="flux: no weights entry has role 'pipeline'"):
        quantized_store.pipeline_weights({"name": "flux", "weights": [{"role": "vae"}]})
