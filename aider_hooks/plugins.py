"""The public API for plugins (docs/plugins.md): what a check and a reporter receive.

    [project.entry-points."aider_review.checks"]
    todo = "my_pkg.checks:todo_check"          # check(ctx: CheckContext) -> Iterable[Finding]
    [project.entry-points."aider_review.reporters"]
    csv = "my_pkg.reporters:csv_report"        # reporter(report: ReportView) -> str

Light on purpose: importing it loads no model SDK, git library or built-in check.
"""
from __future__ import annotations

from aider_hooks.checks.context import CheckContext
from aider_hooks.finding import Finding
from aider_hooks.reporters.view import ReportView

__all__ = ["CheckContext", "Finding", "ReportView"]
