"""Keeping the live workspace equal to the YAML: the apps the fleet no longer declares (prune,
destroy), stopping them, and the Secrets and Volumes the fleet needs (pre-flight). What a
deploy changes per app is workflow.py's plan.

Only apps tagged managed-by: modalfleet are ever stopped: an app deployed by hand, or by another
tool, is never touched whatever its name. No modal import here: the backend owns the SDK.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from ..fleet.spec import Deployment, Fleet
from .modal_backend import BackendError, LiveApp

MANAGED_BY = "managed-by"
MODALFLEET = "modalfleet"


def is_managed(app: LiveApp) -> bool:
    return app.tags.get(MANAGED_BY) == MODALFLEET


def undeclared_apps(fleet: Fleet, strategy: str | None, live: Iterable[LiveApp]) -> list[LiveApp]:
    """Live modalfleet apps (of `strategy`, or of any strategy when None) whose name no model of
    the fleet has any more: what `deploy --prune` stops and `status` shows as untracked."""
    declared = {model.app_name for model in fleet.models.values()}
    return [
        app
        for app in live
        if is_managed(app)
        and app.name not in declared
        and (strategy is None or app.tags.get("strategy") == strategy)
    ]


def strategy_apps(
    live: Iterable[LiveApp], strategy: str, models: Iterable[str] = ()
) -> list[LiveApp]:
    """Live modalfleet apps deployed under `strategy` (limited to `models`, matched by the app's
    model tag or its name): what `destroy` stops."""
    wanted = set(models)
    return [
        app
        for app in live
        if is_managed(app)
        and app.tags.get("strategy") == strategy
        and (not wanted or app.tags.get("model") in wanted or app.name in wanted)
    ]


@dataclass(frozen=True)
class StopResult:
    app: str
    model: str
    ok: bool
    error: str = ""


def stop_apps(apps: list[LiveApp], backend, environment: str | None) -> list[StopResult]:
    """Stop each app; one failure does not stop the others."""
    results = []
    for app in apps:
        if not is_managed(app):  # the promise, kept here too and not only by the callers
            raise ValueError(f"refusing to stop {app.name}: not tagged {MANAGED_BY}: {MODALFLEET}")
        model = app.tags.get("model", app.name)
        try:
            backend.stop_app(app, environment)
        except BackendError as exc:
            results.append(StopResult(app.name, model, False, exc.message))
        else:
            results.append(StopResult(app.name, model, True))
    return results


# --- Secrets and Volumes -----------------------------------------------------------------


@dataclass
class ResourceCheck:
    secrets: list[str] = field(default_factory=list)  # every Secret the deployments name
    volumes: list[str] = field(default_factory=list)
    missing_secrets: list[str] = field(default_factory=list)
    missing_volumes: list[str] = field(default_factory=list)


def required_resources(deployments: list[Deployment]) -> tuple[list[str], list[str]]:
    """The Secret and Volume names the deployments use, each once, in models.yaml order."""
    secrets: dict[str, None] = {}
    volumes: dict[str, None] = {}
    for deployment in deployments:
        for name in deployment.model.secrets:
            secrets[name] = None
        if deployment.model.volume:
            volumes[deployment.model.volume] = None
    return list(secrets), list(volumes)


def check_resources(
    deployments: list[Deployment], backend, environment: str | None
) -> ResourceCheck:
    """Which of the Secrets and Volumes the deployments name exist in the environment."""
    secrets, volumes = required_resources(deployments)
    check = ResourceCheck(secrets=secrets, volumes=volumes)
    if secrets:
        existing = backend.secret_names(environment)
        check.missing_secrets = [name for name in secrets if name not in existing]
    if volumes:
        existing = backend.volume_names(environment)
        check.missing_volumes = [name for name in volumes if name not in existing]
    return check


def secret_create_command(name: str, environment: str | None) -> str:
    """The command that creates a missing Secret, with the key the handlers read for it."""
    hugging_face = "hugging" in name.lower() or name.lower().startswith("hf")
    pair = "HF_TOKEN=<your Hugging Face token>" if hugging_face else "KEY=VALUE"
    where = f" --env {environment}" if environment else ""
    return f"modal secret create {name} {pair}{where}"
