"""What a reporter receives: a read-only view of one run's ``Report``.

Public as ``aider_hooks.plugins.ReportView``. Findings come sorted by file and line with
their fingerprints filled in, and ``to_json()`` is the document ``--format json`` prints.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

from aider_hooks.finding import Finding
from aider_hooks.report import FailedHunk, LinkUsage, Report, Stats

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


@dataclass(frozen=True)
class ReportView:
    """A read-only view of a report, what output-format plugins receive."""
    task: str
    findings: tuple[Finding, ...]  # frozen records: .path .line .end_line .severity ...
    failed: tuple[FailedHunk, ...]  # hunks the model could not review
    stats: Stats  # a copy: changing it changes nothing
    model: str | None  # None when no model was used
    notices: tuple[str, ...]
    model_unavailable: bool
    links: tuple[LinkUsage, ...] = ()  # the model chain's links, in order, when a model was used

    @classmethod
    def of(cls, report: Report | ReportView) -> ReportView:
        if isinstance(report, ReportView):
            return report
        findings = sorted((f.with_fingerprint() for f in report.findings), key=Finding.sort_key)
        return cls(task=report.task, findings=tuple(findings), failed=tuple(report.failed),
                   stats=replace(report.stats), model=report.model,
                   notices=tuple(report.notices), model_unavailable=report.model_unavailable,
                   links=tuple(report.links))

    def to_json(self) -> dict[str, Any]:
        """The ``--format json`` document (version 1): ``Report.to_json`` is its one definition."""
        return Report(task=self.task, findings=list(self.findings), failed=list(self.failed),
                      stats=replace(self.stats), model=self.model, notices=list(self.notices),
                      model_unavailable=self.model_unavailable, links=list(self.links)).to_json()
