"""The one result type of validation: a Problem, and its text and JSON formatting.

Loaders and checks return problems; they never print. The CLI picks a reporter.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True, order=True)
class Problem:
    """One finding in one file at one position: an error or a warning, with its code."""

    file: str
    line: int
    column: int
    code: str
    severity: str
    message: str
    hint: str = ""
    # The model a model-level warning belongs to, so models.yaml can acknowledge it; not part
    # of a problem's identity (sorting, duplicates) nor of the JSON contract.
    model: str = field(default="", compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity == ERROR

    def to_text(self) -> str:
        text = f"{self.file}:{self.line}:{self.column}: {self.severity}[{self.code}] {self.message}"
        if self.hint:
            # A hint may hold a snippet to paste (a file skeleton): its lines stay indented.
            text += "\n  hint: " + self.hint.replace("\n", "\n    ")
        return text

    def to_dict(self) -> dict:
        data = asdict(self)
        # The JSON contract orders keys code first; asdict follows field order.
        return {
            key: data[key]
            for key in ("code", "severity", "file", "line", "column", "message", "hint")
        }


def problem(
    code: str,
    where: tuple[str, int, int],
    message: str,
    hint: str = "",
    severity: str = ERROR,
    model: str = "",
) -> Problem:
    file, line, column = where
    return Problem(
        file=file,
        line=line,
        column=column,
        code=code,
        severity=severity,
        message=message,
        hint=hint,
        model=model,
    )


def has_errors(problems: Iterable[Problem]) -> bool:
    return any(p.is_error for p in problems)


def sort_problems(problems: Iterable[Problem]) -> list[Problem]:
    # Stable, reader-friendly order: by file, then position; duplicates collapse.
    return sorted(set(problems))


def format_text(problems: Iterable[Problem], acknowledged: dict[Problem, str] | None = None) -> str:
    """Each problem (an acknowledged one with its reason), then the count of each severity."""
    problems = list(problems)
    acknowledged = acknowledged or {}
    lines = []
    for p in problems:
        lines.append(p.to_text())
        if p in acknowledged:
            lines.append(f"  acknowledged: {acknowledged[p]}")
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    lines.append(f"{errors} error(s), {warnings} warning(s)")
    return "\n".join(lines)


def acknowledged_summary(acknowledged: Iterable[Problem], hidden: bool) -> str:
    """One line for the warnings acknowledged in models.yaml: how many, whose, which codes."""
    counts: dict[tuple[str, str], int] = {}
    for p in acknowledged:
        counts[(p.model, p.code)] = counts.get((p.model, p.code), 0) + 1
    total = sum(counts.values())
    parts = ", ".join(
        f"{model} {code}" + (f" x{count}" if count > 1 else "")
        for (model, code), count in sorted(counts.items())
    )
    tail = "hidden by --quiet" if hidden else "--quiet hides them"
    return f"{total} acknowledged warning(s): {parts} ({tail})"


def format_json(problems: Iterable[Problem]) -> str:
    return json.dumps([p.to_dict() for p in problems], indent=2, ensure_ascii=False)


class FleetError(Exception):
    """Raised when a fleet cannot be used at all; carries the problems that say why."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(p.to_text() for p in problems))
        self.problems = problems
