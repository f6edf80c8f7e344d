"""``GitHubHost``: the ``PullRequestHost`` the bot runs on for a GitHub pull request.

Everything only GitHub does is here, on top of ``PullRequestAPI``:
- a review is posted whole (``event: COMMENT``, every comment on a RIGHT-side line); a 422
  does not say which comment GitHub rejects, so throw-away PENDING reviews find them;
- which comments are ours: ``GET /user`` for a personal token, the bot account otherwise;
- a 403 that is not a rate limit on a write means a read-only token (a fork's pull request):
  it becomes ``HostPermissionError``; rate limits stay ``GitHubRateLimited``, an error.
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from aider_hooks.errors import GitHubError, HostPermissionError
from aider_hooks.pr.comments import InlineComment, is_summary, review_body
from aider_hooks.pr.github.api import GitHubRateLimited, PullRequestAPI
from aider_hooks.pr.github.event import pull_request_from_api
from aider_hooks.pr.host import CommentId, HostComment, Log, PullRequestRef

MAX_PROBES = 40  # pending reviews spent on finding which comments GitHub rejects
READ_ONLY = ("the token may not comment on this pull request (403): a fork's pull request gets "
             "a read-only token; otherwise give the workflow `permissions: pull-requests: "
             "write`")


class GitHubHost:
    """One GitHub pull request. ``pull_request``: the event's, when it has one."""

    name = "GitHub"

    def __init__(self, api: PullRequestAPI, *, log: Log,
                 pull_request: PullRequestRef | None = None) -> None:
        self.api = api
        self.log = log
        self._pull = pull_request
        self._author: Authorship | None = None

    def pull_request(self) -> PullRequestRef:
        if self._pull is None:
            self._pull = pull_request_from_api(self.api.get())
        return self._pull

    def read_diff(self) -> str:
        try:
            return self.api.diff()
        except GitHubError as err:
            if err.status in (406, 422):  # GitHub will not render diffs over 20,000 lines / 300 files
                raise GitHubError(f"{err}. The API will not send a diff this large: check out "
                                  "the pull request with `fetch-depth: 0` so it is read locally",
                                  err.status) from None
            raise

    def our_comments(self) -> list[HostComment]:
        comments = self.api.review_comments()
        author = self.authorship()
        return [_host_comment(c) for c in comments
                if author.wrote(c) and isinstance(c.get("id"), int)]

    def post_review(self, head_sha: str, comments: list[InlineComment]) -> list[InlineComment]:
        with _refusals():
            return self._post_review(head_sha, comments)

    def edit_comment(self, comment: HostComment, body: str) -> None:
        with _refusals(gone_too=True):
            if comment.path is None:
                self.api.edit_issue_comment(int(comment.id), body)
            else:
                self.api.edit_review_comment(int(comment.id), body)

    def find_summary(self) -> HostComment | None:
        with _refusals():
            comments = self.api.issue_comments()
        author = self.authorship()
        for comment in comments:
            if is_summary(_body(comment)) and author.wrote(comment) and isinstance(
                    comment.get("id"), int):
                return HostComment(id=comment["id"], body=_body(comment))
        return None

    def create_summary(self, body: str) -> CommentId | None:
        with _refusals():
            created = self.api.create_issue_comment(body)
        value = created.get("id")
        return value if isinstance(value, int) else None

    def authorship(self) -> Authorship:
        """Who this token is, asked once per run."""
        if self._author is None:
            self._author = Authorship(self.api.viewer_login())
        return self._author

    # Posting a review ------------------------------------------------------------------------

    def _post_review(self, head_sha: str,
                     comments: list[InlineComment]) -> list[InlineComment]:
        """One review; a 422 loses only the comments GitHub rejects, which it returns."""
        if not comments:
            return []
        api = self.api
        try:
            api.create_review(commit_id=head_sha, body=review_body(len(comments), head_sha),
                              comments=[c.to_api() for c in comments])
            self.log(f"posted a review with {len(comments)} inline comment(s)")
            return []
        except GitHubError as err:
            if err.status != 422:
                raise
            self.log(f"GitHub refused the review ({err}); finding the comments it rejects")
        self._delete_leftover_pending_reviews()
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
                return comments
        self.log(f"posted a review with {len(accepted)} inline comment(s); {len(rejected)} "
                 "rejected by GitHub went to the summary")
        return rejected

    def _delete_leftover_pending_reviews(self) -> None:
        """A run cancelled while probing (``cancel-in-progress``) leaves its PENDING review
        behind, and GitHub allows one per user: every probe of the next run would fail."""
        author = self.authorship()
        for review in self.api.reviews():
            if review.get("state") == "PENDING" and author.wrote(review) and isinstance(
                    review.get("id"), int):
                self.api.delete_pending_review(review["id"])
                self.log(f"deleted a pending review (id {review['id']}) left by an "
                         "interrupted run")


@contextmanager
def _refusals(*, gone_too: bool = False) -> Iterator[None]:
    """GitHub's "you may not" (403, not a rate limit) as ``HostPermissionError``; with
    ``gone_too`` also a 404: a comment deleted meanwhile is as little ours to edit."""
    try:
        yield
    except GitHubRateLimited:
        raise
    except GitHubError as err:
        if err.status == 403:
            raise HostPermissionError(READ_ONLY, err.status) from err
        if gone_too and err.status == 404:
            raise HostPermissionError(str(err), err.status) from err
        raise


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


def _host_comment(comment: dict[str, Any]) -> HostComment:
    """A review comment as the bot sees it (always on a file: ``path`` is never None)."""
    path = comment.get("path")
    line = comment.get("line")
    return HostComment(id=comment["id"], body=_body(comment),
                       path=path if isinstance(path, str) else "",
                       line=line if isinstance(line, int) else None)


def _body(comment: dict[str, Any]) -> str:
    body = comment.get("body")
    return body if isinstance(body, str) else ""
