"""Where a model's weights are: a local folder per artefact, or the Hugging Face cache.

On Modal the weights Volume is mounted at the HF cache path (HF_HUB_CACHE), so
`snapshot_download` finds what `download()` fetched earlier. Tests (and `bench --local`) set
MODALFLEET_WEIGHTS_DIR to a folder laid out as <dir>/<artefact key>, and nothing is downloaded.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

WEIGHTS_DIR_ENV = "MODALFLEET_WEIGHTS_DIR"


def artefact_key(weights: dict[str, Any]) -> str:
    """Stable name of one artefact: its role, or adapter-<name> since a model may have several."""
    if weights["role"] == "adapter":
        return f"adapter-{weights['name']}"
    return weights["role"]


def locate(model: dict[str, Any]) -> dict[str, str]:
    """Artefact key -> local folder holding that artefact's files."""
    local_root = os.environ.get(WEIGHTS_DIR_ENV)
    paths: dict[str, str] = {}
    for weights in model["weights"]:
        key = artefact_key(weights)
        if local_root:
            folder = Path(local_root) / key
            if not folder.is_dir():
                raise FileNotFoundError(
                    f"{model['name']}: {WEIGHTS_DIR_ENV}={local_root} has no folder {key!r} "
                    f"(expected one per artefact: {[artefact_key(w) for w in model['weights']]})"
                )
            paths[key] = str(folder)
        else:
            from huggingface_hub import snapshot_download

            paths[key] = snapshot_download(
                weights["repo"],
                revision=weights["revision"],
                repo_type=weights.get("repo_type", "model"),
                allow_patterns=list(weights.get("files") or []) or None,
            )
    return paths


def download(model: dict[str, Any]) -> None:
    """Fetch every artefact into the cache (the Volume), so containers start without downloading."""
    locate(model)
