"""Aligned tables for the commands' text and markdown output (cost, plan, deploy, bench, spend).

On a terminal a text table fits its width: the columns a table names as least important
(`drop`, least important first) go until the rest fits, and a line under the table says which
went and that `--wide` shows them. The width is set once per command (cli/term.py: the
terminal's width on a terminal, none through a pipe or with --wide, so piped output keeps every
column); markdown tables never fold.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextvars import ContextVar

GAP = 2  # spaces between columns
_width: ContextVar[int | None] = ContextVar("modalfleet_table_width", default=None)


def set_width(width: int | None) -> None:
    """The width text tables fit from now on in this context; None: every column, however wide."""
    _width.set(width)


def width() -> int | None:
    return _width.get()


def _lay_out(header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool]):
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = []
        for i, cell in enumerate(row):
            align_right = right[i] if i < len(right) else False
            cells.append(str(cell).rjust(widths[i]) if align_right else str(cell).ljust(widths[i]))
        lines.append((" " * GAP).join(cells).rstrip())
    return lines


def table(
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    right: Sequence[bool] = (),
    drop: Sequence[int] = (),
    indent: int = 0,
) -> list[str]:
    """An aligned plain-text table: columns padded to their widest cell, two spaces apart.

    drop: column indices that may go when the table (after `indent` spaces) is wider than the
    width set with set_width, least important first.
    """
    lines = _lay_out(header, rows, right)
    limit = _width.get()
    if limit is None or not drop:
        return lines
    keep = list(range(len(header)))
    gone: list[str] = []
    for index in drop:
        if max(len(line) for line in lines) + indent <= limit:
            break
        keep.remove(index)
        gone.append(str(header[index]))
        lines = _lay_out(
            [header[i] for i in keep],
            [[row[i] for i in keep] for row in rows],
            [right[i] if i < len(right) else False for i in keep],
        )
    if gone:
        lines.append(f"(left out to fit {limit} columns: {', '.join(gone)}; --wide shows them)")
    return lines


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]], right=()) -> list[str]:
    def escape(cell: str) -> str:
        return str(cell).replace("|", "\\|")

    align = [
        ("---:" if (right[i] if i < len(right) else False) else "---") for i in range(len(header))
    ]
    lines = ["| " + " | ".join(escape(c) for c in header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(escape(c) for c in row) + " |" for row in rows]
    return lines
