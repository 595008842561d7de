""" "Did you mean ...?" for a name that is not known: the closest known one, else the list."""

from __future__ import annotations

from collections.abc import Iterable


def closest(word: str, choices: Iterable[str]) -> str | None:
    import difflib  # only a problem needs a suggestion: a clean validate never loads it

    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.5)
    return close[0] if close else None


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    choices = list(choices)
    match = closest(word, choices)
    if match is not None:
        return f"did you mean {match!r}?"
    return "known: " + ", ".join(choices)
