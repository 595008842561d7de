"""Generated modules imported under the real `modal` package: the app they define, read back.

No credentials and no network: decorating a class or function builds local objects only. The
values are read from modal 1.6.4's objects: App._local_state (tags, classes, functions), the
class service function's _spec (GPUs, volumes, secrets) and the closure of its loader
(timeout, autoscaler settings), which is exactly what deploy would send.
"""

from __future__ import annotations

import base64
import contextlib
import importlib.util
import io
import itertools
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from conftest import REPO

from modalfleet.runtime.coldstart import Phases

modal = pytest.importorskip("modal")  # a declared dependency: always installed

GOLDEN = REPO / "tests/golden/expected"

# Seed document tables (models.yaml) and strategies/*.yaml: (min, max, scaledown, timeout).
GPUS = {
    "baseline": dict.fromkeys(
        ["flux_schnell", "flux_dev", "instantid", "lora", "wan2_1", "seedvr2"], "L40S"
    ),
    "cost-optimized": {
        "flux_schnell": "T4",
        "flux_dev": "L40S",
        "instantid": "A10",
        "lora": "T4",
        "wan2_1": "L40S",
        "seedvr2": "A10",
    },
    "performance-optimized": {
        "flux_schnell": "A10",
        "flux_dev": "L40S",
        "instantid": "L40S",
        "lora": "A10",
        "wan2_1": "A100-80GB",
        "seedvr2": "L40S",
    },
    "hybrid": {  # the T4 models fall back to an L4 (models.yaml), in that order
        "flux_schnell": ["T4", "L4"],
        "flux_dev": "L40S",
        "instantid": "A10",
        "lora": ["T4", "L4"],
        "wan2_1": "L40S",
        "seedvr2": "A10",
    },
}
CONTAINERS = {
    "baseline": (0, 10, 300, 600),
    "cost-optimized": (0, 5, 120, 600),
    "performance-optimized": (0, 20, 900, 900),
    "hybrid": (0, 10, 300, 600),
}
# models.yaml resources: (cores, MiB). Flux loads 31.4 GiB of bf16 weights through host memory.
RESOURCES = {
    "flux_schnell": (4.0, 40 * 1024),
    "flux_dev": (4.0, 40 * 1024),
    "instantid": (4.0, 16 * 1024),  # defaults: {cpu: 4, memory_gb: 16}
    "lora": (4.0, 16 * 1024),
    "wan2_1": (4.0, 24 * 1024),
    "seedvr2": (8.0, 32 * 1024),
}
APP_NAMES = {
    "flux_schnell": "flux-schnell",
    "flux_dev": "flux-dev",
    "instantid": "instantid",
    "lora": "lora",
    "wan2_1": "wan2-1",
    "seedvr2": "seedvr2",
}

_counter = itertools.count()


def import_generated(path: Path) -> ModuleType:
    """Import a generated file by path under a fresh module name (each import is independent)."""
    name = f"generated_under_test_{next(_counter)}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    with warnings.catch_warnings(), _no_bytecode():
        warnings.simplefilter("error", DeprecationWarning)  # no deprecated modal arguments
        spec.loader.exec_module(module)
    return module


@contextlib.contextmanager
def _no_bytecode():
    """Importing by path would leave __pycache__/ folders inside generated/: don't."""
    previous = sys.dont_write_bytecode
    sys.dont_write_bytecode = True
    try:
        yield
    finally:
        sys.dont_write_bytecode = previous


def raw_method(module: ModuleType, name: str):
    """The plain function behind a @modal.method / @modal.asgi_app of Model."""
    from modal._utils.async_utils import synchronizer

    return synchronizer._translate_in(module.Model)._get_partial_functions()[name].raw_f


def web_config(state, partials):
    """The web endpoint's config: a method of the class (image kinds), or the app's `web`
    function serving the job API (video kinds)."""
    if "web" in partials:
        return partials["web"].params.webhook_config
    return state.functions["web"]._webhook_config


ASYNC_KINDS = {"wan2_1", "seedvr2"}  # submit/poll job endpoints


def app_spec(module: ModuleType) -> dict:
    """What the module's app would deploy, as plain values."""
    from modal._utils.async_utils import synchronizer

    app = synchronizer._translate_in(module.app)
    state = app._local_state
    service = state.classes["Model"]._get_class_service_function()
    closure = dict(
        zip(
            service._load.__code__.co_freevars,
            (c.cell_contents for c in service._load.__closure__),
            strict=True,
        )
    )
    autoscaler = closure["autoscaler_settings"]
    download = state.functions["download"]
    download_closure = dict(
        zip(
            download._load.__code__.co_freevars,
            (c.cell_contents for c in download._load.__closure__),
            strict=True,
        )
    )
    partials = state.classes["Model"]._get_partial_functions()
    return {
        "name": module.app.name,
        "tags": dict(state.tags),
        "functions": sorted(state.functions),
        "entrypoints": sorted(state.local_entrypoints),
        "methods": sorted(partials),
        "web_method": web_config(state, partials).method,
        "web_proxy_auth": web_config(state, partials).requires_proxy_auth,
        "gpu": service._spec.gpus,
        "cpu": service._spec.cpu,
        "memory_mib": service._spec.memory,
        # @modal.concurrent(max_inputs=N) on the class; None when the module leaves it off (1).
        "max_inputs": closure["max_concurrent_inputs"],
        "timeout": closure["timeout"],
        "memory_snapshot": closure["enable_memory_snapshot"],
        "gpu_snapshot": closure["experimental_options"].get("enable_gpu_snapshot"),
        "retries": (
            closure["retry_policy"].retries,
            closure["retry_policy"].backoff_coefficient,
            closure["retry_policy"].initial_delay_ms,
        ),
        "min_containers": autoscaler.min_containers,
        "max_containers": autoscaler.max_containers,
        "scaledown_window": autoscaler.scaledown_window,
        "volumes": {path: volume._name for path, volume in service._spec.volumes.items()},
        "secrets": [secret._name for secret in service._spec.secrets],
        "download_timeout": download_closure["timeout"],
        "download_volumes": {path: volume._name for path, volume in download._spec.volumes.items()},
        "download_gpu": download._spec.gpus,
        "download_resources": (download._spec.cpu, download._spec.memory),
    }


@pytest.mark.parametrize("strategy", sorted(GPUS))
def test_every_bundled_module_deploys_its_models_gpu_and_strategys_containers(strategy):
    minimum, maximum, scaledown, timeout = CONTAINERS[strategy]
    for module_name, gpu in GPUS[strategy].items():
        spec = app_spec(import_generated(REPO / "generated" / strategy / f"{module_name}.py"))
        assert spec == {
            "name": APP_NAMES[module_name],
            "tags": {
                "model": APP_NAMES[module_name],
                "strategy": strategy,
                "managed-by": "modalfleet",
            },
            "functions": ["Model.*", "download"] + (["web"] if module_name in ASYNC_KINDS else []),
            "entrypoints": ["main"],
            "methods": ["generate", "load_weights"]
            + (["run_job", "to_gpu"] if module_name in ASYNC_KINDS else ["to_gpu", "web"]),
            # An ASGI app either way (its routes chosen by the app): a job API or POST /,
            # so every refusal goes through runtime/webapp.py's one handler.
            "web_method": "",
            "web_proxy_auth": True,  # no bundled model or strategy opens its endpoint
            "gpu": gpu,
            "cpu": RESOURCES[module_name][0],
            "memory_mib": RESOURCES[module_name][1],
            "max_inputs": None,  # no bundled model serves two requests at once
            # seedvr2 sets its own (models.yaml): an hour holds the clips its limits admit
            "timeout": 3600 if module_name == "seedvr2" else timeout,
            "memory_snapshot": True,
            "gpu_snapshot": None,  # off unless a model asks for it
            "retries": (2, 2.0, 1000),  # preemption: twice more, 1 s then 2 s later
            "min_containers": minimum,
            "max_containers": maximum,
            "scaledown_window": scaledown,
            "volumes": {"/cache": "model-weights"}
            | (
                {"/outputs": f"{APP_NAMES[module_name]}-outputs"}
                if module_name in ASYNC_KINDS
                else {}
            ),
            "secrets": ["huggingface-secret"],
            "download_timeout": 3600,
            "download_volumes": {"/cache": "model-weights"},
            # flux-schnell's download saves its NF4 transformer (quantized on its own GPU) and
            # int8 T5 once, so it gets the class's GPU, cores and host memory; a plain download
            # gets Modal's defaults.
            "download_gpu": gpu if module_name == "flux_schnell" else None,
            "download_resources": RESOURCES[module_name]
            if module_name == "flux_schnell"
            else (None, None),
        }, f"{strategy}/{module_name}.py"


def test_the_seed_documents_headline_choices():
    hybrid = app_spec(import_generated(REPO / "generated/hybrid/flux_schnell.py"))
    assert hybrid["gpu"] == ["T4", "L4"]  # the document's T4 first, an L4 when none is free
    assert (
        app_spec(import_generated(REPO / "generated/performance-optimized/flux_schnell.py"))["gpu"]
        == "A10"
    )
    assert (
        app_spec(import_generated(REPO / "generated/performance-optimized/wan2_1.py"))["gpu"]
        == "A100-80GB"
    )


def test_golden_fleet_fallback_list_model_containers_volume_and_secrets():
    fast_flux = app_spec(import_generated(GOLDEN / "fast/tiny_flux.py"))
    assert fast_flux["gpu"] == ["A10", "L40S"]  # fallback order kept
    assert (fast_flux["min_containers"], fast_flux["max_containers"]) == (1, 8)
    assert (fast_flux["scaledown_window"], fast_flux["timeout"]) == (600, 900)
    assert fast_flux["volumes"] == {"/cache": "golden-weights"}
    assert fast_flux["secrets"] == []
    fast_lora = app_spec(import_generated(GOLDEN / "fast/tiny_lora.py"))
    assert fast_lora["max_containers"] == 2  # the model's own override beats the strategy's 8
    assert fast_lora["secrets"] == ["hf-token"]
    # tiny-lora sets endpoint: {auth: none}; tiny-flux keeps the default proxy auth.
    assert (fast_flux["web_proxy_auth"], fast_lora["web_proxy_auth"]) == (True, False)
    # tiny-flux sets gpu_snapshot: true (Modal stores the option as a string); tiny-lora does not.
    assert (fast_flux["gpu_snapshot"], fast_lora["gpu_snapshot"]) == ("True", None)
    cheap_flux = app_spec(import_generated(GOLDEN / "cheap/tiny_flux.py"))
    assert (cheap_flux["gpu"], cheap_flux["max_containers"], cheap_flux["timeout"]) == (
        "T4",
        3,
        300,
    )


def test_golden_fleet_resources_and_concurrency_reach_modal():
    # defaults: {cpu: 2, memory_gb: 8} -> 2.0 cores, 8 x 1024 = 8192 MiB
    flux = app_spec(import_generated(GOLDEN / "cheap/tiny_flux.py"))
    assert (flux["cpu"], flux["memory_mib"], flux["max_inputs"]) == (2.0, 8192, None)
    # tiny-lora's own {cpu: 0.5, memory_gb: 4.5}: 4.5 x 1024 = 4608 MiB
    lora = app_spec(import_generated(GOLDEN / "fast/tiny_lora.py"))
    assert (lora["cpu"], lora["memory_mib"], lora["max_inputs"]) == (0.5, 4608, None)
    # tiny-upscale's containers {max_inputs: 2, scaledown_window_s: 3600} beat both strategies'
    for strategy, minimum in (("cheap", 0), ("fast", 1)):
        upscale = app_spec(import_generated(GOLDEN / f"{strategy}/tiny_upscale.py"))
        assert upscale["max_inputs"] == 2
        assert upscale["scaledown_window"] == 3600  # Modal's ceiling, accepted by modal 1.6.4
        assert upscale["min_containers"] == minimum  # not overridden: the strategy's


def test_generate_signature_defaults_are_the_models_params():
    import inspect

    module = import_generated(REPO / "generated/hybrid/flux_schnell.py")
    signature = inspect.signature(raw_method(module, "generate"))
    defaults = {
        name: p.default for name, p in signature.parameters.items() if p.default is not p.empty
    }
    assert defaults == {
        "seed": 0,
        "steps": 4,
        "guidance": 0.0,
        "width": 1024,
        "height": 1024,
        "max_sequence_length": 256,
        "format": "png",  # not model params: the kind's output defaults
        "quality": 90,
        "num_images": 1,
    }
    dev = import_generated(REPO / "generated/hybrid/flux_dev.py")
    dev_defaults = inspect.signature(raw_method(dev, "generate")).parameters
    assert dev_defaults["steps"].default == 28 and dev_defaults["guidance"].default == 3.5
    lora = import_generated(GOLDEN / "cheap/tiny_lora.py")
    lora_params = inspect.signature(raw_method(lora, "generate")).parameters
    # not in models.yaml: the template's fallback; the adapter falls back to the first adapter
    assert lora_params["guidance"].default == 5.0
    assert lora_params["adapter"].default == "ink"
    assert lora_params["negative_prompt"].default == 'blurry, "low" quality'


def test_request_model_validates_bounds_and_fills_defaults():
    from pydantic import ValidationError

    module = import_generated(REPO / "generated/hybrid/wan2_1.py")
    request = module.GenerateRequest(prompt="a boat")
    assert request.model_dump() == {
        "prompt": "a boat",
        "seed": 0,
        "steps": 30,
        "guidance": 5.0,
        "width": 832,
        "height": 480,
        "num_frames": 81,
        "fps": 16,
        "negative_prompt": "",
    }
    for bad in (
        {"prompt": ""},
        {"prompt": "x", "steps": 0},
        {"prompt": "x", "width": 833},
        {"prompt": "x", "fps": 500},
    ):
        with pytest.raises(ValidationError):
            module.GenerateRequest(**bad)


class _FakeKind:
    """Stands in for the runtime kind module (another issue's code) at its contract boundary."""

    def __init__(self, result=b"", error=None):
        self.result, self.error, self.calls = result, error, []

    def check(self, fields):
        """The submit's checks of a video kind (the real ones: tests/runtime/test_jobs.py)."""

    def generate(self, handle, **request):
        self.calls.append(request)
        if self.error:
            raise self.error
        return self.result


def small_png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 100, 50)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_web_endpoint_returns_png_bytes_and_maps_input_errors_to_422():
    from fastapi import HTTPException

    module = import_generated(REPO / "generated/hybrid/instantid.py")
    handler = module.Model._get_user_cls()()
    handler.handle = object()
    handler.phases = module.coldstart.Phases(started=module.STARTED_AT)
    web = module.Model._get_user_cls().respond  # what the app's POST / calls
    png = b"\x89PNG\r\n\x1a\nrest"
    module.instantid = fake = _FakeKind(result=png)
    photo = small_png()  # the handler reads its header (size limit) before the kind sees it
    face = base64.b64encode(photo).decode()
    response = web(handler, module.GenerateRequest(prompt="portrait", face_image=face))
    assert (response.body, response.media_type) == (png, "image/png")
    assert fake.calls[0]["face_image"] == photo
    assert fake.calls[0]["ip_adapter_scale"] == 0.8
    module.instantid = _FakeKind(error=module.errors.InputError("no face found in face_image"))
    with pytest.raises(HTTPException) as raised:
        web(handler, module.GenerateRequest(prompt="portrait", face_image=face))
    assert (raised.value.status_code, raised.value.detail) == (422, "no face found in face_image")
    with pytest.raises(HTTPException) as raised:
        web(handler, module.GenerateRequest(prompt="portrait", face_image="not base64!"))
    assert raised.value.status_code == 422
    (refusal,) = raised.value.detail
    assert refusal["loc"] == ["body", "face_image"] and refusal["type"] == "value_error"
    assert refusal["msg"].startswith("face_image is not valid base64")


def test_upscale_job_answers_with_the_inputs_media_type(tmp_path):
    """SeedVR2's job API: the finished job's file is served with its own kind's media type."""
    from fastapi.testclient import TestClient

    from modalfleet.runtime.encode import mp4_bytes

    module = import_generated(REPO / "generated/hybrid/seedvr2.py")
    module.OUTPUTS_DIR = str(tmp_path)
    handler = module.Model._get_user_cls()()
    handler.handle = object()
    handler.phases = Phases(started=0.0)  # what load_weights sets: nothing timed yet
    handler.records = module.records.Records("seedvr2", "hybrid", "cpu")  # what to_gpu sets
    run_job = raw_method(module, "run_job")

    class RunAtOnce:  # a job backend that runs the job as it is submitted
        def __init__(self):
            self.done = {}

        def submit(self, fields, submitted_at):
            job_id = f"job-{len(self.done)}"
            self.done[job_id] = run_job(handler, fields, job_id, submitted_at)
            return job_id

        def poll(self, job_id):
            return ("done", self.done[job_id]) if job_id in self.done else ("unknown", None)

    client = TestClient(module.make_web_app(RunAtOnce(), reload_outputs=lambda: None))
    clip = base64.b64encode(mp4_bytes([np.zeros((16, 16, 3), np.uint8)] * 2, fps=8)).decode()
    module.video_upscale = _FakeKind(result=b"\x00\x00\x00\x18ftypmp42")
    job = client.post("/submit", json={"media": clip, "filename": "clip.mp4"}).json()["job_id"]
    assert client.get(f"/result/{job}").headers["content-type"] == "video/mp4"
    module.video_upscale = _FakeKind(result=b"\x89PNG\r\n\x1a\n")
    still = base64.b64encode(small_png()).decode()
    job = client.post("/submit", json={"media": still, "filename": "still.png"}).json()["job_id"]
    answer = client.get(f"/result/{job}")
    assert (answer.headers["content-type"], answer.content) == ("image/png", b"\x89PNG\r\n\x1a\n")
    assert float(answer.headers["X-Load-Seconds"]) == 0.0  # no phase timed by this handler
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "job-0.mp4",
        "job-0.timing.json",
        "job-1.png",
        "job-1.timing.json",
    ]
    assert module.MODEL["upstream"]["commit"] == "4490bd1f482e026674543386bb2a4d176da245b9"
