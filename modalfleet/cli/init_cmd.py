"""`init`: start a new fleet repository from a packaged example."""

from __future__ import annotations

from pathlib import Path

import click

from .common import ExitCode, with_examples


@with_examples(
    "modalfleet init myfleet --example minimal",
    "modalfleet init --example six-models",
    "modalfleet init myfleet --force",
)
@click.command()
@click.argument(
    "directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."), required=False
)
@click.option(
    "--example",
    type=click.Choice(["six-models", "minimal"]),
    default="six-models",
    show_default=True,
    help="six-models: this project's fleet (six models, four strategies); minimal: one model, one strategy.",
)
@click.option("--force", is_flag=True, help="Overwrite files that already exist.")
def init(directory: Path, example: str, force: bool):
    """Start a new fleet repository in DIRECTORY (default: here) from a packaged example.

    Writes models.yaml, gpus.yaml, strategies/, CI workflows, a pre-commit config, the JSON
    Schemas (schema/) and a README.

    Refuses (exit 1, naming them) when any of those files exist, unless --force. The result
    validates and renders at once.
    """
    from importlib.metadata import version

    from ..fleet.scaffold import EXAMPLES, ScaffoldError, scaffold_files, write_scaffold

    try:
        # The installed distribution's version, as --version shows it: CI installs this one.
        files = scaffold_files(example, version("modalfleet"))
        result = write_scaffold(directory, files, force=force)
    except ScaffoldError as exc:
        click.echo(f"init: {exc}", err=True)
        raise SystemExit(ExitCode.PROBLEMS) from None
    except OSError as exc:
        click.echo(
            f"init: {exc.filename or directory}: {exc.strerror or exc}; nothing written", err=True
        )
        raise SystemExit(ExitCode.PROBLEMS) from None
    for name in result.written:
        click.echo(f"  wrote        {name}")
    for name in result.overwritten:
        click.echo(f"  overwrote    {name}")
    where = "" if directory == Path(".") else f"cd {directory} && "
    click.echo(
        f"fleet {example!r} written to {directory}/ ({len(files)} files). Next: "
        f"{where}modalfleet validate && modalfleet render, then commit; "
        f"deploy with `modalfleet deploy --strategy {EXAMPLES[example]}`."
    )
