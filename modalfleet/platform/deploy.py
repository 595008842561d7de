"""Deploy a strategy's generated apps and compare what runs with what would deploy now.

Three parts, each a plain function that workflow.py strings together (build_plan, apply_plan,
read_status):

- pre-flight (`check_generated`, `require_credentials`, `plan_targets`): nothing reaches Modal
  unless the generated tree is current and credentials exist; each failure is a
  `PreflightError` carrying its message and exit code.
- `deploy_all`: bounded parallel deploys through a `Backend` (modal_backend.ModalBackend, or
  a fake in tests), transient errors retried with exponential backoff, one result per app.
- `compare`: deployed state (version, tag, rollback events) against the current files.

No modal import here: the backend owns the SDK.
"""

from __future__ import annotations

import re
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from ..fleet.resolve import resolve
from ..fleet.spec import Deployment, Fleet
from ..generate.render import GENERATED_DIR, content_hash, template_search_path
from .modal_backend import (
    TOKEN_HELP,
    BackendError,
    Deployed,
    DeployedApp,
    DeployRequest,
    HistoryEntry,
    LiveApp,
    config_problem,
    find_credentials,
)

DEFAULT_PARALLEL = 4
DEFAULT_RETRIES = 2
DEFAULT_BACKOFF_S = 2.0
MAX_BACKOFF_S = 60.0
MAX_TAG = 50  # Modal: [A-Za-z0-9._-], at most 50 characters
TAG_RE = re.compile(r"^(?P<hash>[0-9a-f]{12})-(?P<revision>[0-9a-f]{4,12}(?:-dirty)?|nogit)$")

# Exit codes of the pre-flight (ExitCode values; kept as ints so the library needs no click).
PROBLEMS = 1
USAGE = 2


class Backend(Protocol):
    """What deploy needs from Modal. ModalBackend is the real one; tests pass a fake."""

    def deploy(self, request: DeployRequest) -> Deployed: ...

    def deployed_apps(
        self, apps: list[str], environment: str | None
    ) -> dict[str, DeployedApp | None]: ...

    def live_apps(self, environment: str | None) -> list[LiveApp]: ...

    def stop_app(self, app: LiveApp, environment: str | None) -> None: ...

    def secret_names(self, environment: str | None) -> set[str]: ...

    def volume_names(self, environment: str | None) -> set[str]: ...

    def create_volume(self, name: str, environment: str | None) -> None: ...

    def environment_name(self, environment: str | None) -> str: ...


def make_backend(timeout_s: float | None = None) -> Backend:
    """The backend the CLI uses (tests replace this function to inject a fake)."""
    from .modal_backend import DEFAULT_APP_TIMEOUT_S, ModalBackend

    return ModalBackend(timeout_s=timeout_s or DEFAULT_APP_TIMEOUT_S)


class PreflightError(Exception):
    """A reason not to deploy, with the exit code it maps to and lines that explain it."""

    def __init__(self, message: str, exit_code: int = PROBLEMS, details: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code
        self.details = details or []


# --- pre-flight ------------------------------------------------------------------------------


def check_generated(
    root: Path, fleet: Fleet, strategy: str, render_first: bool = False, write: bool = True
) -> dict[str, str]:
    """The strategy's rendered files (relpath under generated/ -> text), refusing a stale tree.

    With render_first the tree is brought up to date first (written unless write is False,
    as for a dry run, which then describes what rendering would produce).
    """
    from ..generate import render

    try:
        rendered = render.render_tree(fleet, template_search_path(root), strategies=[strategy])
        if render_first:
            if not write:
                return _by_generated_path(rendered)
            render.write_tree(root, rendered, strategies=[strategy])
        result = render.compare_tree(root, rendered, strategies=[strategy])
    except render.RenderError as exc:
        raise PreflightError(f"cannot render {GENERATED_DIR}/{strategy}: {exc}", PROBLEMS) from None
    except OSError as exc:  # an unwritable generated/ or its lock; write_tree left it as it was
        raise PreflightError(
            f"cannot render {GENERATED_DIR}/{strategy}: {exc.filename or ''}: "
            f"{exc.strerror or exc}; {GENERATED_DIR}/ left as it was",
            PROBLEMS,
        ) from None
    if not result.current:
        stale = [f"changed:  {GENERATED_DIR}/{p}" for p in result.changed]
        stale += [f"missing:  {GENERATED_DIR}/{p}" for p in result.missing]
        stale += [f"orphaned: {GENERATED_DIR}/{p}" for p in result.orphaned]
        raise PreflightError(
            f"{GENERATED_DIR}/{strategy} is out of date with the fleet spec; run: python cli.py render "
            f"--strategy {strategy} (or deploy --render), review and commit, then deploy",
            PROBLEMS,
            stale,
        )
    return _by_generated_path(rendered)


def _by_generated_path(rendered: Mapping[str, str]) -> dict[str, str]:
    # render keys are relative to generated/ (Deployment.relative_path); accept either form.
    prefix = GENERATED_DIR + "/"
    return {path.removeprefix(prefix): text for path, text in rendered.items()}


def require_credentials(environ: Mapping[str, str] | None = None) -> str:
    """Where the credentials come from, or PreflightError with how to create a token."""
    problem = config_problem(environ)
    if problem is not None:
        raise PreflightError(problem, PROBLEMS)
    source = find_credentials(environ)
    if source is None:
        raise PreflightError(TOKEN_HELP, PROBLEMS)
    return source


def select(
    fleet: Fleet, strategy: str, models: tuple[str, ...] | list[str] = ()
) -> list[Deployment]:
    """The strategy's deployments, in models.yaml order, limited to models when given."""
    if strategy not in fleet.strategies:
        raise PreflightError(
            f"unknown strategy {strategy!r}; known: {', '.join(fleet.strategies)}", USAGE
        )
    unknown = [name for name in models if name not in fleet.models]
    if unknown:
        raise PreflightError(
            f"unknown model(s) {', '.join(map(repr, unknown))}; known: {', '.join(fleet.models)}",
            USAGE,
        )
    wanted = set(models)
    return [d for d in resolve(fleet, strategy) if not wanted or d.model.name in wanted]


# --- what gets deployed ----------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """One app to deploy: the model, the generated file and the tag that traces it."""

    model: str
    app: str
    module: str
    gpus: tuple[str, ...]
    file: str  # relative to the fleet root, e.g. generated/hybrid/flux_schnell.py
    content_hash: str
    tag: str
    environment: str | None


def files_on_disk(root: Path, deployments: list[Deployment]) -> dict[str, str]:
    """The generated files of deployments as they are now (status compares with these)."""
    files = {}
    for deployment in deployments:
        path = root / GENERATED_DIR / deployment.relative_path
        try:
            files[deployment.relative_path] = path.read_bytes().decode("utf-8", errors="replace")
        except OSError:
            raise PreflightError(
                f"{GENERATED_DIR}/{deployment.relative_path} is missing; run: python cli.py render",
                PROBLEMS,
            ) from None
    return files


def git_revision(root: Path) -> str:
    """Short commit of the fleet repository, "-dirty" when its working tree has changes."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short=7", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
        if head.returncode != 0:
            return "nogit"
        status = subprocess.run(
            ["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True, timeout=30
        )
    except (OSError, subprocess.TimeoutExpired):
        return "nogit"
    revision = head.stdout.strip()[:12]
    return f"{revision}-dirty" if status.stdout.strip() else revision


def make_tag(file_hash: str, revision: str) -> str:
    """<content hash>-<commit>[-dirty]: within Modal's tag rules (50 chars of [A-Za-z0-9._-])."""
    tag = f"{file_hash}-{revision}"
    assert len(tag) <= MAX_TAG and TAG_RE.match(tag), tag
    return tag


def parse_tag(tag: str) -> tuple[str, str] | None:
    """(content hash, revision) of a tag made by make_tag; None for any other tag."""
    found = TAG_RE.match(tag or "")
    return (found["hash"], found["revision"]) if found else None


def plan_targets(
    deployments: list[Deployment], files: Mapping[str, str], revision: str, environment: str | None
) -> list[Target]:
    targets = []
    for deployment in deployments:
        text = files[deployment.relative_path]
        file_hash = content_hash(text)
        targets.append(
            Target(
                model=deployment.model.name,
                app=deployment.model.app_name,
                module=deployment.model.module_name,
                gpus=deployment.gpus,
                file=f"{GENERATED_DIR}/{deployment.relative_path}",
                content_hash=file_hash,
                tag=make_tag(file_hash, revision),
                environment=environment,
            )
        )
    return targets


# --- deploying -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Event:
    """Progress of one app, for a live display: queued, deploying, retrying, deployed, failed."""

    model: str
    state: str
    attempt: int = 0
    seconds: float = 0.0
    message: str = ""


@dataclass(frozen=True)
class AppResult:
    model: str
    app: str
    gpus: tuple[str, ...]
    status: str  # deployed | failed | unchanged (already running this content: not published)
    seconds: float
    url: str | None
    error: str | None
    attempts: int
    tag: str

    @property
    def ok(self) -> bool:
        return self.status in ("deployed", "unchanged")

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "app": self.app,
            "gpu": list(self.gpus),
            "status": self.status,
            "seconds": round(self.seconds, 2),
            "url": self.url,
            "error": self.error,
            "attempts": self.attempts,
            "tag": self.tag,
        }


def backoff_delay(retry: int, base_s: float) -> float:
    """Seconds to wait before retry number `retry` (1, 2, ...): base, 2*base, 4*base, capped."""
    return min(base_s * 2 ** (retry - 1), MAX_BACKOFF_S)


def deploy_all(
    targets: list[Target],
    backend: Backend,
    root: Path,
    parallel: int = DEFAULT_PARALLEL,
    retries: int = DEFAULT_RETRIES,
    backoff_s: float = DEFAULT_BACKOFF_S,
    on_event: Callable[[Event], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[AppResult]:
    """Deploy every target, at most `parallel` at once; results in target order.

    One app's failure never stops the others. Transient failures (BackendError.transient) are
    retried up to `retries` times with exponential backoff; permanent ones are not.
    """
    emit_lock = threading.Lock()

    def emit(event: Event) -> None:
        if on_event is not None:
            with emit_lock:  # the display is not thread-safe; keep events whole and ordered
                on_event(event)

    def one(target: Target) -> AppResult:
        started = time.monotonic()
        request = DeployRequest(
            app=target.app,
            file=(root / target.file).resolve(),
            module=target.module,
            tag=target.tag,
            environment=target.environment,
            root=root.resolve(),
        )
        attempt = 0
        while True:
            attempt += 1
            emit(Event(target.model, "deploying", attempt, time.monotonic() - started))
            try:
                deployed = backend.deploy(request)
            except BackendError as exc:
                error, transient = exc.message, exc.transient
            except Exception as exc:  # a bug in a backend must fail this app, not the run
                error, transient = f"{type(exc).__name__}: {exc}", False
            else:
                seconds = time.monotonic() - started
                emit(Event(target.model, "deployed", attempt, seconds, deployed.url or ""))
                return AppResult(
                    target.model,
                    target.app,
                    target.gpus,
                    "deployed",
                    seconds,
                    deployed.url,
                    None,
                    attempt,
                    target.tag,
                )
            if transient and attempt <= retries:
                delay = backoff_delay(attempt, backoff_s)
                emit(
                    Event(
                        target.model,
                        "retrying",
                        attempt,
                        time.monotonic() - started,
                        f"{error}; retrying in {delay:g} s",
                    )
                )
                sleep(delay)
                continue
            seconds = time.monotonic() - started
            if transient and retries:
                error = f"{error} (gave up after {attempt} attempts)"
            emit(Event(target.model, "failed", attempt, seconds, error))
            return AppResult(
                target.model,
                target.app,
                target.gpus,
                "failed",
                seconds,
                None,
                error,
                attempt,
                target.tag,
            )

    for target in targets:
        emit(Event(target.model, "queued"))
    with ThreadPoolExecutor(max_workers=max(1, parallel), thread_name_prefix="deploy") as pool:
        futures = [pool.submit(one, target) for target in targets]
        try:
            return [future.result() for future in futures]
        except KeyboardInterrupt:
            pool.shutdown(wait=False, cancel_futures=True)
            raise


# --- status and drift ------------------------------------------------------------------------

IN_SYNC = "in-sync"
NOT_DEPLOYED = "not-deployed"
UNRENDERED = "out-of-date (unrendered YAML)"  # generated/ is not what the YAML renders to
OUT_OF_DATE = "out-of-date (rendered, not deployed)"  # generated/ is current; the app is not
ROLLED_BACK = "rolled-back"
UNTAGGED = "untagged"  # the live version has no modalfleet tag (e.g. a plain `modal deploy`)
UNTRACKED = "untracked"  # a managed-by: modalfleet app that the fleet no longer declares


@dataclass(frozen=True)
class AppStatus:
    model: str
    app: str
    state: str
    current_hash: str  # what the YAML renders to now (a fresh in-memory render)
    strategy: str  # the strategy whose file matches what runs ("" when none does)
    live_version: int | None
    live_tag: str
    live_commit: str
    newest_tag: str  # the newest tagged deployment, which a rollback leaves behind
    detail: str
    on_disk_hash: str = ""  # generated/<strategy>'s file as it is ("missing" when absent)

    @property
    def drift(self) -> bool:
        return self.state != IN_SYNC

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "app": self.app,
            "status": self.state,
            "current_hash": self.current_hash,
            "on_disk_hash": self.on_disk_hash or None,
            "strategy": self.strategy or None,
            "deployed_version": self.live_version,
            "deployed_tag": self.live_tag or None,
            "deployed_commit": self.live_commit or None,
            "newest_tag": self.newest_tag or None,
            "detail": self.detail,
        }


def live_entry(app: DeployedApp) -> tuple[HistoryEntry | None, str]:
    """The history entry that is live and the tag it effectively runs.

    A rollback is recorded as a new version; when it carries no tag of its own, it runs the
    tag of the version it rolled back to.
    """
    by_version = {entry.version: entry for entry in app.history}
    live = by_version.get(app.live_version)
    if live is None:
        return None, ""
    tag = live.tag
    if not tag and live.rollback and live.rollback_version in by_version:
        tag = by_version[live.rollback_version].tag
    return live, tag


def status_targets(
    root: Path, fleet: Fleet, strategies: list[str], environment: str | None
) -> tuple[dict[str, list[Target]], dict[str, list[str]]]:
    """What status compares the live apps with, per strategy: the targets of a fresh in-memory
    render of the YAML, and the hash of each one's file in generated/ ("missing" when absent)."""
    from ..generate import render

    try:
        rendered = render.render_tree(fleet, template_search_path(root), strategies=strategies)
    except render.RenderError as exc:
        raise PreflightError(f"cannot render the fleet: {exc}", PROBLEMS) from None
    targets: dict[str, list[Target]] = {}
    on_disk: dict[str, list[str]] = {}
    for name in strategies:
        deployments = select(fleet, name)
        targets[name] = plan_targets(deployments, rendered, "nogit", environment)
        on_disk[name] = [_disk_hash(Path(root), d) for d in deployments]
    return targets, on_disk


def _disk_hash(root: Path, deployment: Deployment) -> str:
    path = root / GENERATED_DIR / deployment.relative_path
    try:
        return content_hash(path.read_bytes().decode("utf-8", errors="replace"))
    except OSError:
        return "missing"


def compare(
    targets_by_strategy: Mapping[str, list[Target]],
    deployed: Mapping[str, DeployedApp | None],
    on_disk: Mapping[str, list[str]] | None = None,
    undeclared: list = (),
) -> list[AppStatus]:
    """Per app: is what runs what the YAML renders to now, and is generated/ rendered?

    targets_by_strategy come from a fresh render of the YAML; on_disk holds the hashes of the
    files in generated/ (None: taken to equal the render). With several strategies (status
    without --strategy) an app is in sync when it runs the current file of any of them; the
    matching strategy is reported. `undeclared` (LiveApps) become untracked rows at the end.
    """
    first = next(iter(targets_by_strategy.values()))
    statuses = []
    for index, target in enumerate(first):
        hashes = {
            strategy: targets[index].content_hash
            for strategy, targets in targets_by_strategy.items()
        }
        disk = {
            strategy: on_disk[strategy][index] if on_disk is not None else hashes[strategy]
            for strategy in hashes
        }
        current = (
            target.content_hash if len(hashes) == 1 else ",".join(sorted(set(hashes.values())))
        )
        disk_text = (
            disk[next(iter(disk))] if len(disk) == 1 else ",".join(sorted(set(disk.values())))
        )
        unrendered = [strategy for strategy in hashes if disk[strategy] != hashes[strategy]]
        app = deployed.get(target.app)
        if app is None:
            statuses.append(
                AppStatus(
                    target.model,
                    target.app,
                    NOT_DEPLOYED,
                    current,
                    "",
                    None,
                    "",
                    "",
                    "",
                    "no deployed app named " + target.app,
                    disk_text,
                )
            )
            continue
        live, live_tag = live_entry(app)
        newest = next((entry for entry in app.history if entry.tag and not entry.rollback), None)
        newest_tag = newest.tag if newest else ""
        commit = (live.commit + ("*" if live.dirty else "")) if live and live.commit else ""
        parsed = parse_tag(live_tag)
        matching = [
            strategy for strategy, file_hash in hashes.items() if parsed and parsed[0] == file_hash
        ]
        common = dict(
            live_version=app.live_version,
            live_tag=live_tag,
            live_commit=commit,
            newest_tag=newest_tag,
        )
        rolled_back = live is not None and (
            live.rollback or (newest is not None and newest.version > live.version)
        )
        if unrendered:  # the YAML changed and generated/ was not rendered: render, commit, deploy
            strategy = unrendered[0]
            module = target.file.rsplit("/", 1)[-1]
            state = UNRENDERED
            detail = (
                f"{GENERATED_DIR}/{strategy}/{module} is {disk[strategy]}, the YAML renders "
                f"{hashes[strategy]}; run render, commit, deploy"
            )
        elif matching:  # what runs is what would deploy now, rollback or not
            state, detail = IN_SYNC, f"runs {live_tag}"
        elif rolled_back:
            state = ROLLED_BACK
            detail = f"live v{app.live_version} runs {live_tag or 'an untagged version'}, newest deploy is {newest_tag or 'untagged'}"
        elif parsed is None:
            state, detail = (
                UNTAGGED,
                f"live v{app.live_version} has no modalfleet tag ({live_tag or 'none'})",
            )
        else:
            state, detail = OUT_OF_DATE, f"runs {parsed[0]}, generated/ would deploy {current}"
        statuses.append(
            AppStatus(
                target.model,
                target.app,
                state,
                current,
                ",".join(matching),
                **common,
                detail=detail,
                on_disk_hash=disk_text,
            )
        )
    for live_app in undeclared:
        statuses.append(
            AppStatus(
                live_app.tags.get("model", live_app.name),
                live_app.name,
                UNTRACKED,
                "",
                live_app.tags.get("strategy", ""),
                None,
                "",
                "",
                "",
                "managed-by: modalfleet, but models.yaml no longer declares it; "
                "deploy --prune or destroy stops it",
            )
        )
    return statuses
