"""``--format markdown``: the PR step summary, or a report to paste into an issue.

A heading, the counts, one table row per finding, the hunks that could not be reviewed, and a
line of statistics. Text from the model is escaped so it cannot break the table or inject
HTML: pipes become ``\\|``, newlines ``<br>``, ``<`` outside code spans ``&lt;`` (inside a
code span an entity would show literally, and a tag there is only text anyway).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

from aider_hooks.finding import Finding
from aider_hooks.report import FailedHunk, Stats
from aider_hooks.reporters import (
    findings_phrase,
    lines_phrase,
    location,
    plural,
    printable,
    sorted_findings,
    work_phrase,
)
from aider_hooks.reporters.view import ReportView

HEADING = "## aider-review"
_CODE_SPAN = re.compile(r"(`+).+?\1", re.DOTALL)


def render_markdown(report: ReportView) -> str:
    findings = sorted_findings(report)
    parts = [HEADING, _counts(findings)]
    if findings:
        parts.append(_table(findings))
    suggested = [f for f in findings if f.suggestion is not None]
    if suggested:
        parts.append(_suggestions(suggested))
    if report.failed:
        parts.append(_failed_section(report.failed))
    parts.append(f"<sub>{_escape(_stats_line(report.stats, report.model))}</sub>")
    return "\n\n".join(parts) + "\n"


def _counts(findings: list[Finding]) -> str:
    phrase = findings_phrase(findings)
    return f"**{phrase[0].upper()}{phrase[1:]}**."


def _table(findings: list[Finding]) -> str:
    rows = ["| Location | Severity | Category | Message |", "| --- | --- | --- | --- |"]
    rows += [
        f"| {_code(location(f.path, f.line, f.end_line))} | {_escape(f.severity)} "
        f"| {_escape(f.category)} | {_escape(f.message)} |"
        for f in findings
    ]
    return "\n".join(rows)


def _suggestions(findings: Sequence[Finding]) -> str:
    """Each suggested replacement under its location: the table has no room for code, and a
    suggestion is what a reader acts on. An indented code block whose every line starts with
    "+ ", as in the text report: model text never starts a line, so it can neither close
    the block, nor open a fence, nor be read as a workflow command when this is printed
    in a CI log."""
    items = [f"### Suggestions ({plural(len(findings), 'finding')})"]
    for finding in findings:
        lines = printable(finding.suggestion or "").splitlines()
        span = lines_phrase(finding.line, finding.end_line)
        body = [f"    + {line}" for line in lines] or [f"    (delete {span})"]
        items.append(f"{_code(location(finding.path, finding.line, finding.end_line))}: "
                     f"{_escape(finding.message)}\n\n" + "\n".join(body))
    return "\n\n".join(items)


def _failed_section(failed: Sequence[FailedHunk]) -> str:
    items = [f"- {_code(location(h.path, h.line, h.end_line))}: {_escape(h.reason)}"
             for h in failed]
    return "\n".join([f"### Not reviewed ({plural(len(failed), 'hunk')})", "", *items])


def _stats_line(stats: Stats, model: str | None) -> str:
    parts = [work_phrase(stats, model)]
    if stats.requests:
        parts.append(plural(stats.requests, "request"))
    if stats.prompt_tokens or stats.completion_tokens:
        parts.append(f"{stats.prompt_tokens:,} prompt + {stats.completion_tokens:,} "
                     "completion tokens")
    parts.append(f"{stats.elapsed_s:.1f} s")
    if model:
        parts.append(f"model {model}")
    return " · ".join(parts)


def _escape(text: str) -> str:
    """One table cell or list item: no line breaks, no unescaped pipes, no HTML."""
    text = _escape_tags(printable(text)).replace("|", "\\|")
    return "<br>".join(line.strip() for line in text.strip().splitlines())


def _escape_tags(text: str) -> str:
    pieces: list[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(text):
        pieces += [text[position:span.start()].replace("<", "&lt;"), span.group()]
        position = span.end()
    pieces.append(text[position:].replace("<", "&lt;"))
    return "".join(pieces)


def _code(text: str) -> str:
    """An inline code span that survives backticks and pipes in a path."""
    text = printable(text).replace("\n", " ")
    fence = "``" if "`" in text else "`"
    padded = f" {text} " if fence == "``" else text
    return f"{fence}{padded}{fence}".replace("|", "\\|")
