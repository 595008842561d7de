"""`render`: write generated/ from the fleet and the templates, or check that it is current."""

from __future__ import annotations

from pathlib import Path

import click

from .common import ExitCode, load_valid_fleet, root_option


@click.command()
@root_option
@click.option("--strategy", help="Render (or check) this strategy's files only.")
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 when generated/ is not what a render would write.",
)
@click.option("--quiet", is_flag=True, help="With --check: list the file names only, no diff.")
@click.option(
    "--templates",
    "templates_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Template folder (default: <root>/templates).",
)
def render(root: Path, strategy: str | None, check: bool, quiet: bool, templates_dir: Path | None):
    """Render every model under every strategy into generated/<strategy>/<model>.py.

    Validates first: with problems nothing is written. The write is atomic: on any failure
    generated/ stays as it was. Files no longer produced are removed.
    """
    from ..generate.render import (
        GENERATED_DIR,
        TEMPLATES_DIR,
        RenderError,
        check_tree,
        probe_tree,
        render_to_disk,
    )

    templates = templates_dir if templates_dir is not None else root / TEMPLATES_DIR
    strategies = [strategy] if strategy else None
    probe = probe_tree(root, templates, strategies)
    if probe.current is not None:  # the cache proves it: nothing to load, render or write
        if check:
            click.echo(f"{GENERATED_DIR}/ is current")
        else:
            click.echo(f"written 0, unchanged {probe.current}, removed 0")
        return
    fleet = load_valid_fleet(root, strategy, show_warnings=False)
    try:
        if check:
            result = check_tree(root, fleet, templates, strategies)
        else:
            written = render_to_disk(root, fleet, templates, strategies, probe.inputs)
    except RenderError as exc:
        click.echo(f"render: {exc}", err=True)
        raise SystemExit(ExitCode.PROBLEMS) from None
    except OSError as exc:
        click.echo(
            f"render: {exc.filename or ''}: {exc.strerror or exc}; generated/ left as it was",
            err=True,
        )
        raise SystemExit(ExitCode.PROBLEMS) from None

    if not check:
        click.echo(
            f"written {len(written.written)}, unchanged {len(written.unchanged)}, removed {len(written.removed)}"
        )
        return
    if result.current:
        click.echo(f"{GENERATED_DIR}/ is current")
        return
    click.echo(
        f"{GENERATED_DIR}/ is out of date; run `python cli.py render` and commit the result:"
    )
    for label, names in (
        ("changed", result.changed),
        ("missing", result.missing),
        ("orphaned", result.orphaned),
    ):
        for name in names:
            click.echo(f"  {label + ':':<9} {GENERATED_DIR}/{name}")
    if not quiet:
        for name in result.changed:
            click.echo("")
            click.echo(result.diffs[name].rstrip("\n"))
    raise SystemExit(ExitCode.PROBLEMS)
