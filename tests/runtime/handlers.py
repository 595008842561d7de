"""Loading the generated handler modules and reaching what Modal builds around them."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
STRATEGY = "hybrid"  # every strategy renders the same inference code; only the GPU differs


def load_generated(model_module: str, strategy: str = STRATEGY) -> ModuleType:
    """Import generated/<strategy>/<model_module>.py by path, as `modal deploy` would."""
    path = REPO / "generated" / strategy / f"{model_module}.py"
    name = f"generated_{strategy.replace('-', '_')}_{model_module}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader, path
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


@contextmanager
def generated_handler(model_module: str, weights: Path) -> Iterator[tuple[ModuleType, Any]]:
    """The generated module and one Model() whose @enter hook loads the tiny weights at `weights`."""
    from modalfleet.runtime.weights import WEIGHTS_DIR_ENV

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(WEIGHTS_DIR_ENV, str(weights))
        module = load_generated(model_module)
        yield module, module.Model()


def entered(model_obj: Any) -> Any:
    """Run Model()'s enter hooks (both, in Modal's order) without a request; the instance."""
    model_obj._enter()
    return user_instance(model_obj)


def user_instance(model_obj: Any) -> Any:
    """The user-class instance behind Model() that .local() calls ran @enter on (modal 1.6.4)."""
    return model_obj._cached_user_cls_instance()


def web_app(module: ModuleType, model_obj: Any):
    """The FastAPI app the module's `web` method (@modal.asgi_app) serves inside a container.

    Modal calls that method once per container on the user instance its enter hooks ran on;
    this does exactly that, so the pydantic request model, the handler body, the error mapping
    and the request records all run as deployed.
    """
    instance = user_instance(model_obj)
    return module.Model._get_user_cls().__dict__["web"]._get_raw_f().__get__(instance)()


class CountingJobs:
    """A job backend that spawns nothing and counts what would have been spawned."""

    def __init__(self):
        self.spawned: list[dict[str, Any]] = []
        self.polled: list[str] = []

    def submit(self, fields: dict[str, Any], submitted_at: float) -> str:
        self.spawned.append(fields)
        return f"job-{len(self.spawned)}"

    def poll(self, job_id: str) -> tuple[str, Any]:
        self.polled.append(job_id)
        return "unknown", None


def logged_records(text: str) -> list[dict[str, Any]]:
    """The modalfleet records among captured log lines (other lines skipped), in order."""
    import json

    found = []
    for line in text.splitlines():
        if line.startswith('{"event": "modalfleet.'):
            found.append(json.loads(line))
    return found
