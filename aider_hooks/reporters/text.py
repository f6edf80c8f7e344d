"""``--format text``: what a person reads in a terminal or in pre-commit's output.

Every finding starts with ``path:line:`` so editors and terminals can jump to it; findings of
one file stay together, a blank line between files. A suggestion is shown as a small diff, but
only what we know: the old line (``- code``) for a one-line finding, the new lines (``+``).
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby

from aider_hooks.finding import Finding
from aider_hooks.report import FailedHunk
from aider_hooks.reporters import (
    findings_phrase,
    lines_phrase,
    location,
    printable,
    sorted_findings,
    work_phrase,
)
from aider_hooks.reporters.view import ReportView

_INDENT = "    "
_RESET = "\x1b[0m"
_STYLES = {
    "bold": "\x1b[1m",
    "dim": "\x1b[2m",
    "error": "\x1b[1;31m",
    "warning": "\x1b[1;33m",
    "info": "\x1b[1;36m",
    "failed": "\x1b[1;35m",
    "removed": "\x1b[31m",
    "added": "\x1b[32m",
}


class _Painter:
    """ANSI styles when colour is on; plain text otherwise."""

    def __init__(self, color: bool) -> None:
        self.color = color

    def __call__(self, style: str, text: str) -> str:
        if not self.color or style not in _STYLES or not text:
            return text
        return f"{_STYLES[style]}{text}{_RESET}"


def render_text(report: ReportView, *, color: bool = False, summary: bool = True) -> str:
    """The findings, the failed hunks and a summary line; ``summary=False`` (``-q``) leaves
    out the summary, and prints nothing at all for a clean report."""
    paint = _Painter(color)
    findings = sorted_findings(report)
    if not findings and not report.failed:
        if not summary:
            return ""
        return f"aider-review: no findings ({work_phrase(report.stats, report.model)})\n"
    blocks = [
        "\n".join(line for finding in group for line in _finding_lines(finding, paint))
        for _, group in groupby(findings, key=lambda f: f.path)
    ]
    if report.failed:
        blocks.append("\n".join(_failed_lines(report.failed, paint)))
    if summary:
        counts = f"{findings_phrase(findings)}; {work_phrase(report.stats, report.model)}"
        blocks.append(paint("bold", counts))
    return "\n\n".join(blocks) + "\n"


def _finding_lines(finding: Finding, paint: _Painter) -> list[str]:
    first, *rest = printable(finding.message).splitlines() or [""]
    head = (f"{paint('bold', _where(finding.path, finding.line, finding.end_line))}: "
            f"{paint(finding.severity, finding.severity)}: {first}")
    if finding.category:
        head += " " + paint("dim", f"[{printable(finding.category)}]")
    return [head, *(_INDENT + line for line in rest), *_suggestion_lines(finding, paint)]


def _suggestion_lines(finding: Finding, paint: _Painter) -> list[str]:
    if finding.suggestion is None:
        return []
    new_lines = printable(finding.suggestion).splitlines()
    single = finding.end_line <= finding.line
    span = lines_phrase(finding.line, finding.end_line)
    # The anchored line is the only old text we know: a "-" line is honest only for one line.
    old = []
    if single and finding.code:
        old.append(_INDENT + paint("removed", f"- {printable(finding.code)}"))
    if not new_lines:
        return [*old, f"{_INDENT}suggestion: delete {span}"]
    intro = [] if old else [f"{_INDENT}suggestion: replace {span} with:"]
    return [*old, *intro, *(_INDENT + paint("added", f"+ {line}") for line in new_lines)]


def _failed_lines(failed: Sequence[FailedHunk], paint: _Painter) -> list[str]:
    """One line per failed hunk; a reason is written out once (an unreachable model fails
    every hunk with the same long message), later hunks with it say "as above"."""
    lines = []
    said: set[str] = set()
    for hunk in failed:
        where = paint("bold", _where(hunk.path, hunk.line, hunk.end_line))
        reason = "as above" if hunk.reason in said else printable(hunk.reason)
        said.add(hunk.reason)
        lines.append(f"{where}: {paint('failed', 'failed')}: {reason}")
    return lines


def _where(path: str, line: int, end_line: int) -> str:
    """``path:line``; a file name's control characters and newlines are shown escaped, so a
    hostile name can neither drive the terminal nor fake a line of the report."""
    return printable(location(path, line, end_line)).replace("\n", "\\n")
