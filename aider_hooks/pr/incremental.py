"""What changed since the last reviewed head, as the summary comment remembers it.

The summary ends with a hidden state marker: the digest of the reviewable diff it describes
(the hunks after the config's include/exclude, with their line numbers and text) and its
findings by severity. A push whose reviewable diff has the same digest (only excluded files
changed, or a rebase that changed nothing) is not reviewed again: no model request, no write,
the summary stays as it was, and the exit code and outputs come from the counts it holds.
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass

from aider_hooks.finding import SEVERITIES, SEVERITY_RANK, Finding
from aider_hooks.hunk import Hunk

_STATE = re.compile(r"<!-- aider-review:state (\{[^<>]*\}) -->")
_HEAD = re.compile(r"Reviewed head `([0-9a-fA-F]{7,64})`")


@dataclass(frozen=True)
class ReviewState:
    """The state one summary comment describes."""

    diff: str  # digest of the reviewable hunks
    counts: dict[str, int]  # findings by severity
    head: str | None = None  # the head the summary says it reviewed

    def marker(self) -> str:
        data = json.dumps({"diff": self.diff, "counts": self.counts}, sort_keys=True,
                          separators=(",", ":"))
        return f"<!-- aider-review:state {data} -->"

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def fails(self, fail_on: str) -> bool:
        if fail_on == "never":
            return False
        floor = SEVERITY_RANK[fail_on]
        return any(n and SEVERITY_RANK.get(s, 0) >= floor for s, n in self.counts.items())


def diff_digest(hunks: Iterable[Hunk], *, extra: Iterable[str] = ()) -> str:
    """A digest of what a review of these hunks would send and anchor to (and of ``extra``:
    e.g. the fingerprints marked wrong)."""
    digest = hashlib.sha256()
    for item in extra:
        digest.update(f"\0extra\0{item}\n".encode("utf-8", "surrogatepass"))
    for hunk in hunks:
        digest.update(f"\0{hunk.path}\0{hunk.old_path}\0".encode("utf-8", "surrogatepass"))
        for line in hunk.lines:
            digest.update(f"{line.kind}{line.new_lineno}:{line.text}\n".encode(
                "utf-8", "surrogatepass"))
    return digest.hexdigest()[:32]


def counts_of(findings: Iterable[Finding]) -> dict[str, int]:
    counts = {s: 0 for s in SEVERITIES}
    for finding in findings:
        counts[finding.severity] = counts.get(finding.severity, 0) + 1
    return counts


def state_of(summary_body: str) -> ReviewState | None:
    """The state a summary comment of ours holds, or None (an older summary, or none)."""
    found = _STATE.findall(summary_body or "")
    if not found:
        return None
    try:
        data = json.loads(found[-1])
        counts = {str(k): int(v) for k, v in dict(data["counts"]).items()}
        diff = str(data["diff"])
    except (ValueError, KeyError, TypeError):
        return None
    head = _HEAD.findall(summary_body)
    return ReviewState(diff=diff, counts=counts, head=head[-1] if head else None)


def since_note(previous: ReviewState | None, head_sha: str, *, reviewed: int,
               cached: int, new_inline: int) -> str | None:
    """The summary's line on what is new since the last reviewed head."""
    if previous is None or previous.head is None or previous.head == head_sha:
        return None
    by_model = max(0, reviewed - cached)
    return (f"Since the last reviewed head `{previous.head[:7]}`: {by_model} hunk"
            f"{'' if by_model == 1 else 's'} new or changed (sent to the model), {cached} "
            f"unchanged (answered from the cache); {new_inline} new inline comment"
            f"{'' if new_inline == 1 else 's'}.")
