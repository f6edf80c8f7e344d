"""``aider-review: ignore`` comments: a finding on a line that carries one, or under a line
that is nothing but one, is not reported.

Any comment syntax counts: ``#``, ``//``, ``--``, ``/* */``, ``<!-- -->``, ``;``. The bare form
suppresses every finding there; ``aider-review: ignore[bug,security]`` only findings of those
categories (each word matched by its family, so ``ignore[bug]`` also covers "correctness").
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aider_hooks.finding import Finding, category_family

_COMMENT_OPENERS = r"(?:#|//|--|/\*|<!--|;)"
# The marker after a comment opener on the same line; the categories are optional.
_MARKER = re.compile(_COMMENT_OPENERS + r"[^\n]*?\baider-review:\s*ignore\b(?:\[([^\]\n]*)\])?",
                     re.IGNORECASE)
_ALONE = re.compile(r"^\s*" + _COMMENT_OPENERS + r"\s*aider-review:\s*ignore\b"
                    r"(?:\[[^\]\n]*\])?\s*(?:\*/|-->)?\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class Directive:
    """An ``aider-review: ignore[...]`` comment: the categories it silences."""
    categories: frozenset[str]  # families; empty: every category

    def covers(self, finding: Finding) -> bool:
        return not self.categories or category_family(finding.category) in self.categories


def directive(line: str) -> Directive | None:
    """The ignore directive in one line of code, or None."""
    if "aider-review" not in line.lower():
        return None
    match = _MARKER.search(line)
    if match is None:
        return None
    words = match.group(1)
    if words is None:
        return Directive(frozenset())
    families = frozenset(category_family(w) for w in words.split(",") if w.strip())
    return Directive(families)


def suppressed_by_comment(finding: Finding, lines: Sequence[str]) -> bool:
    """Whether an ignore comment on the finding's line, or alone on the line above, covers it.

    ``lines`` are the lines of the new file (index 0 is line 1).
    """
    index = finding.line - 1
    if 0 <= index < len(lines):
        found = directive(lines[index])
        if found is not None and found.covers(finding):
            return True
    if 1 <= index <= len(lines):
        above = lines[index - 1]
        if _ALONE.match(above):
            found = directive(above)
            return found is not None and found.covers(finding)
    return False


def file_lines_reader(read_new_file: Callable[[str], bytes | None],
                      fallback: Callable[[str], dict[int, str]]) -> Callable[[str], list[str]]:
    """``path -> lines of the new file``, read once per path: the file itself when it can be
    read, else the lines the diff shows (``fallback``: line number -> text)."""
    from aider_hooks.diff.source import decode_file_lines

    cache: dict[str, list[str]] = {}

    def lines_of(path: str) -> list[str]:
        if path not in cache:
            data = read_new_file(path)
            if data is not None:
                cache[path] = decode_file_lines(data)
            else:
                known = fallback(path)
                size = max(known, default=0)
                cache[path] = [known.get(n, "") for n in range(1, size + 1)]
        return cache[path]

    return lines_of
