"""What a Python hunk needs from the rest of its file: the enclosing ``def``/``class``
(``Hunk.enclosing``) and the signatures of the same-file functions its added lines call.

With the new file at hand (``DefIndex``, built once per file and scanned lazily, in order),
the enclosing block is the innermost block open at the first changed line. Without it, only
the hunk's own leading context and git's section header (the text after ``@@ ... @@``) are
scanned.

Called functions (``called_defs``): a changed call is only reviewable against the function it
calls, and that ``def`` is often further up than git's three lines of context. So each name
an added line calls (``name(`` or ``obj.name(``) that one ``def`` of the file defines, outside
the hunk, brings that ``def`` statement (up to its colon, at most ``MAX_SIGNATURE_LINES``)
into the hunk's extra context: a few tokens per call instead of whole surrounding blocks.

The scan is a heuristic on indentation, not a parser (see ``_DefScanner``), so that it
survives code that does not parse.
"""
from __future__ import annotations

import re
from typing import NamedTuple

from aider_hooks.hunk import DiffLine

_DEF = re.compile(r"[ \t]*(?:async[ \t]+def|def|class)[ \t]+\w")
_FUNCTION_NAME = re.compile(r"[ \t]*(?:async[ \t]+)?def[ \t]+(\w+)")
_CALLED_NAME = re.compile(r"(\w+)[ \t]*\(")
# A def statement is shown up to its colon, at most this many lines (long parameter lists).
MAX_SIGNATURE_LINES = 6
# At most this many called functions per hunk: the context must stay cheap.
MAX_CALLED_DEFS = 8
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
        self._functions: dict[str, int | None] | None = None

    def function_line(self, name: str) -> int | None:
        """The line of the one ``def name`` of the file; None when there is none or several."""
        if self._functions is None:  # built on first use: one pass over the file
            self._functions = {}
            for number, line in enumerate(self.lines, start=1):
                if "def" in line:
                    match = _FUNCTION_NAME.match(line)
                    if match:
                        found = match.group(1)
                        self._functions[found] = None if found in self._functions else number
        return self._functions.get(name)

    def statement(self, number: int) -> tuple[tuple[int, str], ...]:
        """The ``def`` statement starting at line ``number``, up to its colon (capped)."""
        shown: list[tuple[int, str]] = []
        depth = 0
        last = min(len(self.lines), number + MAX_SIGNATURE_LINES - 1)
        for line_number in range(number, last + 1):
            text = self.lines[line_number - 1]
            shown.append((line_number, text))
            depth += sum(1 for c in text if c in "([{") - sum(1 for c in text if c in ")]}")
            if depth <= 0 and text.split("#", 1)[0].rstrip().endswith(":"):
                break
        return tuple(shown)

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


def called_defs(lines: list[DiffLine], defs: DefIndex) -> tuple[tuple[int, str], ...]:
    """(line number, text) of the ``def`` statements of same-file functions that the added
    ``lines`` call, unless the hunk shows that ``def`` itself; in file order."""
    calling = "\n".join(line.text for line in lines if line.kind == "+" and "(" in line.text)
    if not calling:
        return ()
    shown = {line.new_lineno for line in lines if line.new_lineno is not None}
    starts = {defs.function_line(name) for name in set(_CALLED_NAME.findall(calling))}
    picked = sorted(n for n in starts if n is not None and n not in shown)[:MAX_CALLED_DEFS]
    return tuple(item for number in picked for item in defs.statement(number)
                 if item[0] not in shown)


def with_called_defs(lines: list[DiffLine], defs: DefIndex,
                     before: tuple[tuple[int, str], ...],
                     after: tuple[tuple[int, str], ...],
                     ) -> tuple[tuple[tuple[int, str], ...], tuple[tuple[int, str], ...]]:
    """``before``/``after`` (the hunk's extra context) with the ``called_defs`` of ``lines``
    merged in: those above the hunk into ``before``, those below into ``after``."""
    called = called_defs(lines, defs)
    if not called:
        return before, after
    first = next((line.new_lineno for line in lines if line.new_lineno is not None), 0)
    merged_before = dict(before)
    merged_after = dict(after)
    for number, text in called:
        (merged_before if number < first else merged_after).setdefault(number, text)
    return tuple(sorted(merged_before.items())), tuple(sorted(merged_after.items()))
