"""``--format sarif``: SARIF 2.1.0 for GitHub code scanning and other SARIF viewers.

One rule per finding category (id = the category, lower case). Paths are relative to the
repository root (``uriBaseId: %SRCROOT%``). ``partialFingerprints`` carries our fingerprint,
so a viewer matches a finding across pushes the same way the PR bot does. A suggestion becomes a
``fix`` replacing the whole lines ``line..end_line``.
"""
from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote

from aider_hooks import __version__
from aider_hooks.finding import Finding
from aider_hooks.report import FailedHunk
from aider_hooks.reporters import location, sorted_findings
from aider_hooks.reporters.view import ReportView

SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")
INFORMATION_URI = "https://github.com/aider-hooks/aider-hooks"
FINGERPRINT_KEY = "aiderReview/v1"
SOURCE_ROOT = "%SRCROOT%"
_LEVELS = {"error": "error", "warning": "warning", "info": "note"}
_FALLBACK_RULE = "general"


def render_sarif(report: ReportView) -> str:
    findings = sorted_findings(report)
    rule_ids = sorted({_rule_id(f) for f in findings})
    rule_index = {rule_id: n for n, rule_id in enumerate(rule_ids)}
    run: dict[str, Any] = {
        "tool": {"driver": {
            "name": "aider-review",
            "version": __version__,
            "semanticVersion": __version__,
            "informationUri": INFORMATION_URI,
            "rules": [_rule(rule_id) for rule_id in rule_ids],
        }},
        "originalUriBaseIds": {SOURCE_ROOT: {
            "description": {"text": "The root of the reviewed git repository."}}},
        "invocations": [_invocation(report)],
        "results": [_result(f, rule_index[_rule_id(f)]) for f in findings],
        "columnKind": "unicodeCodePoints",
    }
    if report.model:
        run["properties"] = {"model": report.model}
    log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(log, indent=2, ensure_ascii=True) + "\n"


def _rule_id(finding: Finding) -> str:
    return finding.category.strip().lower() or _FALLBACK_RULE


def _rule(rule_id: str) -> dict[str, Any]:
    return {
        "id": rule_id,
        "name": rule_id,
        "shortDescription": {"text": f"aider-review: {rule_id}"},
        "helpUri": INFORMATION_URI,
        "properties": {"tags": [rule_id]},
    }


def _result(finding: Finding, rule_index: int) -> dict[str, Any]:
    result: dict[str, Any] = {
        "ruleId": _rule_id(finding),
        "ruleIndex": rule_index,
        "level": _LEVELS.get(finding.severity, "warning"),
        "message": {"text": finding.message or f"{finding.category} finding"},
        "locations": [{"physicalLocation": {
            "artifactLocation": _artifact(finding.path),
            "region": _region(finding.line, finding.end_line),
        }}],
        "partialFingerprints": {FINGERPRINT_KEY: finding.fingerprint},
        "properties": {"source": finding.source},
    }
    if finding.suggestion is not None:
        result["fixes"] = [_fix(finding, finding.suggestion)]
    return result


def _artifact(path: str) -> dict[str, str]:
    # A relative URI reference: spaces, '%', '#' and non-ASCII must be percent-encoded.
    return {"uri": quote(path, safe="/"), "uriBaseId": SOURCE_ROOT}


def _region(line: int, end_line: int) -> dict[str, int]:
    start = max(1, line)
    return {"startLine": start, "endLine": max(start, end_line)}


def _fix(finding: Finding, suggestion: str) -> dict[str, Any]:
    # A region given by lines alone ends before the last line's newline (an absent endColumn
    # means "end of line, newline excluded"), so the inserted text has no trailing newline.
    return {
        "description": {"text": "Suggested replacement"},
        "artifactChanges": [{
            "artifactLocation": _artifact(finding.path),
            "replacements": [{
                "deletedRegion": _region(finding.line, finding.end_line),
                "insertedContent": {"text": suggestion.rstrip("\n")},
            }],
        }],
    }


def _invocation(report: ReportView) -> dict[str, Any]:
    notifications = [_failed_notification(hunk) for hunk in report.failed]
    notifications += [{"level": "note", "message": {"text": notice}} for notice in report.notices]
    if report.model_unavailable:
        notifications.append({"level": "error", "message": {"text": (
            "the model could not be reached: only cached answers and built-in checks were used")}})
    invocation: dict[str, Any] = {"executionSuccessful": not report.model_unavailable}
    if notifications:
        invocation["toolExecutionNotifications"] = notifications
    return invocation


def _failed_notification(hunk: FailedHunk) -> dict[str, Any]:
    where = location(hunk.path, hunk.line, hunk.end_line)
    return {
        "level": "warning",
        "message": {"text": f"{where}: not reviewed: {hunk.reason}"},
        "locations": [{"physicalLocation": {
            "artifactLocation": _artifact(hunk.path),
            "region": _region(hunk.line, hunk.end_line),
        }}],
    }
