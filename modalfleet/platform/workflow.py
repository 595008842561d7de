"""The deploy workflow as two calls a library user (or a test) makes without click:

- `build_plan(fleet, strategy, root, backend, ...)` reads what it needs (the generated files, the
  live apps, Secrets and Volumes, the environment's name) and returns a `DeployPlan`: per app
  create, update, unchanged or stop, and what would stop the deploy. Nothing is changed.
- `apply_plan(plan, backend, root, ...)` publishes only what the plan creates or updates, then
  stops what a prune stops, reporting each step as an `Event`; it returns the results.

An app whose live version already runs the file's content (the content hash in the tag deploy
sets) is not published again: on Modal a new version replaces the running containers, so an
unchanged app would pay a cold start for nothing. `force` republishes it.

No modal import here: the backend owns the SDK.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from ..fleet.spec import Fleet
from .deploy import (
    DEFAULT_BACKOFF_S,
    DEFAULT_PARALLEL,
    DEFAULT_RETRIES,
    AppResult,
    AppStatus,
    Backend,
    Event,
    PreflightError,
    Target,
    check_generated,
    compare,
    deploy_all,
    git_revision,
    live_entry,
    parse_tag,
    plan_targets,
    select,
    status_targets,
)
from .deploy import require_credentials as check_credentials  # the name is a flag below
from .lifecycle import StopResult, check_resources, stop_apps, strategy_apps, undeclared_apps
from .modal_backend import (
    TOKEN_HELP,
    DeployedApp,
    LiveApp,
    config_problem,
    default_environment,
    find_credentials,
)

CREATE = "create"
UPDATE = "update"
UNCHANGED = "unchanged"
STOP = "stop"
DEPLOY = "deploy"  # a dry run that could not read the live apps: create or update, unknown
ACTIONS = (CREATE, UPDATE, UNCHANGED, STOP)
PUBLISHES = (CREATE, UPDATE, DEPLOY)


@dataclass(frozen=True)
class PlanItem:
    """What the deploy does to one app, and what runs there now."""

    model: str
    app: str
    action: str  # create | update | unchanged | stop (deploy: the live apps were not read)
    detail: str
    gpus: tuple[str, ...] = ()
    target: Target | None = None  # what gets published (None for a stop)
    live_version: int | None = None
    live_tag: str = ""
    stop: LiveApp | None = None  # the app a prune stops

    def to_dict(self) -> dict:
        target = self.target
        return {
            "model": self.model,
            "app": self.app,
            "action": self.action,
            "gpu": list(self.gpus),
            "file": target.file if target else None,
            "hash": target.content_hash if target else None,
            "tag": target.tag if target else None,
            "live_version": self.live_version,
            "live_tag": self.live_tag or None,
            "detail": self.detail,
        }


@dataclass(frozen=True)
class DeployPlan:
    """Everything a deploy would do, decided before anything changes."""

    strategy: str
    environment: str | None  # the environment's real name when Modal gave it ("main")
    revision: str  # the fleet repository's commit, "-dirty" with uncommitted changes
    items: tuple[PlanItem, ...]
    live_read: bool  # False: a dry run without credentials; actions are then `deploy`
    missing_secrets: tuple[str, ...] = ()
    missing_volumes: tuple[str, ...] = ()
    force: bool = False
    notes: tuple[str, ...] = field(default=())  # what a real run would meet, for stderr

    @property
    def to_publish(self) -> list[PlanItem]:
        return [item for item in self.items if item.action in PUBLISHES]

    @property
    def to_stop(self) -> list[PlanItem]:
        return [item for item in self.items if item.action == STOP]

    @property
    def unchanged(self) -> list[PlanItem]:
        return [item for item in self.items if item.action == UNCHANGED]

    @property
    def changes(self) -> bool:
        return bool(self.to_publish or self.to_stop)

    @property
    def blocked(self) -> bool:
        """A Secret the fleet names is missing: nothing may deploy."""
        return bool(self.missing_secrets)

    def counts(self) -> dict[str, int]:
        return {
            action: sum(item.action == action for item in self.items)
            for action in (*ACTIONS, DEPLOY)
        }

    def to_dict(self) -> dict:
        return {
            "strategy": self.strategy,
            "environment": self.environment,
            "revision": self.revision,
            "live_read": self.live_read,
            "force": self.force,
            "counts": self.counts(),
            "apps": [item.to_dict() for item in self.items],
            "missing_secrets": list(self.missing_secrets),
            "missing_volumes": list(self.missing_volumes),
            "notes": list(self.notes),
        }


def plan_item(target: Target, app: DeployedApp | None, force: bool = False) -> PlanItem:
    """create (not deployed), unchanged (its live version runs this content), else update."""
    common = dict(model=target.model, app=target.app, gpus=target.gpus, target=target)
    if app is None:
        return PlanItem(action=CREATE, detail=f"new app, {target.content_hash}", **common)
    _, live_tag = live_entry(app)
    parsed = parse_tag(live_tag)
    live = dict(live_version=app.live_version, live_tag=live_tag)
    if parsed and parsed[0] == target.content_hash:
        if force:
            detail = f"v{app.live_version} runs {target.content_hash}; --force republishes it"
            return PlanItem(action=UPDATE, detail=detail, **live, **common)
        detail = f"v{app.live_version} runs {target.content_hash}"
        return PlanItem(action=UNCHANGED, detail=detail, **live, **common)
    running = parsed[0] if parsed else (live_tag or "an untagged version")
    detail = f"v{app.live_version} runs {running} -> {target.content_hash}"
    return PlanItem(action=UPDATE, detail=detail, **live, **common)


def stop_item(app: LiveApp) -> PlanItem:
    return PlanItem(
        model=app.tags.get("model", app.name),
        app=app.name,
        action=STOP,
        detail="no longer in models.yaml",
        stop=app,
    )


def build_plan(
    fleet: Fleet,
    strategy: str,
    root: Path,
    backend: Backend,
    *,
    models: tuple[str, ...] | list[str] = (),
    environment: str | None = None,
    prune: bool = False,
    force: bool = False,
    render_first: bool = False,
    dry_run: bool = False,
    revision: str | None = None,
    require_credentials: bool = True,
) -> DeployPlan:
    """The plan of `deploy`: every check and read it needs, in the pre-flight's order (names, a
    current generated/ tree, credentials, the workspace); nothing is changed.

    A dry run without credentials does not read the live apps: the plan then lists what would
    be published (action `deploy`) with a note saying why it cannot say more. Raises
    PreflightError (unknown names, stale tree, no credentials) and BackendError (Modal could
    not be read). require_credentials=False skips looking for a token (a fake backend).
    """
    deployments = select(fleet, strategy, models)
    files = check_generated(root, fleet, strategy, render_first=render_first, write=not dry_run)
    revision = revision if revision is not None else git_revision(root)
    environment = environment or default_environment()
    targets = plan_targets(deployments, files, revision, environment)
    notes = []
    if revision.endswith("-dirty"):
        notes.append(
            "the fleet repository has uncommitted changes: the tags end in -dirty "
            f"({revision}); commit first so each deploy traces to a commit"
        )
    if require_credentials:
        if dry_run and config_problem() is None and find_credentials() is None:
            notes.append(f"{TOKEN_HELP}; a real deploy stops here, and the live apps were not read")
            return DeployPlan(
                strategy,
                environment,
                revision,
                tuple(unread_item(t) for t in targets),
                False,
                notes=tuple(notes),
            )
        check_credentials()
    environment = backend.environment_name(environment)
    targets = [replace(t, environment=environment) for t in targets]
    deployed = backend.deployed_apps([t.app for t in targets], environment)
    items = [plan_item(t, deployed.get(t.app), force) for t in targets]
    if prune:
        live = backend.live_apps(environment)
        items += [stop_item(app) for app in undeclared_apps(fleet, strategy, live)]
    resources = check_resources(deployments, backend, environment)
    return DeployPlan(
        strategy,
        environment,
        revision,
        tuple(items),
        True,
        tuple(resources.missing_secrets),
        tuple(resources.missing_volumes),
        force,
        tuple(notes),
    )


def unread_item(target: Target) -> PlanItem:
    return PlanItem(
        model=target.model,
        app=target.app,
        action=DEPLOY,
        detail=f"tag {target.tag} (live apps not read)",
        gpus=target.gpus,
        target=target,
    )


# --- applying ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What a deploy did: one result per planned app (unchanged ones included), the stops."""

    results: list[AppResult]
    stops: list[StopResult]
    not_pruned: list[PlanItem]  # stops skipped because a deploy failed
    created_volumes: list[str]

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results) and all(s.ok for s in self.stops)


def unchanged_result(item: PlanItem) -> AppResult:
    return AppResult(item.model, item.app, item.gpus, UNCHANGED, 0.0, None, None, 0, item.live_tag)


def apply_plan(
    plan: DeployPlan,
    backend: Backend,
    root: Path,
    *,
    create_volumes: bool = False,
    parallel: int = DEFAULT_PARALLEL,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = DEFAULT_BACKOFF_S,
    on_event: Callable[[Event], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> Applied:
    """Publish what the plan creates or updates, then stop what it stops.

    Stops run only after every publish succeeded: a failed deploy leaves the old apps running.
    Raises PreflightError for a blocked plan (a missing Secret) or a Volume it cannot create.
    """
    from .modal_backend import BackendError

    if plan.blocked:
        raise PreflightError(
            f"the fleet needs {len(plan.missing_secrets)} Modal Secret(s) that environment "
            f"{plan.environment or 'default'} lacks; nothing deployed"
        )
    if not plan.live_read:
        raise PreflightError("this plan did not read the live apps; it cannot be applied")
    created = []
    if create_volumes:
        for name in plan.missing_volumes:
            try:
                backend.create_volume(name, plan.environment)
            except BackendError as exc:
                raise PreflightError(
                    f"cannot create volume {name}: {exc.message}; nothing deployed"
                ) from None
            created.append(name)
    publish = [item.target for item in plan.to_publish]
    published = deploy_all(
        publish,
        backend,
        root,
        parallel=parallel,
        retries=retries,
        backoff_s=backoff_s,
        on_event=on_event,
        sleep=sleep,
    )
    by_app = {result.app: result for result in published}
    results = [
        by_app[item.app] if item.action in PUBLISHES else unchanged_result(item)
        for item in plan.items
        if item.action != STOP
    ]
    stops: list[StopResult] = []
    not_pruned: list[PlanItem] = []
    if all(result.ok for result in published):
        for item in plan.to_stop:
            if on_event is not None:
                on_event(Event(item.model, "stopping"))
            (stopped,) = stop_apps([item.stop], backend, plan.environment)
            if on_event is not None:
                state = "stopped" if stopped.ok else "stop-failed"
                on_event(Event(item.model, state, message=stopped.error))
            stops.append(stopped)
    else:
        not_pruned = plan.to_stop
    return Applied(results, stops, not_pruned, created)


# --- status and destroy ----------------------------------------------------------------------


def read_status(
    fleet: Fleet,
    root: Path,
    strategy: str | None,
    backend: Backend,
    environment: str | None = None,
    require_credentials: bool = True,
) -> tuple[list[AppStatus], str | None]:
    """What runs against what the YAML renders to now, per app (status), and the environment's
    real name. Raises PreflightError and BackendError as build_plan does."""
    strategies = [strategy] if strategy else list(fleet.strategies)
    environment = environment or default_environment()
    targets, on_disk = status_targets(Path(root), fleet, strategies, environment)
    if require_credentials:
        check_credentials()
    environment = backend.environment_name(environment)
    apps = [target.app for target in next(iter(targets.values()))]
    deployed = backend.deployed_apps(apps, environment)
    undeclared = undeclared_apps(fleet, strategy, backend.live_apps(environment))
    return compare(targets, deployed, on_disk, undeclared), environment


def destroy_targets(
    strategy: str,
    models: tuple[str, ...] | list[str],
    backend: Backend,
    environment: str | None = None,
    require_credentials: bool = True,
) -> tuple[list[LiveApp], str | None]:
    """The live modalfleet apps of `strategy` (and `models`) that destroy would stop, and the
    environment's real name."""
    if require_credentials:
        check_credentials()
    environment = backend.environment_name(environment or default_environment())
    return strategy_apps(backend.live_apps(environment), strategy, models), environment
