"""``--format codequality``: GitLab Code Quality JSON, for a job's ``codequality`` report.

A list of issues in GitLab's subset of the Code Climate format
(https://docs.gitlab.com/ee/ci/testing/code_quality.html#code-quality-report-format):
``description``, ``check_name``, ``fingerprint``, ``severity`` (``info``, ``minor``, ``major``,
``critical`` or ``blocker``) and ``location`` (``path`` relative to the repository,
``lines.begin``). The fingerprint is ours (stable across line moves), so GitLab's merge-request
widget shows a finding as new only when it is; GitLab wants it unique in a report, so a second
finding with the same one gets a suffix.
"""
from __future__ import annotations

import json
from typing import Any

from aider_hooks.reporters import printable, sorted_findings
from aider_hooks.reporters.view import ReportView

SEVERITIES = {"error": "critical", "warning": "major", "info": "info"}


def render_codequality(report: ReportView) -> str:
    issues: list[dict[str, Any]] = []
    seen: set[str] = set()
    for finding in sorted_findings(report):
        fingerprint = finding.fingerprint
        count = 1
        while fingerprint in seen:
            count += 1
            fingerprint = f"{finding.fingerprint}-{count}"
        seen.add(fingerprint)
        description = " ".join(printable(finding.message).split()) or "(no message)"
        issues.append({
            "description": description,
            "check_name": f"aider-review/{finding.category or finding.severity}",
            "fingerprint": fingerprint,
            "severity": SEVERITIES.get(finding.severity, "minor"),
            "location": {"path": finding.path, "lines": {"begin": finding.line}},
        })
    return json.dumps(issues, indent=2, ensure_ascii=True) + "\n"
