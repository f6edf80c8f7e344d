"""What one review run knows from the repository, and what it does with it (the engine's side).

``open_knowledge`` reads the guidance, the baseline and the feedback log (from the work tree,
or from a git revision for the pull-request bot); ``Knowledge.guide`` puts each request's
guidance in its system message; ``Knowledge.screen`` decides which findings are reported.
Every damaged file is a warning and is skipped: nothing here fails a review.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from aider_hooks.knowledge.files import KnowledgeError, KnowledgeReader

if TYPE_CHECKING:
    from aider_hooks.finding import Finding
    from aider_hooks.knowledge.instructions import Guidance
    from aider_hooks.report import Report
    from aider_hooks.settings import Settings
    from aider_hooks.tasks.prompts import PromptRequest

Warn = Callable[[str], None]
LinesOf = Callable[[str], list[str]]
Verifier = Callable[[list["Finding"]], "tuple[list[Finding], list[Finding]]"]

REASON_COMMENT = "an `aider-review: ignore` comment"
REASON_BASELINE = "the baseline"
REASON_WRONG = "feedback marked it wrong"
REASON_VERIFY = "verification dropped it"
REASON_SEVERITY = "below min-severity"
REASON_CONFIDENCE = "below min-confidence"
REASON_MAX = "over max-findings"
SUPPRESSED = (REASON_COMMENT, REASON_BASELINE, REASON_WRONG)
THRESHOLDS = (REASON_SEVERITY, REASON_CONFIDENCE, REASON_MAX)


@dataclass
class Knowledge:
    """What the repository teaches one run: guidance, baseline and feedback."""
    guidance: Guidance
    baseline: set[str] = field(default_factory=set)
    wrong: set[str] = field(default_factory=set)
    # Findings not reported, each with the reason (REASON_*), in the order they were dropped.
    not_reported: list[tuple[Finding, str]] = field(default_factory=list)

    def guide(self, requests: Sequence[PromptRequest]) -> list[PromptRequest]:
        """The requests with each one's project guidance after the task's instructions."""
        from aider_hooks.tasks.prompts import estimate_tokens

        guided = []
        for request in requests:
            block = self.guidance.block_for(sorted({h.path for h in request.hunks}))
            if not block:
                guided.append(request)
                continue
            system, *rest = request.messages
            content = f"{system['content']}\n\n{block}"
            guided.append(replace(request, messages=({**system, "content": content}, *rest),
                                  estimated_tokens=request.estimated_tokens
                                  + estimate_tokens(block)))
        return guided

    def screen(self, findings: list[Finding], report: Report, settings: Settings, *,
               lines_of: LinesOf, verify: Verifier | None = None) -> list[Finding]:
        """The findings to report: suppressions, then thresholds, then verification (model
        findings only), then ``max-findings``; every other one counted in ``report.stats``."""
        from aider_hooks.finding import SEVERITY_RANK
        from aider_hooks.knowledge.suppress import suppressed_by_comment

        kept: list[Finding] = []
        for finding in findings:
            reason = None
            if _safe_lines_check(finding, lines_of, suppressed_by_comment):
                reason = REASON_COMMENT
            elif finding.fingerprint in self.baseline:
                reason = REASON_BASELINE
            elif finding.fingerprint in self.wrong:
                reason = REASON_WRONG
            elif finding.rank < SEVERITY_RANK[settings.min_severity]:
                reason = REASON_SEVERITY
            elif finding.certainty < settings.min_confidence:
                reason = REASON_CONFIDENCE
            if reason is None:
                kept.append(finding)
            else:
                self._drop(finding, reason, report)
        if verify is not None and any(f.source == "model" for f in kept):
            model_findings = [f for f in kept if f.source == "model"]
            _, dropped = verify(model_findings)
            gone = {id(f) for f in dropped}
            for finding in dropped:
                self._drop(finding, REASON_VERIFY, report)
            kept = [f for f in kept if id(f) not in gone]
        if settings.max_findings and len(kept) > settings.max_findings:
            ranked = sorted(kept, key=lambda f: (-f.rank, -f.certainty, f.sort_key()))
            keep_ids = {id(f) for f in ranked[:settings.max_findings]}
            for finding in ranked[settings.max_findings:]:
                self._drop(finding, REASON_MAX, report)
            kept = [f for f in kept if id(f) in keep_ids]
        if settings.verbose:
            from aider_hooks.reporters import location, printable

            for finding, reason in self.not_reported:
                where = printable(location(finding.path, finding.line, finding.end_line))
                report.notices.append(f"not reported ({reason}): {where}: "
                                      f"{printable(finding.message)[:200]} "
                                      f"[{finding.category}] {finding.fingerprint}")
        return kept

    def _drop(self, finding: Finding, reason: str, report: Report) -> None:
        self.not_reported.append((finding, reason))
        if reason in SUPPRESSED:
            report.stats.suppressed += 1
        elif reason == REASON_VERIFY:
            report.stats.rejected_by_verify += 1
        else:
            report.stats.below_threshold += 1


def _safe_lines_check(finding: Finding, lines_of: LinesOf,
                      check: Callable[[Finding, Sequence[str]], bool]) -> bool:
    try:
        return check(finding, lines_of(finding.path))
    except Exception:  # noqa: BLE001 - an unreadable file: no suppression, never a failure
        return False


def open_knowledge(root: Path | None, settings: Settings, *, rev: str | None,
                   warn: Warn) -> Knowledge:
    """Read everything the repository teaches; with ``rev``, from that commit only."""
    from aider_hooks.knowledge.baseline import read_baseline
    from aider_hooks.knowledge.feedback import (
        Feedback,
        learnings,
        read_feedback,
        wrong_fingerprints,
    )
    from aider_hooks.knowledge.instructions import Guidance, load_instructions

    if rev is not None and root is not None and not _commit_present(root, rev):
        warn(f"the base commit {rev[:12]} is not in the local repository: the review runs "
             "without the repository's instructions, baseline and feedback (fetch it, e.g. "
             "actions/checkout with fetch-depth: 0)")
        root = None
    reader = KnowledgeReader(root, rev)
    text, scoped = settings.instructions, settings.path_instructions
    if rev is not None:  # the settings' guidance too comes from that commit's config files
        text, scoped = _guidance_settings_at(reader, warn)
    instructions, redacted = load_instructions(reader, instructions=text,
                                               path_instructions=scoped, warn=warn)
    entries: list[Feedback] = []
    try:
        entries, problems = read_feedback(reader)
        for problem in problems:
            warn(f"{problem}; skipped")
    except KnowledgeError as err:
        warn(f"{err}; skipped")
    baseline: set[str] = set()
    try:
        baseline = read_baseline(reader)
    except KnowledgeError as err:
        warn(f"{err}; the baseline is not used")
    guidance = Guidance(instructions, learnings(entries), redacted)
    return Knowledge(guidance, baseline, wrong_fingerprints(entries))


def _guidance_settings_at(reader: KnowledgeReader, warn: Warn) -> tuple[str, dict[str, str]]:
    """``instructions`` and ``path-instructions`` as the config files at ``reader.rev`` set them."""
    import tomllib

    from aider_hooks.knowledge.files import decode_text

    text, scoped = "", {}
    for path in ("pyproject.toml", ".aider-review.toml"):
        try:
            data = reader.read(path)
            if data is None:
                continue
            document = tomllib.loads(decode_text(data, reader.label(path)))
        except (KnowledgeError, tomllib.TOMLDecodeError) as err:
            warn(f"{reader.label(path)}: cannot read its guidance settings ({err}); skipped")
            continue
        tool = document.get("tool", {})
        table = tool.get("aider-review", tool.get("aider_review")) if isinstance(tool, dict) else None
        if table is None:
            table = {} if path == "pyproject.toml" else document
        if not isinstance(table, dict):
            continue
        value = table.get("instructions")
        if isinstance(value, str):
            text = value
        mapping = table.get("path-instructions", table.get("path_instructions"))
        if isinstance(mapping, dict):
            scoped = {str(k): v for k, v in mapping.items() if isinstance(v, str)}
    return text, scoped


def _commit_present(root: Path, rev: str) -> bool:
    import subprocess

    from aider_hooks.diff.git import git_env

    if rev.startswith("-"):
        return False
    try:
        result = subprocess.run(["git", "cat-file", "-e", f"{rev}^{{commit}}"], cwd=root,
                                env=git_env(), capture_output=True, stdin=subprocess.DEVNULL,
                                check=False)
    except OSError:
        return False
    return result.returncode == 0
