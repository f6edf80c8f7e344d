"""Anchoring: put each finding the model reported on the right line of the reviewed hunks.

Models get line numbers wrong; they copy code well. So a finding lands on the line whose text
equals the finding's ``code`` (docs/answer-formats.md), nearest to the line number the model gave:

- Only lines on the new side of the diff count (``Hunk.new_side``: added and context lines),
  never removed lines and never the extra ``context_before``/``context_after`` lines.
- Text is compared ignoring surrounding white space; failing that, with runs of white space
  folded. The escaped form the prompt showed (``prompts.visible_text``) matches too, and so
  does ``code`` copied with the prompt's written line number and marker or a leading ``+``.
- Multi-line ``code`` is matched on its first non-blank line; a place where the following
  lines match as well beats a nearer one where they do not.
- Ties: nearest to ``line``, then added lines over context lines, then the lower number.
- The finding's ``path`` must be a file among the hunks (a leading ``./``, ``a/`` or ``b/``,
  or a unique tail such as ``app.py`` for ``src/app.py``, is forgiven). Without a path, the
  finding anchors only if exactly one file of the hunks has a matching line.
- Without ``code``, the reported line is kept only if it is an *added* line of that file:
  an unverifiable claim about an unchanged line is too likely to be misplaced.

The span ``end_line - line`` moves with the anchor and is clipped to the anchored hunk. A
suggestion must replace exactly ``line..end_line``, so it is dropped (the finding kept) when
the span was clipped, when it contains ``[REDACTED:`` (the model saw a redacted diff; applying
it would write the placeholder into the code), or when it equals the current text.
Everything that anchors nowhere is dropped and counted, never posted on a wrong line.
"""
from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from aider_hooks.tasks.answers import RawFinding
from aider_hooks.finding import Finding, normalize_code
from aider_hooks.hunk import Hunk
from aider_hooks.tasks.prompts import visible_text

REDACTION_MARK = "[REDACTED:"

# A written line number and its marker (prompts.py), when a model copies them into ``code``;
# also the padded column of earlier prompt versions ("    41 + ").
_SHOWN_PREFIX = re.compile(r"^\s*\d+(?: [+ :] |[+ :])")


@dataclass(frozen=True)
class _Line:
    """A line a finding may be anchored to: its number, text and whether it was added."""
    number: int
    text: str
    added: bool
    hunk: int  # index of its hunk in the hunks given


@dataclass
class _FileIndex:
    """The new-side lines of one file's hunks, indexed once for every finding."""

    by_number: dict[int, list[_Line]] = field(default_factory=dict)
    by_stripped: dict[str, list[_Line]] = field(default_factory=dict)
    by_folded: dict[str, list[_Line]] = field(default_factory=dict)
    hunk_numbers: dict[int, list[int]] = field(default_factory=dict)  # hunk -> sorted numbers

    def add(self, line: _Line) -> None:
        self.by_number.setdefault(line.number, []).append(line)
        self.hunk_numbers.setdefault(line.hunk, []).append(line.number)
        shown = visible_text(line.text)
        for text in {line.text, shown}:
            _add_unique(self.by_stripped, text.strip(), line)
            _add_unique(self.by_folded, normalize_code(text), line)

    def text_at(self, number: int) -> str | None:
        lines = self.by_number.get(number)
        return lines[0].text if lines else None


def _add_unique(index: dict[str, list[_Line]], key: str, line: _Line) -> None:
    bucket = index.setdefault(key, [])
    if not bucket or bucket[-1] is not line:
        bucket.append(line)


def _build_indexes(hunks: Sequence[Hunk]) -> dict[str, _FileIndex]:
    indexes: dict[str, _FileIndex] = {}
    for position, hunk in enumerate(hunks):
        index = indexes.setdefault(hunk.path, _FileIndex())
        for diff_line in hunk.lines:
            # Mirrors Hunk.new_side: added and context lines that have a new line number.
            if diff_line.kind == "-" or not diff_line.new_lineno:
                continue
            index.add(_Line(diff_line.new_lineno, diff_line.text, diff_line.kind == "+", position))
    for index in indexes.values():
        for numbers in index.hunk_numbers.values():
            numbers.sort()
    return indexes


# ---------------------------------------------------------------------------------------------
# Paths


def _resolve_path(name: str, indexes: dict[str, _FileIndex]) -> str | None:
    """The file among the hunks that ``name`` means, or None."""
    if name in indexes:
        return name
    shown = {visible_text(path): path for path in indexes}
    if name in shown:
        return shown[name]
    trimmed = name.lstrip("/")
    for prefix in ("./", "a/", "b/"):
        if trimmed.startswith(prefix) and trimmed[len(prefix):] in indexes:
            return trimmed[len(prefix):]
    if trimmed in indexes:
        return trimmed
    tails = [path for path in indexes if path.endswith("/" + trimmed)] if trimmed else []
    return tails[0] if len(tails) == 1 else None


# ---------------------------------------------------------------------------------------------
# Matching


def _code_lines(code: str) -> list[str]:
    """The code's lines from its first non-blank one on (CRLF-safe)."""
    lines = [line.rstrip("\r") for line in code.split("\n")]
    while lines and not lines[0].strip():
        lines.pop(0)
    return lines


def _query_variants(first: str) -> Iterable[str]:
    """``first`` as written, then without what a model may have copied around it."""
    yield first
    unprefixed = _SHOWN_PREFIX.sub("", first, count=1)
    if unprefixed != first:
        yield unprefixed
    stripped = first.strip()
    if len(stripped) > 1 and stripped[0] == stripped[-1] == "`":
        yield stripped.strip("`")
    if stripped.startswith("+"):
        yield stripped[1:]


def _candidates(index: _FileIndex, first: str) -> list[_Line]:
    for variant in _query_variants(first):
        if not variant.strip():
            continue  # "+" alone must not match every blank line
        found = index.by_stripped.get(variant.strip())
        if found:
            return found
        found = index.by_folded.get(normalize_code(variant))
        if found:
            return found
    return []


def _follows(index: _FileIndex, start: _Line, rest: list[str]) -> bool:
    """True when the lines after ``start`` in its hunk read like ``rest`` (blank lines aside)."""
    expected = [normalize_code(line) for line in rest if line.strip()]
    number = start.number
    for wanted in expected:
        number += 1
        text = index.text_at(number)
        while text is not None and not text.strip():
            number += 1
            text = index.text_at(number)
        if text is None or normalize_code(text) != wanted:
            return False
    return True


def _best(index: _FileIndex, code: str, line: int | None) -> _Line | None:
    lines = _code_lines(code)
    if not lines:
        return None
    found = _candidates(index, lines[0])
    if not found:
        return None
    rest = lines[1:]

    def rank(candidate: _Line) -> tuple[bool, int, bool, int]:
        block_mismatch = bool(rest) and not _follows(index, candidate, rest)
        distance = abs(candidate.number - line) if line is not None else 0
        return (block_mismatch, distance, not candidate.added, candidate.number)

    return min(found, key=rank)


def _added_line_at(index: _FileIndex, line: int | None) -> _Line | None:
    if line is None:
        return None
    return next((ln for ln in index.by_number.get(line, []) if ln.added), None)


# ---------------------------------------------------------------------------------------------
# Placing one finding


_Located = tuple[str, _FileIndex, _Line]


def _locate(raw: RawFinding, indexes: dict[str, _FileIndex]) -> _Located | None:
    has_code = bool(raw.code.strip())
    if raw.path:
        path = _resolve_path(raw.path, indexes)
        if path is None:
            return None  # a file that is not in the reviewed hunks
        paths = [path]
    else:
        paths = list(indexes)
    placed: list[_Located] = []
    for path in paths:
        index = indexes[path]
        anchor = _best(index, raw.code, raw.line) if has_code else _added_line_at(index, raw.line)
        if anchor is not None:
            placed.append((path, index, anchor))
    # Without a path, more than one matching file is a guess: better dropped than misplaced.
    return placed[0] if len(placed) == 1 else None


def _end_line(raw: RawFinding, index: _FileIndex, anchor: _Line) -> tuple[int, bool]:
    """The shifted end of the span, clipped to the anchor's hunk, and whether it was clipped."""
    span = 0
    if raw.line is not None and raw.end_line is not None:
        span = max(0, raw.end_line - raw.line)
    wanted = anchor.number + span
    numbers = index.hunk_numbers[anchor.hunk]
    # The last new-side line of the anchor's hunk at or before ``wanted`` (never before anchor).
    end = numbers[bisect.bisect_right(numbers, wanted) - 1]
    end = max(end, anchor.number)
    return end, end != wanted


def _usable_suggestion(raw: RawFinding, index: _FileIndex, start: int, end: int,
                       clipped: bool) -> str | None:
    suggestion = raw.suggestion
    if suggestion is None or clipped or REDACTION_MARK in suggestion:
        return None
    current = [index.text_at(number) for number in range(start, end + 1)]
    if all(text is not None for text in current) and "\n".join(
        text for text in current if text is not None
    ) == suggestion:
        return None  # replaces the lines with themselves
    return suggestion


def _anchor_one(raw: RawFinding, indexes: dict[str, _FileIndex]) -> Finding | None:
    located = _locate(raw, indexes)
    if located is None:
        return None
    path, index, anchor = located
    end, clipped = _end_line(raw, index, anchor)
    finding = Finding(
        path=path,
        line=anchor.number,
        end_line=end,
        severity=raw.severity,
        category=raw.category,
        message=raw.message,
        suggestion=_usable_suggestion(raw, index, anchor.number, end, clipped),
        source="model",
        code=anchor.text,
        confidence=raw.confidence,
    )
    return finding.with_fingerprint()


def anchor_findings(raw: Sequence[RawFinding], hunks: Sequence[Hunk]) -> tuple[list[Finding], int]:
    """Anchor the model's findings on the hunks it reviewed: (anchored findings, number dropped).

    The index of the hunks is built once, so the cost is linear in the hunks' lines plus, per
    finding, the number of lines that carry its exact text.
    """
    if not raw:  # the usual answer of a clean change (and of most cached ones): no index
        return [], 0
    indexes = _build_indexes(hunks)
    anchored: list[Finding] = []
    for item in raw:
        finding = _anchor_one(item, indexes)
        if finding is not None:
            anchored.append(finding)
    return anchored, len(raw) - len(anchored)
