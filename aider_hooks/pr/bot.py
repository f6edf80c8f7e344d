"""One run of the pull-request bot: review the PR's diff, then post what is new, once.

The order matters for a bot that must never post duplicates or lose a review:
1. read every existing review comment (all pages) and the fingerprints they carry;
2. post one review (``event: COMMENT``) holding only findings whose fingerprint is not on the
   PR yet, each on a RIGHT-side line of the diff; a 422 from GitHub costs only the comments it
   rejects (found with throw-away pending reviews), which move to the summary;
3. edit comments whose finding has gone, once, to say so;
4. create or edit in place the one summary comment.
A 403 on a write means the token may only read (a fork's PR): the caller falls back to
annotations and the step summary.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aider_hooks.errors import GitHubError, InputError
from aider_hooks.pr.github import DEFAULT_MAX_COMMENTS
from aider_hooks.finding import Finding
from aider_hooks.pr.github.api import GitHubClient, GitHubRateLimited, PullRequestAPI
from aider_hooks.pr.comments import (
    DiffLines,
    InlineComment,
    SummaryFacts,
    fingerprint_of,
    is_resolved,
    is_summary,
    place_inline,
    resolved_body,
    review_body,
    summary_body,
)
from aider_hooks.pr.github.event import PullRequestRef, Trigger, pull_request_from_api
from aider_hooks.model.pricing import estimate_cost

if TYPE_CHECKING:
    from aider_hooks.diff.source import LoadedDiff
    from aider_hooks.engine import ReviewResult
    from aider_hooks.report import Report
    from aider_hooks.settings import Settings

Log = Callable[[str], None]
MAX_PROBES = 40  # pending reviews spent on finding which comments GitHub rejects
_SHA = re.compile(r"[0-9a-fA-F]{7,64}")
_BUILTIN_HEADING = "· built-in check"
# Built-in checks that read the changed file itself, not only the diff.
_CHECKS_NEEDING_FILES = ("· syntax-error ·", "· large-file ·")


@dataclass(frozen=True)
class BotOptions:
    cwd: Path
    max_comments: int = DEFAULT_MAX_COMMENTS


@dataclass
class BotOutcome:
    result: ReviewResult
    pull_request: PullRequestRef
    diff_origin: str
    new_comments: int = 0
    already_posted: int = 0
    resolved: int = 0
    not_inline: list[tuple[Finding, str]] = field(default_factory=list)
    summary_comment_id: int | None = None
    read_only: bool = False  # the token could not write: annotations and step summary instead

    @property
    def report(self) -> Report:
        return self.result.report


def run_bot(client: GitHubClient, repo: str, trigger: Trigger, settings: Settings, *,
            options: BotOptions, log: Log) -> BotOutcome:
    """Review the pull request ``trigger`` names and publish the result on it."""
    from aider_hooks.engine import review_diff

    api = PullRequestAPI(client, repo, trigger.number)
    pull = trigger.pull_request or pull_request_from_api(api.get())
    # Read before reviewing: a bad token or repository fails before the model costs anything.
    existing = api.review_comments()
    diff, origin = load_pull_request_diff(api, pull, trigger, options.cwd, log)
    log(f"reviewing pull request #{pull.number} at {pull.head_sha[:7]} (diff from {origin})")
    try:
        # The reviewer's instructions, baseline and feedback come from the base commit only.
        result = review_diff(diff, settings, knowledge_rev=pull.base_sha)
    finally:
        diff.close()
    outcome = BotOutcome(result=result, pull_request=pull, diff_origin=origin)
    if settings.dry_run:
        return outcome  # nothing was asked of the model, so nothing is posted
    try:
        _publish(api, outcome, existing, settings, options, log)
    except GitHubError as err:
        if err.status != 403 or isinstance(err, GitHubRateLimited):
            raise
        outcome.read_only = True
        log("the token may not comment on this pull request (403): a fork's pull request gets "
            "a read-only token; otherwise give the workflow `permissions: pull-requests: "
            "write`. Reporting with annotations and the step summary instead")
    return outcome


# The diff ------------------------------------------------------------------------------------

LOCAL_ORIGIN = "the local checkout"  # the diff and the files are read from git


def load_pull_request_diff(api: PullRequestAPI, pull: PullRequestRef, trigger: Trigger,
                           cwd: Path, log: Log) -> tuple[LoadedDiff, str]:
    """``git diff BASE...HEAD`` from the checkout when both commits are there, else the API's.

    On ``pull_request_target`` and ``issue_comment`` the PR's commits are untrusted and the
    diff is read from the API only, as data.
    """
    from aider_hooks.diff.source import DiffSource, LoadedDiff, load_diff

    if not trigger.diff_as_data_only and commits_present(cwd, (pull.base_sha, pull.head_sha)):
        try:
            source = DiffSource("range", f"{pull.base_sha}...{pull.head_sha}")
            return load_diff(source, cwd=cwd, paths=()), LOCAL_ORIGIN
        except InputError as err:
            log(f"could not read the diff locally ({err}); asking the GitHub API")
    try:
        text = api.diff()
    except GitHubError as err:
        if err.status in (406, 422):  # GitHub will not render diffs over 20,000 lines / 300 files
            raise GitHubError(f"{err}. The API will not send a diff this large: check out the "
                              "pull request with `fetch-depth: 0` so it is read locally",
                              err.status) from None
        raise
    label = f"pull request #{pull.number}"
    return LoadedDiff(text=text, root=None, read_new_file=_no_file, label=label), "the GitHub API"


def _no_file(path: str) -> bytes | None:
    return None


def commits_present(cwd: Path, shas: Sequence[str]) -> bool:
    """True when every commit is in the local repository (reading objects runs no PR code)."""
    from aider_hooks.diff.git import commits_present as present_locally

    return all(_SHA.fullmatch(sha) for sha in shas) and present_locally(cwd, shas)


# Publishing ------------------------------------------------------------------------------------


def _publish(api: PullRequestAPI, outcome: BotOutcome, review_comments: list[dict[str, Any]],
             settings: Settings, options: BotOptions, log: Log) -> None:
    report = outcome.report
    head = outcome.pull_request.head_sha
    author = Authorship(api.viewer_login())
    existing = _our_review_comments(review_comments, author)
    posted_fingerprints = {fp for fp, comments in existing.items()
                           if any(not is_resolved(_body(c)) for c in comments)}
    new, not_inline, already = _plan(report.findings, outcome.result, posted_fingerprints,
                                     options.max_comments)
    accepted, rejected = post_review(api, head, new, log, author)
    not_inline += [(c.finding, "GitHub did not accept a comment on this line") for c in rejected]
    outcome.new_comments = len(accepted)
    outcome.already_posted = already
    outcome.not_inline = not_inline
    outcome.resolved = _mark_resolved(api, existing, report, head, log,
                                      files_read=outcome.diff_origin == LOCAL_ORIGIN)
    facts = SummaryFacts(
        report=report, head_sha=head, new_inline=len(accepted), already_inline=already,
        resolved=outcome.resolved, not_inline=not_inline,
        cost=estimate_cost(report.model, report.stats.prompt_tokens,
                           report.stats.completion_tokens, prices=settings.prices,
                           base_url=settings.base_url),
        diff_origin=outcome.diff_origin,
    )
    outcome.summary_comment_id = upsert_summary(api, summary_body(facts), log, author)


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


def post_review(api: PullRequestAPI, head_sha: str, comments: list[InlineComment],
                log: Log, author: Authorship) -> tuple[list[InlineComment], list[InlineComment]]:
    """Post one review; returns (accepted, rejected). A 422 loses only the rejected comments."""
    if not comments:
        return [], []
    try:
        api.create_review(commit_id=head_sha, body=review_body(len(comments), head_sha),
                          comments=[c.to_api() for c in comments])
        log(f"posted a review with {len(comments)} inline comment(s)")
        return comments, []
    except GitHubError as err:
        if err.status != 422:
            raise
        log(f"GitHub refused the review ({err}); finding the comments it rejects")
    _delete_leftover_pending_reviews(api, author, log)
    probe = _Prober(api, head_sha)
    rejected = probe.rejected_within(comments)
    accepted = [c for c in comments if c not in rejected]
    if accepted:
        try:
            api.create_review(commit_id=head_sha, body=review_body(len(accepted), head_sha),
                              comments=[c.to_api() for c in accepted])
        except GitHubError as err:
            if err.status != 422:
                raise
            return [], comments
    log(f"posted a review with {len(accepted)} inline comment(s); {len(rejected)} rejected by "
        "GitHub went to the summary")
    return accepted, rejected


def _delete_leftover_pending_reviews(api: PullRequestAPI, author: Authorship, log: Log) -> None:
    """A run cancelled while probing (``cancel-in-progress``) leaves its PENDING review
    behind, and GitHub allows one per user: every probe of the next run would fail."""
    for review in api.reviews():
        if review.get("state") == "PENDING" and author.wrote(review) and isinstance(
                review.get("id"), int):
            api.delete_pending_review(review["id"])
            log(f"deleted a pending review (id {review['id']}) left by an interrupted run")


class _Prober:
    """Finds the comments GitHub rejects by bisection with PENDING reviews, deleted at once.

    GitHub's 422 does not say which comment is wrong. A pending review is checked like a real
    one but is visible to nobody else, so probing leaves the PR with still at most one review.
    """

    def __init__(self, api: PullRequestAPI, head_sha: str) -> None:
        self.api = api
        self.head_sha = head_sha
        self.probes_left = MAX_PROBES

    def accepted(self, comments: list[InlineComment]) -> bool:
        self.probes_left -= 1
        try:
            review = self.api.create_review(commit_id=self.head_sha, body="", event=None,
                                            comments=[c.to_api() for c in comments])
        except GitHubError as err:
            if err.status == 422:
                return False
            raise
        if isinstance(review.get("id"), int):
            self.api.delete_pending_review(review["id"])
        return True

    def rejected_within(self, known_bad: list[InlineComment]) -> list[InlineComment]:
        """The rejected comments of a list GitHub is known to refuse as a whole."""
        if len(known_bad) == 1 or self.probes_left <= 0:
            return known_bad
        middle = len(known_bad) // 2
        first, second = known_bad[:middle], known_bad[middle:]
        if self.accepted(first):
            return self.rejected_within(second)
        bad = self.rejected_within(first)
        if self.probes_left > 0 and self.accepted(second):
            return bad
        return bad + self.rejected_within(second)


class Authorship:
    """Which comments are this bot's: anybody can paste our hidden markers into a comment, so
    a marker counts only on a comment the token itself wrote. A personal token says who it is
    (``/user``); the workflow's GITHUB_TOKEN does not, and writes as a bot account
    (``github-actions[bot]``, an app's ``<name>[bot]``), which no pull-request author is."""

    def __init__(self, viewer_login: str | None) -> None:
        self.viewer_login = viewer_login

    def wrote(self, comment: dict[str, Any]) -> bool:
        user = comment.get("user")
        if not isinstance(user, dict):
            return False
        login = user.get("login")
        if not isinstance(login, str):
            return False
        if self.viewer_login is not None:
            return login == self.viewer_login
        return user.get("type") == "Bot" or login.endswith("[bot]")


def _our_review_comments(comments: list[dict[str, Any]],
                         author: Authorship) -> dict[str, list[dict[str, Any]]]:
    """Existing inline comments of this bot, by the fingerprint marker they carry."""
    ours: dict[str, list[dict[str, Any]]] = {}
    for comment in comments:
        if not author.wrote(comment):
            continue
        fingerprint = fingerprint_of(_body(comment))
        if fingerprint:
            ours.setdefault(fingerprint, []).append(comment)
    return ours


def _mark_resolved(api: PullRequestAPI, existing: dict[str, list[dict[str, Any]]],
                   report: Report, head_sha: str, log: Log, *, files_read: bool) -> int:
    """Edit comments whose finding is gone; only where this run really looked again."""
    current = {f.with_fingerprint().fingerprint for f in report.findings}
    failed_paths = {h.path for h in report.failed}
    edited = 0
    for fingerprint, comments in existing.items():
        if fingerprint in current:
            continue
        for comment in comments:
            body = _body(comment)
            if is_resolved(body) or not _looked_again(comment, body, report, failed_paths,
                                                      files_read=files_read):
                continue
            try:
                api.edit_review_comment(int(comment["id"]), resolved_body(body, head_sha))
            except GitHubError as err:
                if err.status not in (403, 404) or isinstance(err, GitHubRateLimited):
                    raise
                log(f"could not mark comment {comment.get('id')} resolved ({err.status})")
                continue
            edited += 1
    if edited:
        log(f"marked {edited} comment(s) resolved")
    return edited


def _looked_again(comment: dict[str, Any], body: str, report: Report,
                  failed_paths: set[str], *, files_read: bool) -> bool:
    """Whether this run would have found the comment's finding again if it were still there."""
    if report.model_unavailable or comment.get("path") in failed_paths:
        return False
    heading = body.split("\n", 1)[0]
    builtin = _BUILTIN_HEADING in heading
    if builtin and not files_read and any(c in heading for c in _CHECKS_NEEDING_FILES):
        return False  # a diff from the API has no file contents to compile or measure
    if report.model is None:  # built-in checks only: model findings were not looked for
        return builtin
    return True


def upsert_summary(api: PullRequestAPI, body: str, log: Log, author: Authorship) -> int | None:
    """Edit our summary comment in place, or create it; returns its id."""
    summaries = [c for c in api.issue_comments() if is_summary(_body(c)) and author.wrote(c)]
    for comment in summaries[:1]:
        if _body(comment) == body:
            return _id(comment)
        try:
            api.edit_issue_comment(int(comment["id"]), body)
            log("updated the summary comment")
            return _id(comment)
        except GitHubError as err:
            # A bot account that is not ours (another workflow's app): write our own. A rate
            # limit is no such answer: a new comment now would be a duplicate summary.
            if err.status != 403 or isinstance(err, GitHubRateLimited):
                raise
    created = api.create_issue_comment(body)
    log("posted the summary comment")
    return _id(created)


def _body(comment: dict[str, Any]) -> str:
    body = comment.get("body")
    return body if isinstance(body, str) else ""


def _id(comment: dict[str, Any]) -> int | None:
    value = comment.get("id")
    return value if isinstance(value, int) else None
