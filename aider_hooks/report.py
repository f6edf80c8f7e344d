"""The result of one run: findings, hunks that failed, counters. Reporters only read this."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from aider_hooks.finding import Finding


@dataclass
class Stats:
    """Counters of docs/json-output.md ``stats``; every field is part of the JSON contract."""

    files: int = 0
    hunks: int = 0
    reviewed: int = 0
    cached: int = 0
    failed: int = 0
    skipped: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    dropped_unanchored: int = 0
    redacted: int = 0
    elapsed_s: float = 0.0
    # Findings not reported (docs/teaching.md): an `aider-review: ignore` comment, the
    # baseline, or feedback that marked them wrong; dropped by verification; cut by
    # min-severity, min-confidence or max-findings.
    suppressed: int = 0
    rejected_by_verify: int = 0
    below_threshold: int = 0

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["elapsed_s"] = round(self.elapsed_s, 3)
        return data


@dataclass(frozen=True)
class FailedHunk:
    """A hunk the model could not review; it is listed, never silently skipped."""

    path: str
    line: int
    end_line: int
    reason: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Report:
    task: str = "review"  # review | explain | fix
    findings: list[Finding] = field(default_factory=list)
    failed: list[FailedHunk] = field(default_factory=list)
    stats: Stats = field(default_factory=Stats)
    model: str | None = None  # None when no model was used (built-in checks only)
    notices: list[str] = field(default_factory=list)  # one-line messages for stderr
    model_unavailable: bool = False  # the model could not be reached during this run

    def to_json(self) -> dict[str, Any]:
        """docs/json-output.md. ``failed`` and ``model`` are additions; version 1 readers ignore them."""
        return {
            "version": 1,
            "findings": [f.to_json() for f in self.findings],
            "stats": self.stats.to_json(),
            "failed": [f.to_json() for f in self.failed],
            "model": self.model,
        }
