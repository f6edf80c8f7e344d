"""A reporter: one CSV row per finding, for a spreadsheet."""
from __future__ import annotations

import csv
import io

from aider_hooks.plugins import ReportView

COLUMNS = ("path", "line", "end_line", "severity", "category", "message", "source", "fingerprint")


def csv_report(report: ReportView) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for finding in report.findings:
        writer.writerow([getattr(finding, column) for column in COLUMNS])
    return out.getvalue()
