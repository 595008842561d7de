"""The text of deploy, status and destroy: the plan, the results, the one-line summaries.

Plain functions over the plan and result objects of platform/ (read by attribute, so this
layer imports nothing above it); the commands only print what these return.
"""

from __future__ import annotations

from .tables import table


def where(environment: str | None) -> str:
    """The environment as messages name it: its real name, else what the SDK would pick."""
    return environment or "default"


def _table(headers: list[str], rows: list[list[str]], right: set[int] = frozenset()) -> str:
    return "\n".join(table(headers, rows, [i in right for i in range(len(headers))]))


def plan_table(plan) -> str:
    rows = [
        [item.model, item.app, ",".join(item.gpus) or "-", item.action, item.detail]
        for item in plan.items
    ]
    return _table(["MODEL", "APP", "GPU", "ACTION", "DETAIL"], rows)


def plan_summary(plan) -> str:
    """`plan: N to create, N to update, N unchanged, N to stop`, with where and what commit."""
    if not plan.live_read:
        return (
            f"plan: {len(plan.items)} to deploy (created or updated: the live apps were not read)"
            f" in environment {where(plan.environment)}, commit {plan.revision}"
        )
    counts = plan.counts()
    return (
        f"plan: {counts['create']} to create, {counts['update']} to update, "
        f"{counts['unchanged']} unchanged, {counts['stop']} to stop "
        f"(strategy {plan.strategy}, environment {where(plan.environment)}, commit {plan.revision})"
    )


def plan_text(plan) -> str:
    """The plan as shown once before anything changes: the table, then its summary line."""
    return plan_table(plan) + "\n" + plan_summary(plan)


def missing_secrets_text(plan, create_command) -> str:
    """Why a plan is blocked, and the command that creates each missing Secret."""
    lines = [
        f"error: the fleet needs {len(plan.missing_secrets)} Modal Secret(s) that environment "
        f"{where(plan.environment)} lacks; nothing deployed. Create them:"
    ]
    lines += [f"  {create_command(name, plan.environment)}" for name in plan.missing_secrets]
    return "\n".join(lines)


def missing_volume_lines(plan, create_volumes: bool) -> list[str]:
    """Missing Volumes are no reason to stop: the first deploy creates them."""
    if create_volumes:
        return []
    return [
        f"volume {name} is missing: the first deploy creates it (--create-volumes creates it now)"
        for name in plan.missing_volumes
    ]


def question(plan) -> str:
    stops = f" and stop {len(plan.to_stop)}" if plan.to_stop else ""
    return f"Deploy {len(plan.to_publish)} app(s){stops} in environment {where(plan.environment)}?"


def results_table(applied) -> str:
    """One row per planned app: deployed, unchanged or failed, then each stop."""
    rows = [
        [
            r.model,
            r.app,
            ",".join(r.gpus),
            r.status,
            f"{r.seconds:.1f}" if r.status != "unchanged" else "-",
            r.url or r.error or (f"runs {r.tag}" if r.tag else ""),
        ]
        for r in applied.results
    ]
    rows += [
        [s.model, s.app, "-", "stopped" if s.ok else "stop-failed", "-", s.error or ""]
        for s in applied.stops
    ]
    rows += [
        [item.model, item.app, "-", "not-stopped", "-", "left running: a deploy failed"]
        for item in applied.not_pruned
    ]
    return _table(["MODEL", "APP", "GPU", "STATUS", "SECONDS", "URL / DETAIL"], rows, right={4})


def results_summary(applied, plan) -> str:
    statuses = [r.status for r in applied.results]
    parts = [
        f"{statuses.count('deployed')} deployed",
        f"{statuses.count('unchanged')} unchanged",
    ]
    if plan.to_stop:
        parts.append(f"{sum(s.ok for s in applied.stops)} stopped")
    failed = statuses.count("failed") + sum(not s.ok for s in applied.stops)
    parts.append(f"{failed} failed")
    return f"{', '.join(parts)} (environment {where(plan.environment)}, commit {plan.revision})"


def results_json(applied) -> list[dict]:
    rows = [result.to_dict() for result in applied.results]
    rows += [
        {
            "model": s.model,
            "app": s.app,
            "status": "stopped" if s.ok else "stop-failed",
            "error": s.error or None,
        }
        for s in applied.stops
    ]
    rows += [
        {"model": i.model, "app": i.app, "status": "not-stopped", "error": "a deploy failed"}
        for i in applied.not_pruned
    ]
    return rows


def event_line(event) -> str:
    """One progress line per event, for a log (stderr when not on a terminal)."""
    extra = f" ({event.message})" if event.message else ""
    attempt = f" attempt {event.attempt}" if event.state == "deploying" else ""
    return f"{event.model}: {event.state}{attempt}{extra}"


# --- status and destroy ----------------------------------------------------------------------


def status_table(statuses) -> str:
    rows = [
        [
            s.model,
            s.state,
            f"v{s.live_version}" if s.live_version else "-",
            s.live_tag or "-",
            s.live_commit or "-",
            s.current_hash or "-",
            s.detail,
        ]
        for s in statuses
    ]
    return _table(["MODEL", "STATUS", "LIVE", "TAG", "COMMIT", "CURRENT", "DETAIL"], rows)


def status_summary(statuses, environment: str | None) -> str:
    drifting = sum(s.drift for s in statuses)
    return (
        f"{len(statuses) - drifting} in sync, {drifting} drifting "
        f"(environment {where(environment)})"
    )


def apps_table(apps) -> str:
    rows = [[app.tags.get("model", app.name), app.name, app.app_id] for app in apps]
    return _table(["MODEL", "APP", "APP ID"], rows)
