"""The enclosing ``def``/``class`` of a Python hunk, shown to the model as ``Hunk.enclosing``.

With the new file at hand (``DefIndex``, built once per file and scanned lazily, in order),
the answer is the innermost block open at the first changed line. Without it, only the hunk's
own leading context and git's section header (the text after ``@@ ... @@``) are scanned.

The scan is a heuristic on indentation, not a parser (see ``_DefScanner``), so that it
survives code that does not parse.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from aider_hooks.hunk import DiffLine

_DEF = re.compile(r"[ \t]*(?:async[ \t]+def|def|class)[ \t]+\w")
_PY_TOKEN = re.compile(r'"""|\'\'\'|"|\'|#|\\.|[()\[\]{}]')
_BRACKET = re.compile(r"[()\[\]{}]")


class _Scope(NamedTuple):
    indent: int
    text: str
    parent: _Scope | None


class _DefScanner:
    """Feeds Python lines in order and keeps the stack of open ``def``/``class`` blocks.

    Indentation-based, with just enough tokenizing (brackets, strings, comments, backslash
    continuations) to know which lines start a statement: a heuristic that survives code
    that does not parse, which staged code often does not.
    """

    def __init__(self, base: _Scope | None = None) -> None:
        self.scope = base
        self.depth = 0  # open brackets
        self.string: str | None = None  # the delimiter of an open multi-line string
        self.continued = False  # the previous line ended with a backslash

    def feed(self, line: str) -> None:
        if self.depth == 0 and self.string is None and not self.continued:
            stripped = line.lstrip(" \t")
            if stripped and not stripped.startswith("#"):
                indent = len(line) - len(stripped)
                if self.scope is not None and self.scope.indent >= indent:
                    self.scope = _pop_to(self.scope, indent)
                if stripped.startswith(("def", "class", "async")) and _DEF.match(line):
                    self.scope = _Scope(indent, stripped.rstrip(), self.scope)
        self._scan(line)

    def _scan(self, line: str) -> None:
        if (self.string is None and '"' not in line and "'" not in line and "#" not in line
                and "\\" not in line):
            # Most lines: no string, comment or continuation can start here, only brackets.
            for bracket in _BRACKET.findall(line):
                self.depth = self.depth + 1 if bracket in "([{" else max(self.depth - 1, 0)
            self.continued = False
            return
        for match in _PY_TOKEN.finditer(line):
            token = match.group()
            if self.string is not None:
                if token == self.string or (len(self.string) == 1 and token[0] == self.string):
                    self.string = None
                continue
            if token == "#":
                break
            if token[0] in "\"'":
                self.string = token
            elif token in "([{":
                self.depth += 1
            elif token in ")]}":
                self.depth = max(self.depth - 1, 0)
        if self.string is not None and len(self.string) == 1:
            self.string = None  # a one-line string ends with its line
        self.continued = line.rstrip().endswith("\\") and self.string is None


def _pop_to(scope: _Scope | None, indent: int) -> _Scope | None:
    """The innermost open block that encloses a statement at ``indent``."""
    while scope is not None and scope.indent >= indent:
        scope = scope.parent
    return scope


def _indent_of(text: str) -> int | None:
    stripped = text.lstrip(" \t")
    return len(text) - len(stripped) if stripped else None


class DefIndex:
    """For each line of a Python file, the open blocks before it (shared, linked scopes)."""

    def __init__(self, file_lines: list[str]) -> None:
        self.lines = file_lines
        self.before: list[_Scope | None] = [None]  # index = line number
        self._scanner = _DefScanner()

    def scope_before(self, number: int) -> _Scope | None:
        """The open blocks after lines 1..number-1 (computed once, on demand, in order)."""
        number = max(1, min(number, len(self.lines) + 1))
        while len(self.before) <= number:
            line_number = len(self.before)
            if line_number >= 2:
                self._scanner.feed(self.lines[line_number - 2])
            self.before.append(self._scanner.scope)
        return self.before[number]


def enclosing(lines: list[DiffLine], section_header: str, defs: DefIndex | None) -> str | None:
    """The innermost ``def``/``class`` line around the first change of the hunk."""
    anchor, position = _first_change(lines)
    indent = _indent_of(lines[anchor].text)
    want = indent if indent is not None else 1 << 30
    if defs is not None and position is not None:
        scope = _pop_to(defs.scope_before(position), want)
        return scope.text if scope else None
    # No file: what the hunk's own leading context and git's section header show.
    base = None
    if _DEF.match(section_header):
        stripped = section_header.lstrip(" \t")
        base = _Scope(len(section_header) - len(stripped), stripped.rstrip(), None)
    scanner = _DefScanner(base)
    for line in lines[:anchor]:
        if line.kind != "-":
            scanner.feed(line.text)
    scope = _pop_to(scanner.scope, want)
    return scope.text if scope else None


def _first_change(lines: list[DiffLine]) -> tuple[int, int | None]:
    """Index of the first added/removed line, and its line number in the new file (for a
    removed line, the number of the new-file line that follows the removal)."""
    next_new: int | None = None
    for index, line in enumerate(lines):
        if line.kind != " ":
            if line.kind == "+":
                return index, line.new_lineno
            following = next((ln.new_lineno for ln in lines[index:] if ln.new_lineno), None)
            return index, following if following is not None else next_new
        if line.new_lineno is not None:
            next_new = line.new_lineno + 1
    return 0, lines[0].new_lineno if lines else None
