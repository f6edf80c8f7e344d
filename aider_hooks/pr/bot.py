"""One run of the pull-request bot: review the PR's diff, then post what is new, once.

Host-neutral: it talks to the pull request only through a ``PullRequestHost`` (``host.py``);
GitHub's mechanics live in ``pr/github/``, and this module imports nothing from there.
The order matters for a bot that must never post duplicates or lose a review:
1. read every existing inline comment of ours and the fingerprints they carry;
2. post one review holding only findings whose fingerprint is not on the PR yet, each on a
   line of the diff; the comments the host rejects move to the summary;
3. edit comments whose finding has gone, once, to say so;
4. create or edit in place the one summary comment.
A ``HostPermissionError`` on a write means the token may only read (a fork's PR): the caller
falls back to annotations and the step summary.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from aider_hooks.checks.registry import needs_file
from aider_hooks.errors import HostPermissionError, InputError
from aider_hooks.pr import DEFAULT_MAX_COMMENTS
from aider_hooks.finding import Finding
from aider_hooks.pr.comments import (
    DiffLines,
    InlineComment,
    SummaryFacts,
    builtin_check_of,
    fingerprint_of,
    is_marked_wrong,
    is_resolved,
    place_inline,
    resolved_body,
    summary_body,
)
from aider_hooks.pr.host import CommentId, HostComment, Log, PullRequestHost, PullRequestRef
from aider_hooks.pr.incremental import ReviewState, counts_of, diff_digest, since_note, state_of
from aider_hooks.model.pricing import estimate_cost

if TYPE_CHECKING:
    from aider_hooks.diff.source import LoadedDiff
    from aider_hooks.engine import ReviewResult
    from aider_hooks.report import Report
    from aider_hooks.settings import Settings

_SHA = re.compile(r"[0-9a-fA-F]{7,64}")


@dataclass(frozen=True)
class BotOptions:
    """How the bot runs: where, which host, what it may post."""
    cwd: Path
    # Never read the PR's commits from the checkout at ``cwd``: they are untrusted (GitHub's
    # ``pull_request_target`` and ``issue_comment``); the diff comes from the host as data.
    diff_as_data_only: bool
    max_comments: int = DEFAULT_MAX_COMMENTS
    # Skip the review when nothing reviewable changed since the summary's state
    # (pr/incremental.py): for callers that need no report of this run (a report file, a
    # code-quality artifact would come out empty).
    skip_unchanged: bool = False


@dataclass
class BotOutcome:
    """What one bot run did: the review, the pull request, and what was posted."""
    result: ReviewResult
    pull_request: PullRequestRef
    diff_origin: str
    new_comments: int = 0
    already_posted: int = 0
    resolved: int = 0
    not_inline: list[tuple[Finding, str]] = field(default_factory=list)
    summary_comment_id: CommentId | None = None
    read_only: bool = False  # the token could not write: annotations and step summary instead
    # Nothing reviewable changed since the summary's head (pr/incremental.py): not reviewed,
    # nothing posted; the state the summary holds gives the exit code.
    unchanged: ReviewState | None = None
    previous: ReviewState | None = None
    digest: str = ""  # of the reviewed hunks

    @property
    def report(self) -> Report:
        return self.result.report


def run_bot(host: PullRequestHost, settings: Settings, *, options: BotOptions,
            log: Log) -> BotOutcome:
    """Review the pull request ``host`` holds and publish the result on it."""
    from aider_hooks.engine import review_diff

    pull = host.pull_request()
    # Read before reviewing: a bad token or repository fails before the model costs anything.
    existing = host.our_comments()
    diff, origin = load_pull_request_diff(host, pull, options, log)
    # Findings a maintainer marked wrong on this pull request (``/aider-review wrong``).
    wrong = {fp for c in existing if is_marked_wrong(c.body) for fp in [fingerprint_of(c.body)]
             if fp}
    try:
        previous, digest = _previous_state(host, diff, settings, wrong)
        if (options.skip_unchanged and previous is not None and previous.diff == digest
                and not settings.dry_run):
            from aider_hooks.engine import ReviewResult
            from aider_hooks.report import Report

            log(f"nothing reviewable changed since {str(previous.head)[:7]}: no review, the "
                "summary stays as it is")
            return BotOutcome(result=ReviewResult(report=Report(), hunks=[]), pull_request=pull,
                              diff_origin=origin, unchanged=previous, previous=previous)
        log(f"reviewing pull request #{pull.number} at {pull.head_sha[:7]} (diff from "
            f"{origin})")
        # The reviewer's instructions, baseline and feedback come from the base commit only.
        result = review_diff(diff, settings, knowledge_rev=pull.base_sha)
    finally:
        diff.close()
    if wrong:
        kept = [f for f in result.report.findings if f.with_fingerprint().fingerprint not in wrong]
        result.report.stats.suppressed += len(result.report.findings) - len(kept)
        result.report.findings = kept
    outcome = BotOutcome(result=result, pull_request=pull, diff_origin=origin,
                         previous=previous)
    outcome.digest = digest
    if settings.dry_run:
        return outcome  # nothing was asked of the model, so nothing is posted
    try:
        _publish(host, outcome, existing, settings, options, log)
    except HostPermissionError as err:
        outcome.read_only = True
        log(f"{err}. Reporting with annotations and the step summary instead")
    return outcome


def _previous_state(host: PullRequestHost, diff: LoadedDiff, settings: Settings,
                    wrong: set[str]) -> tuple[ReviewState | None, str]:
    """The state our summary holds, and the digest of this run's reviewable hunks and of the
    findings marked wrong (a new verdict changes what the summary should say)."""
    from aider_hooks.diff.parse import parse_diff

    hunks = parse_diff(diff.text, settings=settings, read_new_file=diff.read_new_file).hunks
    summary = host.find_summary()
    digest = diff_digest(hunks, extra=sorted(wrong))
    return (state_of(summary.body) if summary is not None else None), digest


# The diff ------------------------------------------------------------------------------------

LOCAL_ORIGIN = "the local checkout"  # the diff and the files are read from git


def load_pull_request_diff(host: PullRequestHost, pull: PullRequestRef, options: BotOptions,
                           log: Log) -> tuple[LoadedDiff, str]:
    """``git diff BASE...HEAD`` from the checkout when both commits are there, else the host's.

    With ``options.diff_as_data_only`` the PR's commits are untrusted and the diff is read
    from the host's API only, as data.
    """
    from aider_hooks.diff.source import DiffSource, LoadedDiff, load_diff

    cwd = options.cwd
    api = f"the {host.name} API"
    if not options.diff_as_data_only and commits_present(cwd, (pull.base_sha, pull.head_sha)):
        try:
            source = DiffSource("range", f"{pull.base_sha}...{pull.head_sha}")
            return load_diff(source, cwd=cwd, paths=()), LOCAL_ORIGIN
        except InputError as err:
            log(f"could not read the diff locally ({err}); asking {api}")
    text = host.read_diff()
    label = f"pull request #{pull.number}"
    return LoadedDiff(text=text, root=None, read_new_file=_no_file, label=label), api


def _no_file(path: str) -> bytes | None:
    return None


def commits_present(cwd: Path, shas: Sequence[str]) -> bool:
    """True when every commit is in the local repository (reading objects runs no PR code)."""
    from aider_hooks.diff.git import commits_present as present_locally

    return all(_SHA.fullmatch(sha) for sha in shas) and present_locally(cwd, shas)


# Publishing ------------------------------------------------------------------------------------


def _publish(host: PullRequestHost, outcome: BotOutcome, our_comments: list[HostComment],
             settings: Settings, options: BotOptions, log: Log) -> None:
    report = outcome.report
    head = outcome.pull_request.head_sha
    existing = _by_fingerprint(our_comments)
    posted_fingerprints = {fp for fp, comments in existing.items()
                           if any(not is_resolved(c.body) for c in comments)}
    new, not_inline, already = _plan(report.findings, outcome.result, posted_fingerprints,
                                     options.max_comments)
    rejected = host.post_review(head, new) if new else []
    accepted = [c for c in new if c not in rejected]
    not_inline += [(c.finding, f"{host.name} did not accept a comment on this line")
                   for c in rejected]
    outcome.new_comments = len(accepted)
    outcome.already_posted = already
    outcome.not_inline = not_inline
    outcome.resolved = _mark_resolved(host, existing, report, head, log,
                                      files_read=outcome.diff_origin == LOCAL_ORIGIN)
    facts = SummaryFacts(
        report=report, head_sha=head, new_inline=len(accepted), already_inline=already,
        resolved=outcome.resolved, not_inline=not_inline,
        cost=estimate_cost(report.model, report.stats.prompt_tokens,
                           report.stats.completion_tokens, prices=settings.prices,
                           base_url=settings.base_url),
        diff_origin=outcome.diff_origin,
        notes=tuple(n for n in [since_note(outcome.previous, head, reviewed=report.stats.reviewed,
                                           cached=report.stats.cached,
                                           new_inline=len(accepted))] if n),
        state=_state_marker(outcome),
    )
    outcome.summary_comment_id = upsert_summary(host, summary_body(facts), log)


def _state_marker(outcome: BotOutcome) -> str:
    """Only a complete review is remembered: after a skipped or failed one the next push
    reviews again."""
    report = outcome.report
    if (report.ai_review_skipped or report.model_unavailable or report.failed
            or not outcome.digest):
        return ""
    return ReviewState(diff=outcome.digest, counts=counts_of(report.findings)).marker()


def _plan(findings: list[Finding], result: ReviewResult, posted: set[str],
          max_comments: int) -> tuple[list[InlineComment], list[tuple[Finding, str]], int]:
    """Which findings become new inline comments, which go to the summary, how many are up."""
    lines = DiffLines(result.hunks)
    new: list[InlineComment] = []
    not_inline: list[tuple[Finding, str]] = []
    already = 0
    # Most severe first, so a cap on comments drops the least important ones.
    for finding in sorted(findings, key=lambda f: (-f.rank, f.sort_key())):
        finding = finding.with_fingerprint()
        if finding.fingerprint in posted:
            already += 1
            continue
        comment = place_inline(finding, lines)
        if comment is None:
            not_inline.append((finding, "its line is not part of the diff"))
        elif len(new) >= max_comments:
            not_inline.append((finding, f"over {max_comments} inline comments per run"))
        else:
            new.append(comment)
    return new, not_inline, already


def _by_fingerprint(comments: list[HostComment]) -> dict[str, list[HostComment]]:
    """Our existing inline comments, by the fingerprint marker they carry."""
    ours: dict[str, list[HostComment]] = {}
    for comment in comments:
        fingerprint = fingerprint_of(comment.body)
        if fingerprint:
            ours.setdefault(fingerprint, []).append(comment)
    return ours


def _mark_resolved(host: PullRequestHost, existing: dict[str, list[HostComment]],
                   report: Report, head_sha: str, log: Log, *, files_read: bool) -> int:
    """Edit comments whose finding is gone; only where this run really looked again."""
    current = {f.with_fingerprint().fingerprint for f in report.findings}
    failed_paths = {h.path for h in report.failed}
    edited = 0
    for fingerprint, comments in existing.items():
        if fingerprint in current:
            continue
        for comment in comments:
            body = comment.body
            if is_resolved(body) or is_marked_wrong(body) or not _looked_again(comment, body, report, failed_paths,
                                                      files_read=files_read):
                continue
            try:
                host.edit_comment(comment, resolved_body(body, head_sha))
            except HostPermissionError as err:
                log(f"could not mark comment {comment.id} resolved ({err.status})")
                continue
            edited += 1
    if edited:
        log(f"marked {edited} comment(s) resolved")
    return edited


def _looked_again(comment: HostComment, body: str, report: Report,
                  failed_paths: set[str], *, files_read: bool) -> bool:
    """Whether this run would have found the comment's finding again if it were still there."""
    if report.model_unavailable or comment.path in failed_paths:
        return False
    check = builtin_check_of(body)
    if check is not None and not files_read and needs_file(check):
        return False  # a diff from the API has no file contents to compile or measure
    if report.model is None:  # built-in checks only: model findings were not looked for
        return check is not None
    return True


def upsert_summary(host: PullRequestHost, body: str, log: Log) -> CommentId | None:
    """Edit our summary comment in place, or create it; returns its id."""
    summary = host.find_summary()
    if summary is not None:
        if summary.body == body:
            return summary.id
        try:
            host.edit_comment(summary, body)
            log("updated the summary comment")
            return summary.id
        except HostPermissionError:
            # Not ours to edit after all (another workflow's bot account, or deleted since):
            # write our own. A rate limit is no such answer: it stops the run, no duplicate.
            pass
    created = host.create_summary(body)
    log("posted the summary comment")
    return created
