"""The Modal SDK boundary: credentials, deploying one generated module, reading deployed state.

This is the only module of modalfleet that imports `modal` (its private names only through
modal_internals.py), and only inside functions, so
`validate`, `render`, `cost` and `plan` stay fast. Everything above it (deploy.py) talks to a
`Backend`; tests put a fake in its place.

Each app is deployed by a child process (`python -m modalfleet.platform.modal_backend deploy ...`):
importing a generated module runs its top-level code (image definitions, decorators), and a
broken module, a hung upload or a crash in the SDK must not take the other apps down with it.
The child prints one result line (RESULT_MARKER + JSON) that the parent reads.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..fleet.statefile import describe

RESULT_MARKER = "MODALFLEET_RESULT "
# How many times the SDK may try to open its channel before the first call. The SDK default
# (18 attempts over ~63 s) makes an unreachable server look like a hang; our own retries with
# backoff (deploy --retries) cover a blip. MODALFLEET_CONNECT_ATTEMPTS overrides it.
DEFAULT_CONNECT_ATTEMPTS = 3
DEFAULT_CONNECT_TIMEOUT_S = 15.0
READ_ATTEMPT_TIMEOUT_S = 15.0  # each status read; a server that stops answering must not hang us
READ_TOTAL_TIMEOUT_S = 45.0
DEFAULT_APP_TIMEOUT_S = 1800.0  # an image build with large packages can take many minutes

TOKEN_HELP = (
    "no Modal credentials found: run `modal token new` (or `modal token set`), "
    "or set MODAL_TOKEN_ID and MODAL_TOKEN_SECRET"
)


class BackendError(Exception):
    """A failure talking to Modal. transient: worth retrying (connection, timeout, 5xx)."""

    def __init__(self, message: str, transient: bool = False):
        super().__init__(message)
        self.message = message
        self.transient = transient


@dataclass(frozen=True)
class DeployRequest:
    """One app to deploy: the generated file and how to name and tag it."""

    app: str
    file: Path
    module: str
    tag: str
    environment: str | None
    root: Path  # the fleet repository: the child runs there, so Modal records its git commit


@dataclass(frozen=True)
class Deployed:
    app_id: str | None
    url: str | None


@dataclass(frozen=True)
class HistoryEntry:
    version: int
    tag: str
    commit: str  # short git hash Modal recorded ("" when none)
    dirty: bool
    rollback: bool  # this event is a rollback to rollback_version
    rollback_version: int = 0


@dataclass(frozen=True)
class DeployedApp:
    """What Modal says is deployed under one app name."""

    app_id: str
    live_version: int
    history: tuple[HistoryEntry, ...] = field(default_factory=tuple)  # newest first


@dataclass(frozen=True)
class LiveApp:
    """A deployed app of the environment and its app-level tags (managed-by, model, strategy)."""

    name: str
    app_id: str
    tags: Mapping[str, str] = field(default_factory=dict)


# --- credentials -----------------------------------------------------------------------------


def config_path(environ: Mapping[str, str] | None = None) -> Path:
    environ = os.environ if environ is None else environ
    return Path(environ.get("MODAL_CONFIG_PATH") or os.path.expanduser("~/.modal.toml"))


def config_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why the SDK would refuse its config file, as a sentence; None when it would read it.

    modal 1.6.4 reads ~/.modal.toml (MODAL_CONFIG_PATH) at import time and raises InvalidError
    from the import itself, after printing a banner to stdout. Mirroring its check (same
    parser) lets every command stop first with one line and a clean stdout.
    """
    environ = os.environ if environ is None else environ
    path = config_path(environ)
    if environ.get("MODAL_IS_REMOTE") == "1" or not os.path.exists(path):
        return None
    import toml  # the SDK's own parser (a dependency of modal), so both agree on the file

    mode = os.stat(path).st_mode
    try:
        if stat.S_ISFIFO(mode) or stat.S_ISCHR(mode) or stat.S_ISBLK(mode) or stat.S_ISSOCK(mode):
            # Opening a FIFO waits for a writer, /dev/zero never ends: neither is read.
            raise OSError(0, f"it is {describe(mode)}, not a file")
        with open(path, encoding="utf-8") as stream:
            data = toml.load(stream)
    except Exception as exc:  # toml raises TomlDecodeError, OSError, UnicodeDecodeError...
        reason = _config_error(exc)
    else:
        if all(isinstance(value, dict) for value in data.values()):
            return None
        reason = "every setting must sit in a [profile] table"
    return (
        f"cannot read the Modal configuration {path}: {reason}; fix it or move it aside "
        "(the Modal SDK refuses to start with it)"
    )


def _config_error(exc: Exception) -> str:
    """What is wrong with the config file, without any of its text: the file holds tokens, and
    the parser's own message quotes the value it choked on (`could not convert string to float:
    '1.2.3.SECRET'`). Where it is (line, column) is safe to say and enough to find it."""
    if isinstance(exc, OSError):
        return exc.strerror or type(exc).__name__
    if isinstance(exc, UnicodeDecodeError):
        return f"not UTF-8 text (byte {exc.start})"
    line, column = getattr(exc, "lineno", None), getattr(exc, "colno", None)
    where = f" at line {line}, column {column}" if line and column else ""
    return f"not valid TOML{where} (a value the SDK cannot parse; its text is not shown)"


def find_credentials(environ: Mapping[str, str] | None = None) -> str | None:
    """Where the SDK would take its credentials from, or None when it has none.

    Mirrors modal 1.6.4's config.py without importing modal: each setting comes from
    MODAL_<KEY> first, then from the active profile of ~/.modal.toml (MODAL_CONFIG_PATH; the
    profile is MODAL_PROFILE, else the one marked active, else "default"). Token credentials
    need both an id and a secret; OAuth needs a refresh token, a client id and a client secret
    or JWT key.
    """
    environ = os.environ if environ is None else environ
    path = config_path(environ)
    profiles: dict[str, Any] = {}
    if path.is_file():
        try:
            profiles = tomllib.loads(path.read_text("utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            profiles = {}  # the SDK would refuse this file too; treat it as no credentials
    active = next(
        (
            name
            for name, values in profiles.items()
            if isinstance(values, dict) and values.get("active") is True
        ),
        "default",
    )
    profile_name = environ.get("MODAL_PROFILE") or active
    profile = profiles.get(profile_name) if isinstance(profiles.get(profile_name), dict) else {}

    def setting(key: str) -> tuple[str, str]:
        if environ.get(f"MODAL_{key.upper()}"):
            return environ[f"MODAL_{key.upper()}"], "environment"
        value = profile.get(key)
        return (str(value), f"profile {profile_name!r} in {path}") if value else ("", "")

    token_id, id_source = setting("token_id")
    token_secret, secret_source = setting("token_secret")
    if token_id and token_secret:
        return id_source if id_source == secret_source else f"{id_source} and {secret_source}"
    refresh, refresh_source = setting("oauth_refresh_token")
    client_id, _ = setting("oauth_client_id")
    if refresh and client_id and (setting("oauth_client_secret")[0] or setting("oauth_jwt_key")[0]):
        return f"OAuth credentials ({refresh_source})"
    return None


def default_environment(environ: Mapping[str, str] | None = None) -> str | None:
    """MODAL_ENVIRONMENT, or None: the SDK then decides (a profile's `environment`, else the
    workspace's default environment)."""
    environ = os.environ if environ is None else environ
    return environ.get("MODAL_ENVIRONMENT") or None


# --- the backend -----------------------------------------------------------------------------


class ModalBackend:
    """The real thing: one child process per deploy; the SDK in-process for reads."""

    def __init__(self, timeout_s: float = DEFAULT_APP_TIMEOUT_S):
        self.timeout_s = timeout_s

    def deploy(self, request: DeployRequest) -> Deployed:
        command = [
            sys.executable,
            "-m",
            "modalfleet.platform.modal_backend",
            "deploy",
            str(request.file),
        ]
        command += ["--name", request.app, "--tag", request.tag, "--module", request.module]
        if request.environment:
            command += ["--env", request.environment]
        # The child runs in the fleet repository; make sure it finds this modalfleet even when
        # it is run from a checkout rather than installed.
        package_parent = str(Path(__file__).resolve().parents[2])
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent, env.get("PYTHONPATH")]))
        try:
            done = subprocess.run(
                command,
                cwd=request.root,
                env=env,
                capture_output=True,
                text=True,
                timeout=self.timeout_s,
            )
        except subprocess.TimeoutExpired:
            raise BackendError(f"timed out after {self.timeout_s:g} s", transient=True) from None
        result = _parse_result(done.stdout)
        if result is None:
            last = _last_line(done.stderr) or f"exit status {done.returncode}"
            raise BackendError(f"deploy process died without a result: {last}", transient=False)
        if not result.get("ok"):
            raise BackendError(
                result.get("error") or "unknown error", transient=bool(result.get("transient"))
            )
        return Deployed(app_id=result.get("app_id"), url=result.get("url"))

    def deployed_apps(
        self, apps: list[str], environment: str | None
    ) -> dict[str, DeployedApp | None]:
        """Deployment state of each app name (None: not deployed) in one SDK session."""
        try:
            return _read_deployed(apps, environment)
        except BackendError:
            raise
        except Exception as exc:  # the SDK raises many types; all mean "could not read"
            raise BackendError(_describe(exc), transient=_is_transient(exc)) from None

    def live_apps(self, environment: str | None) -> list[LiveApp]:
        """Every deployed app of the environment with its tags (stopped apps left out)."""
        return self._sdk(_read_live_apps, environment)

    def stop_app(self, app: LiveApp, environment: str | None) -> None:
        """Stop a deployed app (what `modal app stop` does): its containers end, its URL goes."""
        import modal

        def stop(environment):
            bounded_connect()
            modal.App.lookup(app.name, environment_name=environment).stop()

        self._sdk(stop, environment)

    def secret_names(self, environment: str | None) -> set[str]:
        import modal

        def names(environment):
            bounded_connect()
            return {s.name for s in modal.Secret.objects.list(environment_name=environment or "")}

        return self._sdk(names, environment)

    def volume_names(self, environment: str | None) -> set[str]:
        import modal

        def names(environment):
            bounded_connect()
            return {v.name for v in modal.Volume.objects.list(environment_name=environment or "")}

        return self._sdk(names, environment)

    def create_volume(self, name: str, environment: str | None) -> None:
        import modal

        def create(environment):
            bounded_connect()
            modal.Volume.objects.create(name, environment_name=environment, allow_existing=True)

        self._sdk(create, environment)

    def environment_name(self, environment: str | None) -> str:
        """The environment's real name: `environment` when given, else the one the SDK would use
        (a profile's `environment`, else the workspace's default, which Modal names `main`)."""
        if environment:
            return environment
        import modal

        def name(_):
            bounded_connect()
            found = modal.Environment.from_context()
            found.hydrate()
            return found.name or ""

        return self._sdk(name, None)

    def _sdk(self, call, *args):
        try:
            return call(*args)
        except BackendError:
            raise
        except Exception as exc:  # the SDK raises many types; all mean "could not do it"
            raise BackendError(_describe(exc), transient=_is_transient(exc)) from None


def _parse_result(stdout: str) -> dict | None:
    for line in reversed(stdout.splitlines()):
        if line.startswith(RESULT_MARKER):
            try:
                return json.loads(line[len(RESULT_MARKER) :])
            except json.JSONDecodeError:
                return None
    return None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else ""


# --- error classification --------------------------------------------------------------------

_TRANSIENT_GRPC = {
    "UNAVAILABLE",
    "DEADLINE_EXCEEDED",
    "INTERNAL",
    "UNKNOWN",
    "CANCELLED",
    "RESOURCE_EXHAUSTED",
}


def _is_timeout(exc: BaseException) -> bool:
    import modal.exception as errors

    return isinstance(exc, errors.TimeoutError | TimeoutError)


def _is_transient(exc: BaseException) -> bool:
    """Connection trouble, timeouts and server-side (5xx-like) errors are worth a retry."""
    import modal.exception as errors

    if isinstance(exc, BackendError):
        return exc.transient

    if isinstance(
        exc,
        errors.AuthError
        | errors.InvalidError
        | errors.NotFoundError
        | errors.PermissionDeniedError,
    ):
        return False
    if isinstance(
        exc,
        errors.ConnectionError | errors.TimeoutError | errors.InternalError | errors.ServiceError,
    ):
        return True
    if isinstance(exc, errors.ResourceExhaustedError | errors.InternalFailure):
        return True
    if isinstance(exc, ConnectionError | TimeoutError):  # builtins: reset, refused, socket timeout
        return True
    status = getattr(exc, "status", None)  # grpclib.GRPCError
    return getattr(status, "name", None) in _TRANSIENT_GRPC


def _describe(exc: BaseException) -> str:
    """One line: the exception's type and first line, and its cause's when that adds something."""
    if isinstance(exc, BackendError):
        return exc.message
    text = str(exc).strip().splitlines()
    message = f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
    cause = exc.__cause__ or exc.__context__
    cause_text = (
        str(cause).strip().splitlines()[0] if cause is not None and str(cause).strip() else ""
    )
    if cause_text and cause_text not in message:
        message += f" ({cause_text})"
    return message


# --- in the SDK ------------------------------------------------------------------------------


def bounded_connect() -> None:
    """Open the SDK's channel and say hello, bounded in attempts and time.

    Every command that talks to Modal (deploy, status, spend, bench) calls this before its first
    SDK call. Raises BackendError when the server does not answer in time, else the SDK's own
    exceptions (ConnectionError, AuthError...), which each caller explains in its own words.

    An unreachable server then fails in about a second and a server that accepts but never
    answers in MODALFLEET_CONNECT_TIMEOUT seconds, instead of the SDK's minutes.
    """
    from google.protobuf.empty_pb2 import Empty

    from . import modal_internals as internals

    attempts = int(os.environ.get("MODALFLEET_CONNECT_ATTEMPTS", DEFAULT_CONNECT_ATTEMPTS))
    timeout_s = float(os.environ.get("MODALFLEET_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT_S))

    async def hello() -> None:
        client = await internals.client_from_env()
        await internals.stub(client).ClientHello(Empty(), retry=None, timeout=timeout_s)

    try:
        with internals.connect_attempts(attempts):
            internals.run_blocking(hello)
    except Exception as exc:
        if _is_timeout(exc):
            raise BackendError(
                f"the Modal server did not answer within {timeout_s:g} s", transient=True
            ) from None
        raise


def _read_deployed(apps: list[str], environment: str | None) -> dict[str, DeployedApp | None]:
    # There is no public SDK call for deployment history; `modal app history` itself reads
    # AppGetByDeploymentName + AppDeploymentHistory through the client stub, and so do we.
    from modal_proto import api_pb2

    from . import modal_internals as internals

    bounded_connect()
    retry = internals.read_retry(READ_ATTEMPT_TIMEOUT_S, READ_TOTAL_TIMEOUT_S)
    rollback_type = api_pb2.DEPLOYMENT_TYPE_ROLLBACK

    async def read() -> dict[str, DeployedApp | None]:
        rpc = internals.stub(await internals.client_from_env())
        found: dict[str, DeployedApp | None] = {}
        for name in apps:
            request = api_pb2.AppGetByDeploymentNameRequest(
                name=name, environment_name=environment or ""
            )
            response = await rpc.AppGetByDeploymentName(request, retry=retry)
            if not response.app_id:  # never deployed, or stopped
                found[name] = None
                continue
            history = await rpc.AppDeploymentHistory(
                api_pb2.AppDeploymentHistoryRequest(app_id=response.app_id), retry=retry
            )
            entries = tuple(
                sorted(
                    (
                        HistoryEntry(
                            version=item.version,
                            tag=item.tag,
                            commit=item.commit_info.commit_hash[:7],
                            dirty=item.commit_info.dirty,
                            rollback=item.deployment_type == rollback_type
                            or item.rollback_version > 0,
                            rollback_version=item.rollback_version,
                        )
                        for item in history.app_deployment_histories
                    ),
                    key=lambda entry: entry.version,
                    reverse=True,
                )
            )
            live = history.production_app_version or response.lifecycle.version
            if not live and entries:
                live = entries[0].version
            found[name] = DeployedApp(app_id=response.app_id, live_version=live, history=entries)
        return found

    return internals.run_blocking(read)


def _read_live_apps(environment: str | None) -> list[LiveApp]:
    # No public SDK call lists apps or reads their tags; `modal app list` uses AppList too.
    from modal_proto import api_pb2

    from . import modal_internals as internals

    bounded_connect()
    retry = internals.read_retry(READ_ATTEMPT_TIMEOUT_S, READ_TOTAL_TIMEOUT_S)

    async def read() -> list[LiveApp]:
        rpc = internals.stub(await internals.client_from_env())
        listed = await rpc.AppList(
            api_pb2.AppListRequest(environment_name=environment or ""), retry=retry
        )
        found = []
        for item in listed.apps:
            if item.state != api_pb2.APP_STATE_DEPLOYED:
                continue
            tags = await rpc.AppGetTags(api_pb2.AppGetTagsRequest(app_id=item.app_id), retry=retry)
            found.append(
                LiveApp(
                    name=item.name or item.description, app_id=item.app_id, tags=dict(tags.tags)
                )
            )
        return sorted(found, key=lambda app: app.name)

    return internals.run_blocking(read)


def _import_generated(file: Path, module_name: str):
    """Import a generated module by path under its own name, the way `modal deploy FILE` does."""
    import importlib.util

    from .modal_internals import import_context

    sys.path.insert(0, str(file.parent))
    spec = importlib.util.spec_from_file_location(module_name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot import {file}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    # Inside the import context App.deploy() refuses to run, as for `modal deploy`.
    with import_context():
        spec.loader.exec_module(module)
    return module


def _find_app(module):
    import modal

    apps = [value for value in vars(module).values() if isinstance(value, modal.App)]
    if not apps:
        raise LookupError(f"{module.__name__} defines no modal.App")
    named = getattr(module, "app", None)
    return named if isinstance(named, modal.App) else apps[0]


def _web_url(module, app) -> str | None:
    """The first web endpoint's URL, else the app's dashboard page. Best effort: never raises."""
    import modal

    from .modal_internals import class_web_url

    try:
        for value in vars(module).values():
            if isinstance(value, modal.Function) and (url := value.get_web_url()):
                return url
            if isinstance(value, modal.Cls) and (url := class_web_url(value)):
                return url
    except Exception:
        pass
    try:
        return app.get_dashboard_url()
    except Exception:
        return None


def _deploy_in_this_process(
    file: Path, name: str, module_name: str, tag: str, environment: str | None
) -> dict:
    try:
        module = _import_generated(file, module_name)
        app = _find_app(module)
    except Exception as exc:
        return {
            "ok": False,
            "transient": False,
            "error": f"importing {file.name} failed: {_describe(exc)}",
        }
    try:
        bounded_connect()
        app.deploy(name=name, environment_name=environment, tag=tag)
    except Exception as exc:
        return {"ok": False, "transient": _is_transient(exc), "error": _describe(exc)}
    return {"ok": True, "app_id": getattr(app, "app_id", None), "url": _web_url(module, app)}


def _worker_main(argv: list[str]) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m modalfleet.platform.modal_backend")
    commands = parser.add_subparsers(dest="command", required=True)
    deploy = commands.add_parser("deploy", help="deploy one generated module")
    deploy.add_argument("file", type=Path)
    deploy.add_argument("--name", required=True)
    deploy.add_argument("--module", required=True)
    deploy.add_argument("--tag", default="")
    deploy.add_argument("--env", default=None)
    args = parser.parse_args(argv)
    try:
        result = _deploy_in_this_process(
            args.file.resolve(), args.name, args.module, args.tag, args.env
        )
    except BaseException as exc:  # KeyboardInterrupt, SystemExit from user code: still report
        result = {"ok": False, "transient": False, "error": _describe(exc)}
    print(RESULT_MARKER + json.dumps(result), flush=True)
    return 0 if result.get("ok") else 1


if __name__ == "__main__":
    sys.exit(_worker_main(sys.argv[1:]))
