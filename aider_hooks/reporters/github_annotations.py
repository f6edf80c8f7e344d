"""``--format github``: GitHub Actions workflow commands, one line per finding.

``::error file=F,line=L,endLine=E,title=T::message``; warning stays ``::warning``, info becomes
``::notice``. Escaping follows the Actions toolkit (``@actions/core`` ``command.ts``): ``%``,
CR and LF in the message; those and ``:`` and ``,`` in properties. Newlines in a message are
escaped, so nothing a model writes can start a workflow command of its own.
"""
from __future__ import annotations

from aider_hooks.finding import Finding
from aider_hooks.report import FailedHunk
from aider_hooks.reporters import (
    findings_phrase,
    lines_phrase,
    printable,
    sorted_findings,
    work_phrase,
)
from aider_hooks.reporters.view import ReportView

_COMMANDS = {"error": "error", "warning": "warning", "info": "notice"}


def render_github(report: ReportView) -> str:
    findings = sorted_findings(report)
    lines = [_finding_command(f) for f in findings]
    lines += [_failed_command(hunk) for hunk in report.failed]
    summary = f"aider-review: {findings_phrase(findings)}; {work_phrase(report.stats, report.model)}"
    lines.append(f"::notice title=aider-review::{escape_data(summary)}")
    return "\n".join(lines) + "\n"


def escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(text: str) -> str:
    return escape_data(text).replace(":", "%3A").replace(",", "%2C")


def _command(name: str, properties: dict[str, str | int], message: str) -> str:
    props = ",".join(f"{key}={escape_property(printable(str(value)))}"
                     for key, value in properties.items())
    return f"::{name} {props}::{escape_data(printable(message))}"


def _finding_command(finding: Finding) -> str:
    message = finding.message
    if finding.suggestion:
        message += "\n\nSuggested replacement:\n" + finding.suggestion
    elif finding.suggestion is not None:
        message += f"\n\nSuggested: delete {lines_phrase(finding.line, finding.end_line)}."
    title = f"{finding.category or finding.severity} (aider-review)"
    return _command(_COMMANDS.get(finding.severity, "warning"), {
        "file": finding.path, "line": finding.line,
        "endLine": max(finding.line, finding.end_line), "title": printable(title),
    }, message)


def _failed_command(hunk: FailedHunk) -> str:
    return _command("warning", {
        "file": hunk.path, "line": hunk.line, "endLine": max(hunk.line, hunk.end_line),
        "title": "aider-review could not review this hunk",
    }, hunk.reason)
