"""``--format json``: docs/json-output.md, findings in file and line order, byte-for-byte repeatable."""
from __future__ import annotations

import json

from aider_hooks.reporters.view import ReportView


def render_json(report: ReportView) -> str:
    data = report.to_json()  # findings already sorted, fingerprints filled in
    # ASCII only: the output survives any console or pipe encoding; JSON readers unescape it.
    return json.dumps(data, indent=2, ensure_ascii=True) + "\n"
