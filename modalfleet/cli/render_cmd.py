"""`render`: write generated/ from the fleet and the templates, or check that it is current."""

from __future__ import annotations

from pathlib import Path

import click

from . import term
from .common import ExitCode, complete_strategies, load_valid_fleet, root_option, with_examples


@with_examples(
    "modalfleet render",
    "modalfleet render --check",
    "modalfleet render --strategy hybrid --check --quiet",
)
@click.command()
@root_option
@click.option(
    "--strategy",
    help="Render (or check) this strategy's files only.",
    shell_complete=complete_strategies,
)
@click.option(
    "--check",
    is_flag=True,
    help="Write nothing; exit 1 when generated/ is not what a render would write.",
)
@click.option("--quiet", is_flag=True, help="With --check: list the file names only, no diff.")
@click.option(
    "--templates",
    "templates_dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="The fleet's own template folder (default: <root>/templates); its files override the "
    "packaged templates of the same name.",
)
def render(root: Path, strategy: str | None, check: bool, quiet: bool, templates_dir: Path | None):
    """Render every model under every strategy into generated/<strategy>/<model>.py.

    Validates first: with problems nothing is written. The write is atomic: on any failure
    generated/ stays as it was. Files no longer produced are removed.
    """
    from ..generate.render import (
        GENERATED_DIR,
        RenderError,
        check_tree,
        probe_tree,
        render_to_disk,
        template_search_path,
    )

    templates = template_search_path(root, templates_dir)
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
        term.error(f"render: {exc}")
        raise SystemExit(ExitCode.PROBLEMS) from None
    except OSError as exc:
        term.error(
            f"render: {exc.filename or ''}: {exc.strerror or exc}; generated/ left as it was"
        )
        raise SystemExit(ExitCode.PROBLEMS) from None

    if not check:
        click.echo(
            f"written {len(written.written)}, unchanged {len(written.unchanged)}, removed {len(written.removed)}"
        )
        return
    if result.current:
        term.echo(f"{GENERATED_DIR}/ is current", "diff")
        return
    lines = [f"{GENERATED_DIR}/ is out of date; run `python cli.py render` and commit the result:"]
    for label, names in (
        ("changed", result.changed),
        ("missing", result.missing),
        ("orphaned", result.orphaned),
        ("leftover", result.leftovers),
    ):
        lines += [f"  {label + ':':<9} {GENERATED_DIR}/{name}" for name in names]
    if not quiet:
        for name in result.changed:
            lines += ["", result.diffs[name].rstrip("\n")]
    term.echo("\n".join(lines), "diff")
    raise SystemExit(ExitCode.PROBLEMS)
