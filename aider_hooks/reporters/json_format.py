"""``--format json``: docs/json-output.md, findings in file and line order, byte-for-byte repeatable."""
from __future__ import annotations

import json

from aider_hooks.report import Report
from aider_hooks.reporters import sorted_findings


def render_json(report: Report) -> str:
    data = report.to_json()
    data["findings"] = [finding.to_json() for finding in sorted_findings(report)]
    # ASCII only: the output survives any console or pipe encoding; JSON readers unescape it.
    return json.dumps(data, indent=2, ensure_ascii=True) + "\n"
