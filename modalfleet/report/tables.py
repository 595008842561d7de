"""Aligned tables for the commands' text and markdown output (cost, plan, deploy, bench, spend)."""

from __future__ import annotations

from collections.abc import Sequence


def table(
    header: Sequence[str], rows: Sequence[Sequence[str]], right: Sequence[bool] = ()
) -> list[str]:
    """An aligned plain-text table: columns padded to their widest cell, two spaces apart."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = []
    for row in [header, *rows]:
        cells = []
        for i, cell in enumerate(row):
            align_right = right[i] if i < len(right) else False
            cells.append(str(cell).rjust(widths[i]) if align_right else str(cell).ljust(widths[i]))
        lines.append("  ".join(cells).rstrip())
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
