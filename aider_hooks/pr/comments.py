"""Comment bodies for the PR bot: inline findings, suggestions, markers, the living summary.

Pure functions only: no network, no clock. Hidden HTML markers make the bot idempotent:
``<!-- aider-review:fingerprint=HASH -->`` on each inline comment (a finding already on the PR
is not posted again), ``<!-- aider-review:summary -->`` on the one summary comment (edited in
place), ``<!-- aider-review:resolved -->`` on a comment whose finding has gone (edited once).
"""
from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aider_hooks.finding import SEVERITIES, Finding
from aider_hooks.hunk import Hunk
from aider_hooks.report import Report

SUMMARY_MARKER = "<!-- aider-review:summary -->"
RESOLVED_MARKER = "<!-- aider-review:resolved -->"
REVIEW_MARKER = "<!-- aider-review:review -->"
# A comment a maintainer marked wrong (``/aider-review wrong``): never re-posted, never resolved.
WRONG_MARKER = "<!-- aider-review:wrong -->"
# GitHub rejects bodies over 65,536 characters; stay clear of it.
MAX_BODY_CHARS = 65_536
BODY_LIMIT = 65_000
_FINGERPRINT = re.compile(r"<!-- aider-review:fingerprint=([0-9a-f]{6,64}) -->")
_SUGGESTION_OPENING = re.compile(r"^(\s*)(`{3,}|~{3,})suggestion[ \t]*$", re.MULTILINE)
_MENTION = re.compile(r"(?<![\w`/])@(?=[A-Za-z0-9])")
_ICONS = {"error": "🛑", "warning": "⚠️", "info": "ℹ️"}
_TRUNCATED = "\n\n… (truncated to fit GitHub's comment size limit)"


def fingerprint_marker(fingerprint: str) -> str:
    return f"<!-- aider-review:fingerprint={fingerprint} -->"


def fingerprint_of(body: str) -> str | None:
    """The fingerprint a comment of ours carries (the last marker: ours is always last)."""
    found = _FINGERPRINT.findall(body or "")
    return found[-1] if found else None


def is_resolved(body: str) -> bool:
    """``resolved_body`` puts the marker first; one inside a quoted suggestion does not count."""
    return (body or "").startswith(RESOLVED_MARKER)


def is_summary(body: str) -> bool:
    """The summary ends with its marker (model text in it cannot end the body)."""
    return (body or "").rstrip().endswith(SUMMARY_MARKER)


# Where a comment may go -------------------------------------------------------------------


class DiffLines:
    """The RIGHT-side lines of the reviewed diff: the only lines GitHub accepts comments on.

    A range comment needs both ends in one hunk; a hunk's new-side lines are consecutive
    numbers, and two hunks of one file never touch, so "every line from start to end is
    in the diff" is the same as "start and end are in one hunk".
    """

    def __init__(self, hunks: Iterable[Hunk]) -> None:
        self._lines: dict[str, set[int]] = {}
        for hunk in hunks:
            self._lines.setdefault(hunk.path, set()).update(n for n, _ in hunk.new_side)

    def contains(self, path: str, line: int) -> bool:
        return line in self._lines.get(path, ())

    def contains_range(self, path: str, start: int, end: int) -> bool:
        lines = self._lines.get(path, set())
        return start <= end and all(n in lines for n in range(start, end + 1))


@dataclass(frozen=True)
class InlineComment:
    """A finding as an inline comment: where it goes on the diff and what it says."""
    finding: Finding
    line: int
    start_line: int | None
    body: str

    def to_api(self) -> dict[str, Any]:
        comment: dict[str, Any] = {"path": self.finding.path, "line": self.line,
                                   "side": "RIGHT", "body": self.body}
        if self.start_line is not None:
            comment["start_line"] = self.start_line
            comment["start_side"] = "RIGHT"
        return comment


def place_inline(finding: Finding, lines: DiffLines) -> InlineComment | None:
    """The inline comment for ``finding``, or None when its line is not part of the diff.

    A finding over several lines becomes a range comment (``start_line``..``line``) when the
    whole range is in the diff; otherwise it goes on its first line, and its suggestion is
    shown as plain code: applied to one line it would replace the wrong text.
    """
    finding = finding.with_fingerprint()
    if not lines.contains(finding.path, finding.line):
        return None
    end = max(finding.line, finding.end_line)
    if end > finding.line and lines.contains_range(finding.path, finding.line, end):
        return InlineComment(finding, end, finding.line, inline_body(finding, applicable=True))
    applicable = end == finding.line
    return InlineComment(finding, finding.line, None, inline_body(finding, applicable=applicable))


# Bodies ------------------------------------------------------------------------------------


def suggestion_block(text: str, *, info: str = "suggestion") -> str:
    """A fenced block GitHub renders as a one-click suggestion (with ``info="suggestion"``).

    The fence is one backtick longer than the longest backtick run inside ``text``, so a
    suggestion that itself holds a ``` fence (Markdown, docstrings) cannot close it early.
    """
    runs = [len(m) for m in re.findall(r"`+", text)]
    fence = "`" * max(3, max(runs, default=0) + 1)
    body = text[:-1] if text.endswith("\n") else text
    if body == "" and text == "":
        return f"{fence}{info}\n{fence}"  # an empty suggestion deletes the lines
    return f"{fence}{info}\n{body}\n{fence}"


def inline_body(finding: Finding, *, applicable: bool = True) -> str:
    """The comment for one finding, within GitHub's size limit, ending in its marker."""
    finding = finding.with_fingerprint()
    marker = "\n\n" + fingerprint_marker(finding.fingerprint)
    head = _heading(finding)
    suggestion = _suggestion_part(finding, applicable)
    room = BODY_LIMIT - len(marker) - len(head) - 4
    if suggestion and len(suggestion) + 2 > room - 1000:
        # Never cut a suggestion: half a replacement applied with one click breaks the code.
        suggestion = "(The suggested change is too long to show here.)"
    message = neutralize(finding.message.strip()) or "(no message)"
    # Only the vetted ``suggestion`` may become a one-click change: a ```suggestion block the
    # model wrote into its message is shown as plain code.
    message = _SUGGESTION_OPENING.sub(lambda m: m.group(1) + m.group(2), message)
    message = cap_body(message, room - (len(suggestion) + 2 if suggestion else 0))
    body = f"{head}\n\n{message}" + (f"\n\n{suggestion}" if suggestion else "")
    return body + marker


_BUILTIN_ORIGIN = " · built-in check"


def _heading(finding: Finding) -> str:
    icon = _ICONS.get(finding.severity, "")
    origin = _BUILTIN_ORIGIN if finding.source == "builtin" else ""
    category = neutralize(" ".join(finding.category.split())) or "review"
    return f"{icon} **{finding.severity}** · {category}{origin}".strip()


def builtin_check_of(body: str) -> str | None:
    """The built-in check (its name is the category) a comment of ours reports, from the
    heading ``_heading`` wrote; None for a model's or a plugin's finding."""
    heading = body.split("\n", 1)[0]
    if _BUILTIN_ORIGIN not in heading:
        return None
    before = heading.split(_BUILTIN_ORIGIN, 1)[0]
    return before.rsplit(" · ", 1)[-1].strip() if " · " in before else ""


def _suggestion_part(finding: Finding, applicable: bool) -> str:
    if finding.suggestion is None:
        return ""
    if applicable:
        return suggestion_block(finding.suggestion)
    lines = f"{finding.line}–{finding.end_line}"
    return f"Suggested replacement for lines {lines}:\n\n" + suggestion_block(
        finding.suggestion, info="")


def resolved_body(body: str, head_sha: str) -> str:
    """The comment edited to say its finding is gone; the old suggestion can no longer be
    applied (its fence loses the ``suggestion`` tag). Unchanged when already resolved."""
    if is_resolved(body):
        return body
    inert = _SUGGESTION_OPENING.sub(lambda m: m.group(1) + m.group(2), body)
    note = (f"{RESOLVED_MARKER}\n✅ **Resolved**: aider-review no longer reports this at "
            f"`{head_sha[:7]}`.\n\n<details><summary>Earlier finding</summary>\n\n")
    closing = "\n\n</details>"
    marker = fingerprint_of(body)
    tail = "\n\n" + fingerprint_marker(marker) if marker else ""
    inner = cap_body(inert, BODY_LIMIT - len(note) - len(closing) - len(tail))
    if marker and fingerprint_of(inner) != marker:
        inner += tail  # truncation cut the marker off: keep it, so the comment stays ours
    return note + inner + closing


def is_marked_wrong(body: str) -> bool:
    """``wrong_body`` puts the marker first, as ``resolved_body`` does."""
    return (body or "").startswith(WRONG_MARKER)


def wrong_body(body: str, note: str = "") -> str:
    """The comment edited to say a maintainer marked its finding wrong; its suggestion can no
    longer be applied. It keeps its fingerprint, so the finding is not posted again."""
    if is_marked_wrong(body):
        return body
    inert = _SUGGESTION_OPENING.sub(lambda m: m.group(1) + m.group(2), body)
    said = f" ({neutralize(' '.join(note.split()))[:300]})" if note.strip() else ""
    head = (f"{WRONG_MARKER}\n🚫 **Marked wrong**{said}: aider-review will not post this "
            "finding again on this pull request.\n\n<details><summary>Earlier finding"
            "</summary>\n\n")
    closing = "\n\n</details>"
    marker = fingerprint_of(body)
    tail = "\n\n" + fingerprint_marker(marker) if marker else ""
    inner = cap_body(inert, BODY_LIMIT - len(head) - len(closing) - len(tail))
    if marker and fingerprint_of(inner) != marker:
        inner += tail
    return head + inner + closing


def review_body(count: int, head_sha: str) -> str:
    plural = "" if count == 1 else "s"
    return (f"aider-review: {count} new finding{plural} at `{head_sha[:7]}`; the summary "
            f"comment has the totals.\n\n{REVIEW_MARKER}")


def neutralize(text: str) -> str:
    """Model text made safe to post: no hidden markers of ours, no @-mentions that ping people."""
    text = text.replace("<!--", "&lt;!--")
    parts = re.split(r"(`[^`]*`)", text)  # leave inline code alone
    return "".join(p if p.startswith("`") else _MENTION.sub("@\u200b", p) for p in parts)


def cap_body(text: str, limit: int = BODY_LIMIT) -> str:
    if len(text) <= limit:
        return text
    return text[: max(0, limit - len(_TRUNCATED))] + _TRUNCATED


# The summary comment ----------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryFacts:
    """What the one summary comment of a pull request is written from."""
    report: Report
    head_sha: str
    new_inline: int
    already_inline: int
    resolved: int
    not_inline: list[tuple[Finding, str]]  # each with the reason it is not an inline comment
    cost: str  # e.g. "$0.0042" or "unknown (set prices in the config)"
    diff_origin: str  # "the local checkout" or "the GitHub API"
    notes: tuple[str, ...] = ()
    state: str = ""  # a hidden marker of what was reviewed (pr/incremental.py), or empty


def summary_body(facts: SummaryFacts) -> str:
    """The one summary comment, within GitHub's size limit; lists shrink before the totals."""
    head = _summary_head(facts)
    tail = (f"\n\n<sub>Reviewed head `{facts.head_sha}` (diff from {facts.diff_origin}). "
            f"This comment is updated on every run.</sub>\n\n"
            f"{facts.state + chr(10) if facts.state else ''}{SUMMARY_MARKER}")
    budget = BODY_LIMIT - len(head) - len(tail)
    sections = _bounded_sections(facts, budget)
    return head + sections + tail


def _summary_head(facts: SummaryFacts) -> str:
    report, stats = facts.report, facts.report.stats
    counts = {s: sum(1 for f in report.findings if f.severity == s) for s in SEVERITIES}
    total = len(report.findings)
    severity_line = " · ".join(f"{_ICONS[s]} {counts[s]} {_plural(s, counts[s])}"
                               for s in SEVERITIES)
    by_model = max(0, stats.reviewed - stats.cached)
    cost = facts.cost if stats.cost_usd is None else f"${stats.cost_usd:.4f}"
    answered = [link for link in report.links if link.hunks]
    who = (" (" + ", ".join(f"`{neutralize(link.label)}` {link.hunks} hunk"
                            f"{'' if link.hunks == 1 else 's'}" for link in answered) + ")"
           if len(report.links) > 1 and answered else "")
    model = (f"`{neutralize(report.model)}`{who}: {stats.prompt_tokens:,} prompt + "
             f"{stats.completion_tokens:,} completion tokens, estimated cost {cost}"
             if report.model else "none (built-in checks only)")
    rows = [
        ("Reviewed", f"{stats.files} file{'' if stats.files == 1 else 's'}, {stats.hunks} "
                     f"hunk{'' if stats.hunks == 1 else 's'} ({by_model} by the model, "
                     f"{stats.cached} from the cache, {stats.skipped} skipped)"),
        ("Failed hunks", str(stats.failed - stats.not_reviewed_budget)),
        *([("Not reviewed (over the run budget)", f"{stats.not_reviewed_budget} hunk"
            f"{'' if stats.not_reviewed_budget == 1 else 's'}, listed below")]
          if stats.not_reviewed_budget else []),
        ("Inline comments", f"{facts.new_inline} new, {facts.already_inline} already posted, "
                            f"{facts.resolved} marked resolved"),
        ("Not inline", str(len(facts.not_inline))),
        ("Model", model),
    ]
    table = "\n".join(["| | |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)])
    lines = [f"### aider-review: {total} finding{'' if total == 1 else 's'} at "
             f"`{facts.head_sha[:7]}`", "", severity_line, "", table]
    if report.ai_review_skipped:
        lines[0:0] = [f"> [!WARNING]\n> **AI review skipped:** "
                      f"{neutralize(' '.join(report.ai_review_skipped.split()))}", ""]
    notes = [*facts.notes, *report.notices]
    if report.model_unavailable:
        notes.insert(0, "The model could not be reached: this shows cached and built-in "
                        "results only; findings of unreviewed hunks are not marked resolved.")
    if notes:
        lines.append("")
        lines.extend(f"> {neutralize(' '.join(n.split()))}" for n in notes)
    return "\n".join(lines)


def _bounded_sections(facts: SummaryFacts, budget: int) -> str:
    items_not_inline = [_finding_item(f, why) for f, why in facts.not_inline]
    items_failed = [f"- `{neutralize(h.path)}` lines {h.line}–{h.end_line}: "
                    f"{neutralize(' '.join(h.reason.split()))[:300]}" for h in facts.report.failed]
    out = ""
    for title, items in ((f"Findings not placed inline ({len(items_not_inline)})",
                          items_not_inline),
                         (f"Hunks that failed ({len(items_failed)})", items_failed)):
        if not items:
            continue
        section = f"\n\n#### {title}\n\n"
        for index, item in enumerate(items):
            more = f"\n- … and {len(items) - index} more (see the run's step summary)"
            if len(out) + len(section) + len(item) + 1 + len(more) > budget:
                section += more.lstrip("\n")
                break
            section += item + "\n"
        out += section.rstrip("\n")
    return out


def _finding_item(finding: Finding, why: str) -> str:
    where = f"{finding.path}:{finding.line}"
    if finding.end_line > finding.line:
        where += f"-{finding.end_line}"
    message = neutralize(" ".join(finding.message.split()))
    if len(message) > 400:
        message = message[:399] + "…"
    return (f"- {_ICONS.get(finding.severity, '')} **{finding.severity}** `{neutralize(where)}` "
            f"({neutralize(finding.category)}): {message} _({why})_")


def _plural(severity: str, count: int) -> str:
    if severity == "info":
        return "info"
    return severity if count == 1 else severity + "s"
