"""Where bench requests go: the deployed Modal class on a chosen GPU, or the generated module here.

Both follow bench.Executor: open(gpu) returns a function that sends one request and returns the
handler's output bytes. modal is imported inside the executors only.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bench import BenchError

# The names every generated handler module uses for its class and its inference method.
CLASS_NAME = "Model"
METHOD_NAME = "generate"
# Where the handlers' runtime (modalfleet/runtime/weights.py) reads local weights from.
WEIGHTS_DIR_ENV = "MODALFLEET_WEIGHTS_DIR"


class ModalExecutor:
    """The model's deployed class, looked up by name and overridden per GPU (no redeploy).

    `Cls.with_options(gpu=...)` makes a variant that autoscales on its own, so the first call
    on each GPU starts a fresh container: that is the cold start bench reports.
    """

    def __init__(self, app_name: str, environment: str | None = None):
        from .modal_backend import BackendError, bounded_connect, config_problem

        problem = config_problem()
        if problem is not None:  # importing modal would fail on it
            raise BenchError(problem)
        import modal
        import modal.exception

        self._errors = modal.exception
        self._backend_error = BackendError
        self._app_name = app_name
        self._cls = modal.Cls.from_name(app_name, CLASS_NAME, environment_name=environment)
        try:
            # A few attempts and a time bound (MODALFLEET_CONNECT_TIMEOUT), not the SDK's
            # minutes of retries against a server that is unreachable or never answers.
            bounded_connect()
            self._cls.hydrate()  # the lookup: fails here, once, when the app is not deployed
        except Exception as exc:
            raise BenchError(self._explain(exc)) from None

    def _explain(self, exc: Exception) -> str:
        errors = self._errors
        if isinstance(exc, self._backend_error):  # the server did not answer the hello in time
            return f"cannot reach Modal: {exc.message}"
        if isinstance(exc, errors.AuthError):
            return "no Modal credentials: run `modal token new` or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"
        if isinstance(exc, errors.NotFoundError):
            return f"app {self._app_name!r} has no deployed class {CLASS_NAME!r}: deploy it first (modalfleet deploy)"
        if isinstance(exc, errors.ConnectionError | ConnectionError):
            return f"cannot reach Modal: {exc}"
        return f"cannot look up {self._app_name}.{CLASS_NAME} on Modal: {type(exc).__name__}: {exc}"

    def open(self, gpu: str) -> Callable[[dict[str, Any]], Any]:
        instance = self._cls.with_options(gpu=gpu)()
        method = getattr(instance, METHOD_NAME)

        def send(request: dict[str, Any]) -> Any:
            try:
                return method.remote(**request)
            except self._errors.AuthError as exc:  # not a per-request failure: stop the bench
                raise BenchError(self._explain(exc)) from None

        return send


class LocalExecutor:
    """The generated module imported in-process; `.local()` runs its @enter hook and method here.

    One instance serves every call, so the first call pays the weight loading (the local "cold
    start") and the rest are warm, as on Modal. The GPU name is only a label: everything runs on
    this machine's device (runtime.device picks CPU when there is no CUDA).
    """

    def __init__(self, module_path: Path):
        self._path = Path(module_path)
        self._module = None
        self._instance = None
        self._loaded = False  # the first call runs the @enter hook: it loads the weights

    def _load(self):
        if not self._path.is_file():
            raise BenchError(f"{self._path} does not exist: run `modalfleet render` first")
        from .modal_backend import config_problem

        problem = config_problem()
        if problem is not None:  # the module imports modal, which would fail on it
            raise BenchError(problem)
        name = f"_modalfleet_bench_{self._path.stem}"
        spec = importlib.util.spec_from_file_location(name, self._path)
        if spec is None or spec.loader is None:
            raise BenchError(f"cannot import {self._path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look the module up by name
        try:
            spec.loader.exec_module(module)
        except Exception as exc:
            sys.modules.pop(name, None)
            raise BenchError(f"cannot import {self._path}: {type(exc).__name__}: {exc}") from None
        if not hasattr(module, CLASS_NAME):
            raise BenchError(f"{self._path} defines no class {CLASS_NAME!r}")
        return module

    def open(self, gpu: str) -> Callable[[dict[str, Any]], Any]:
        if self._module is None:
            self._module = self._load()
            self._instance = getattr(self._module, CLASS_NAME)()
        method = getattr(self._instance, METHOD_NAME)

        def send(request: dict[str, Any]) -> Any:
            with warnings.catch_warnings():
                # Expected here: the weights come from MODALFLEET_WEIGHTS_DIR, not the Volume.
                warnings.filterwarnings(
                    "ignore", message=".*executing locally.*Volume", category=UserWarning
                )
                if self._loaded:
                    return method.local(**request)
                try:
                    result = method.local(**request)
                except Exception as exc:
                    # Loading failed (weights missing, offline...): every further request would
                    # try the same download again. Stop at the first and say where weights go.
                    raise BenchError(self._load_failure(exc)) from None
                self._loaded = True
                return result

        return send

    def _load_failure(self, exc: Exception) -> str:
        first_line = (str(exc).strip().splitlines() or [""])[0]
        message = (
            f"the first request (it loads the weights) failed: {type(exc).__name__}: {first_line}"
        )
        if os.environ.get(WEIGHTS_DIR_ENV):
            return f"{message} (weights from {WEIGHTS_DIR_ENV}={os.environ[WEIGHTS_DIR_ENV]})"
        return (
            f"{message}; {WEIGHTS_DIR_ENV} is not set, so the handler loads the full weights from "
            f"the Hugging Face hub: set {WEIGHTS_DIR_ENV}=<folder with one folder per artefact> "
            "(README: bench --local)"
        )


def prepare_tiny_weights(model) -> tuple[str, dict[str, Any]]:
    """bench --local --tiny: tiny random weights for the model in a new temporary folder, which
    the handler's runtime then reads (MODALFLEET_WEIGHTS_DIR, the hub offline), and the request
    parameters they suit. The caller removes the folder."""
    import shutil
    import tempfile

    folder = tempfile.mkdtemp(prefix="modalfleet-tiny-")
    try:
        from .tiny_weights import for_bench

        params = for_bench(model.kind, [w.repo for w in model.weights], Path(folder))
    except ValueError as exc:
        shutil.rmtree(folder, ignore_errors=True)
        raise BenchError(str(exc)) from None
    os.environ[WEIGHTS_DIR_ENV] = folder
    os.environ["HF_HUB_OFFLINE"] = "1"  # the tiny weights are all there is: never reach the hub
    return folder, params
