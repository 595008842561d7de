"""Quantize once: the quantized copies of a pipeline's components, kept on the weights Volume.

Quantizing at every start reads every 16-bit weight (33.7 GB for FLUX) and quantizes it again;
a saved copy is read instead (an NF4 transformer and an int8 T5: ~11.4 GB). The model's
`download` function writes the copies with save() next to the originals:

    <volume>/modalfleet-quantized/<repo with / as -->/<revision>/<component>-<scheme>-<dtype>/
        config.json, *.safetensors    save_pretrained of the quantized component
        modalfleet-quantized.json     the manifest, written last

The dtype is part of the key because the layers left unquantized (norms, embeddings, the
scales) are stored in the dtype the component was loaded in: the run dtype of the strategy's
GPUs (bf16 on an A10, fp16 on a T4). The manifest records what the copy was made from and with
(repo, revision, component, scheme, dtype, library versions); a copy counts only when it exists
and matches, so one cut short before its manifest, or made by other library versions, is not
loaded: the container quantizes that component at load instead and logs a warning naming the
download command (pipeline_kwargs()).

Both quantization libraries save and reload their own tensors: torchao's Int8Tensor and
bitsandbytes' packed 4-bit weights go into safetensors with the quantization config in
config.json, and from_pretrained rebuilds the quantized modules from them without quantizing.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import shutil
from importlib.metadata import version
from pathlib import Path
from typing import Any

from . import quantize
from .weights import volume_root

log = logging.getLogger(__name__)

STORE_DIR = "modalfleet-quantized"
MANIFEST = "modalfleet-quantized.json"
MANIFEST_FORMAT = 1


def pipeline_weights(model: dict[str, Any]) -> dict[str, Any]:
    """The weights entry of the pipeline artefact: its repo and revision key the copies."""
    for weights in model["weights"]:
        if weights["role"] == "pipeline":
            return weights
    raise ValueError(f"{model['name']}: no weights entry has role 'pipeline'")


def dtype_name(dtype: Any) -> str:
    return str(dtype).removeprefix("torch.")


def copy_folder(model: dict[str, Any], item: quantize.ComponentQuantization, dtype: Any) -> Path:
    weights = pipeline_weights(model)
    return (
        volume_root()
        / STORE_DIR
        / weights["repo"].replace("/", "--")
        / weights["revision"]
        / f"{item.component}-{item.scheme}-{dtype_name(dtype)}"
    )


def manifest(model: dict[str, Any], item: quantize.ComponentQuantization, dtype: Any) -> dict:
    """What a usable copy's manifest says: made from these weights, this way, by these versions.
    A library upgrade changes the serialized tensors' format at will, so versions must match."""
    weights = pipeline_weights(model)
    return {
        "format": MANIFEST_FORMAT,
        "repo": weights["repo"],
        "revision": weights["revision"],
        "component": item.component,
        "scheme": item.scheme,
        "dtype": dtype_name(dtype),
        "versions": {name: version(name) for name in ("torch", item.library, item.backend)},
    }


def unusable(folder: Path, expected: dict) -> str | None:
    """Why the copy in folder cannot be loaded (missing, half-written, stale), or None."""
    path = folder / MANIFEST
    if not path.is_file():
        if folder.is_dir():
            return f"{folder} has no {MANIFEST} (the save that made it did not finish)"
        return f"no quantized copy at {folder}"
    try:
        found = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        return f"{path} is unreadable ({exc})"
    if not isinstance(found, dict):
        return f"{path} is unreadable (not a JSON object)"
    # Library versions one by one, so the warning names the package that changed.
    flat_found = {**found, **(found.get("versions") or {})}
    flat_expected = {**expected, **expected["versions"]}
    differences = [
        f"{key} {flat_found.get(key)!r} where this container has {value!r}"
        for key, value in flat_expected.items()
        if key != "versions" and flat_found.get(key) != value
    ]
    if differences:
        return f"the copy at {folder} is stale: {', '.join(differences)}"
    return None


def component_class(pipeline_dir: str | Path, component: str) -> Any:
    """The class model_index.json names for a component, e.g. transformers.T5EncoderModel."""
    index = json.loads((Path(pipeline_dir) / "model_index.json").read_text())
    library, class_name = index[component][:2]
    return getattr(importlib.import_module(library), class_name)


def save(model: dict[str, Any], pipeline_dir: str | Path, dtype: Any) -> None:
    """Quantize each declared component this machine can quantize and save it to the store (the
    `download` function's second half; nf4 and fp8 need the GPU the function then gets). A
    matching copy already there is kept, not remade."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    for item in quantize.applicable(model.get("quantization") or {}, pipeline_dir, device):
        folder = copy_folder(model, item, dtype)
        expected = manifest(model, item, dtype)
        if unusable(folder, expected) is None:
            log.info("%s: quantized copy at %s is current", model["name"], folder)
            continue
        shutil.rmtree(folder, ignore_errors=True)  # a stale or half-written copy
        component = component_class(pipeline_dir, item.component).from_pretrained(
            pipeline_dir,
            subfolder=item.component,
            dtype=dtype,
            quantization_config=quantize.component_config(item, dtype),
        )
        component.save_pretrained(folder)
        del component  # the next component's 16-bit weights need the host memory
        # The manifest last, renamed into place whole: a copy without one is not complete.
        partial = folder / (MANIFEST + ".partial")
        partial.write_text(json.dumps(expected, indent=2, sort_keys=True) + "\n")
        os.replace(partial, folder / MANIFEST)
        log.info("%s: saved %s (%s) to %s", model["name"], item.component, item.scheme, folder)


def pipeline_kwargs(
    model: dict[str, Any], pipeline_dir: str | Path, device: str, dtype: Any
) -> dict[str, Any]:
    """from_pretrained keyword arguments for a serving container: each quantized component
    loaded from its saved copy, and a quantization_config for those without a usable copy (they
    are quantized at load, as before the store, with a warning naming the download command)."""
    loaded: dict[str, Any] = {}
    to_quantize = []
    for item in quantize.applicable(model.get("quantization") or {}, pipeline_dir, device):
        folder = copy_folder(model, item, dtype)
        problem = unusable(folder, manifest(model, item, dtype))
        if problem is None:
            cls = component_class(pipeline_dir, item.component)
            loaded[item.component] = cls.from_pretrained(folder, dtype=dtype)
            continue
        log.warning(
            "%s: %s; quantizing %s (%s) at load instead, which reads its 16-bit weights at "
            "every start; save the copy with `%s`",
            model["name"],
            problem,
            item.component,
            item.scheme,
            model.get("download_command") or "modal run <module>::download",
        )
        to_quantize.append(item)
    return {**loaded, "quantization_config": quantize.pipeline_config(to_quantize, dtype)}
