"""The manual and the README tell the truth: every `console` block marked checked is run in a
fresh copy of the fleet and must print what it shows, every generated section of the manual
fills, and every command has its page."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
import yaml
from conftest import REPO, copy_fleet

from modalfleet.cli import cli

sys.path.insert(0, str(REPO / "docs"))
import hooks  # noqa: E402  (docs/hooks.py: the MkDocs hook that fills generated sections)

CHECKED = "<!-- checked -->"
PAGES = [REPO / "README.md", *sorted((REPO / "docs").rglob("*.md"))]


@dataclass(frozen=True)
class Block:
    file: str
    line: int
    steps: tuple[tuple[str, tuple[str, ...]], ...]  # (command, expected output lines)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


def _rstrip(lines: list[str]) -> list[str]:
    while lines and not lines[-1]:
        lines = lines[:-1]
    return lines


def checked_blocks(path: Path) -> list[Block]:
    """```console blocks right after a `<!-- checked -->` line: `$ ` lines and their output."""
    lines = path.read_text().splitlines()
    blocks = []
    for index, line in enumerate(lines[:-1]):
        if line.strip() != CHECKED:
            continue
        assert lines[index + 1] == "```console", (
            f"{path}:{index + 1}: {CHECKED} must precede ```console"
        )
        end = lines.index("```", index + 2)
        steps: list[tuple[str, list[str]]] = []
        for body in lines[index + 2 : end]:
            if body.startswith("$ "):
                steps.append((body[2:], []))
            else:
                assert steps, f"{path}:{index + 3}: a checked block starts with a `$ ` command"
                steps[-1][1].append(body)
        blocks.append(
            Block(
                str(path.relative_to(REPO)),
                index + 2,
                # A blank line before the next `$ ` separates the commands; it is not output.
                tuple((command, tuple(_rstrip(output))) for command, output in steps),
            )
        )
    return blocks


BLOCKS = [block for page in PAGES for block in checked_blocks(page)]


def matches(expected: tuple[str, ...], actual: list[str]) -> bool:
    """Line by line; a line `...` (indented or not) stands for any number of lines."""
    if not expected:
        return not actual
    if expected[0].strip() == "...":
        return any(matches(expected[1:], actual[skip:]) for skip in range(len(actual) + 1))
    return bool(actual) and actual[0] == expected[0] and matches(expected[1:], actual[1:])


def run(command: str, cwd: Path) -> list[str]:
    assert command.startswith("python cli.py "), f"checked blocks run the CLI only: {command}"
    shell = f"{sys.executable} {REPO / 'cli.py'} {command.removeprefix('python cli.py ')}"
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "MODALFLEET_DEBUG")}
    result = subprocess.run(
        shell, shell=True, cwd=cwd, capture_output=True, text=True, timeout=120, env=env
    )
    return (result.stdout + result.stderr).splitlines()


def test_the_checked_blocks_are_few_and_fast():
    commands = [command.split()[2] for block in BLOCKS for command, _ in block.steps]
    assert 5 <= len(commands) <= 15
    assert set(commands) <= {"validate", "render", "cost", "gpus", "plan"}
    assert {block.file for block in BLOCKS} >= {"README.md", "docs/getting-started.md"}


@pytest.mark.parametrize("block", BLOCKS, ids=str)
def test_checked_console_block_prints_what_it_shows(block, tmp_path):
    fleet = copy_fleet(tmp_path / "fleet")  # a fresh copy: blocks cannot see each other's edits
    for command, expected in block.steps:
        actual = run(command, fleet)
        assert matches(expected, actual), f"{block}: `{command}` printed:\n" + "\n".join(actual)


def test_matching_treats_dots_as_any_lines():
    assert matches(("a", "...", "d"), ["a", "b", "c", "d"])
    assert matches(("a", "  ...", "d"), ["a", "d"])
    assert not matches(("a", "...", "d"), ["a", "b"])
    assert not matches(("a",), ["a", "b"])  # nothing unshown after the last line


def test_every_generated_section_fills():
    for page in PAGES[1:]:
        text = hooks.fill(page.read_text())
        assert "<!-- generated:" not in text, page
    schema = hooks.generate("schema", "models")
    assert (
        "| `models.<name>.acknowledge[].code` | one of | yes | `endpoint-auth`, `resources`, `vram-declared-off`, `dtype-support`, "
        "`weights-pin` | "
        "A problem code that can be a warning. |" in schema
    )
    assert "| `models.<name>.vram_gb` | number | yes | > 0, <= 4096 |" in schema
    assert "| `containers.max_containers` | integer |  | >= 1, <= 1000 |" in hooks.generate(
        "schema", "strategy"
    )
    assert "| `vram-fit` | error |" in hooks.generate("problem-codes", None)
    with pytest.raises(ValueError):
        hooks.generate("schema", "nope")


def test_every_command_has_a_page_with_its_generated_flags():
    nav = yaml.safe_load((REPO / "mkdocs.yml").read_text().replace("!!", ""))["nav"]
    commands_nav = next(entry["Commands"] for entry in nav if "Commands" in entry)
    in_nav = {
        Path(page).stem
        for entry in commands_nav
        if isinstance(entry, dict)
        for page in entry.values()
    }
    for name, command in cli.commands.items():
        page = REPO / "docs" / "commands" / f"{name}.md"
        assert page.is_file(), f"docs/commands/{name}.md is missing"
        assert f"<!-- generated: command {name} -->" in page.read_text(), page
        assert name in in_nav, f"docs/commands/{name}.md is not in mkdocs.yml's nav"
        reference = hooks.generate("command", name)
        for option in command.params:
            assert f"`{option.opts[0]}`" in reference, (name, option.opts[0])
        assert "$ modalfleet " + name in reference  # its examples


def test_user_facing_text_calls_the_document_by_its_name():
    for page in PAGES:
        if page.name == "modal-gpu-requirements.md":
            continue
        text = page.read_text()
        assert not re.search(r"\bsource document\b|\bthe seed\b|\bseed's\b", text, re.I), page


def test_the_readme_links_only_to_files_that_exist():
    # mkdocs --strict checks the manual's links; the README is outside it, so it is checked here.
    links = re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", (REPO / "README.md").read_text())
    local = [link for link in links if not link.startswith(("http://", "https://"))]
    assert len(local) > 10
    assert [link for link in local if not (REPO / link).is_file()] == []


# --- pages that render wrong while `mkdocs build --strict` passes ------------------------------

FENCE = re.compile(r"^\s*(`{3,}|~{3,})(.*)$")
DELIMITER_ROW = re.compile(r"^\s*\|?\s*:?-+:?\s*(\|\s*:?-+:?\s*)*\|?\s*$")
FIXTURES = Path(__file__).parent / "docs_fixtures"


def structure_problems(text: str) -> list[str]:
    """`line N: ...` for each code fence never closed (at the end of the page, or where another
    fence with an info string opens inside it) and each table whose second line is not the
    header's delimiter row (`|---|---|`): markdown shows both as plain text without a warning."""
    problems = []
    lines = text.splitlines()
    fence = None  # (marker, line number) of the open fence
    table_start = None
    for number, line in enumerate(lines, 1):
        found = FENCE.match(line)
        if fence is not None:
            marker, opened = fence
            if found and found.group(1)[0] == marker[0] and len(found.group(1)) >= len(marker):
                if not found.group(2).strip():
                    fence = None
                else:
                    problems.append(
                        f"line {number}: a {found.group(1)}{found.group(2).strip()} fence opens "
                        f"inside the fence opened at line {opened}, which is never closed"
                    )
                    fence = (found.group(1), number)
            continue
        if found:
            fence = (found.group(1), number)
            table_start = None
            continue
        if line.lstrip().startswith("|"):
            if table_start is None:
                table_start = number
                if number == len(lines) or not DELIMITER_ROW.match(lines[number]):
                    problems.append(f"line {number}: a table without a header row")
        else:
            table_start = None
    if fence is not None:
        problems.append(f"line {fence[1]}: the {fence[0]} fence opened here is never closed")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda page: str(page.relative_to(REPO)))
def test_every_page_closes_its_fences_and_heads_its_tables(page):
    text = page.read_text()
    assert structure_problems(text) == [], page
    if page.parent.is_relative_to(REPO / "docs"):  # what the build makes of it, examples included
        assert structure_problems(hooks.fill(text)) == [], page


def test_the_structure_check_catches_each_defect():
    assert structure_problems((FIXTURES / "unclosed_fence.md").read_text()) == [
        "line 10: a ```console fence opens inside the fence opened at line 3, which is never closed"
    ]
    assert structure_problems((FIXTURES / "unclosed_at_end.md").read_text()) == [
        "line 3: the ``` fence opened here is never closed"
    ]
    assert structure_problems((FIXTURES / "headerless_table.md").read_text()) == [
        "line 4: a table without a header row"
    ]
    # What is not a defect: a longer fence holding a shorter one, a table after a blank line.
    assert structure_problems("````markdown\n```console\n$ x\n```\n````\n") == []
    assert structure_problems("text\n\n| a | b |\n|---|--:|\n| 1 | 2 |\n") == []


def test_the_command_tables_list_commands_in_the_order_help_does():
    listed = cli.list_commands(click.Context(cli))
    for page in (REPO / "README.md", REPO / "docs/commands/index.md"):
        rows = re.findall(r"^\| \[([a-z]+)\]\(", page.read_text(), re.MULTILINE)
        assert rows == listed, page


def test_the_readme_stays_a_front_door():
    # Issue 15: under 12 KB; the manual (docs/) holds the rest.
    assert len((REPO / "README.md").read_bytes()) < 12 * 1024
