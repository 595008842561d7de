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


def locate(
    model: dict[str, Any], *, serving: bool = False, download_command: str = ""
) -> dict[str, str]:
    """Artefact key -> local folder holding that artefact's files.

    serving=True is the container answering requests: the weights must already be on the Volume
    and the Hub is never called (HF_HUB_OFFLINE=1, local files only). A missing artefact is a
    FileNotFoundError that names download_command, the command that fills the Volume.
    """
    local_root = os.environ.get(WEIGHTS_DIR_ENV)
    if serving:
        os.environ["HF_HUB_OFFLINE"] = "1"  # libraries that would look something up stay local
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
            continue
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import LocalEntryNotFoundError

        try:
            paths[key] = snapshot_download(
                weights["repo"],
                revision=weights["revision"],
                repo_type=weights.get("repo_type", "model"),
                allow_patterns=list(weights.get("files") or []) or None,
                local_files_only=serving,
            )
        except LocalEntryNotFoundError:
            raise FileNotFoundError(
                f"{model['name']}: {weights['repo']}@{weights['revision'][:12]} is not on the "
                f"weights Volume; fill it first with `{download_command or 'modal run <module>::download'}`"
            ) from None
    return paths


def download(model: dict[str, Any]) -> dict[str, str]:
    """Fetch every artefact into the cache (the Volume), so containers start without downloading;
    artefact key -> its folder there, as locate() gives it."""
    return locate(model)


def volume_root() -> Path:
    """The folder the weights live under: MODALFLEET_WEIGHTS_DIR when set (tests, local runs),
    else the Hugging Face cache, which on Modal is the mounted weights Volume."""
    local_root = os.environ.get(WEIGHTS_DIR_ENV)
    if local_root:
        return Path(local_root)
    from huggingface_hub import constants

    return Path(constants.HF_HUB_CACHE)
