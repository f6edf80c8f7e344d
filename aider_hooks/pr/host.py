"""What the pull-request bot needs from a code host: the seam between ``bot.py`` and GitHub.

The bot decides what to post (which findings are new, which are fixed, the summary); a host
only reads and writes its pull request. Whatever one host alone does lives in its own package
(``pr/github/``: pending-review probing of a 422, ``GET /user`` for authorship, rate limits).
Adding a host is a module under ``pr/<host>/`` implementing ``PullRequestHost``, plus a line in
``HOSTS``.

Hosts report "this token may not write here" with ``errors.HostPermissionError``; any other
error is theirs (``GitHubError``) and stops the run.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from aider_hooks.errors import UsageError
from aider_hooks.pr.comments import InlineComment

Log = Callable[[str], None]
CommentId = int | str  # GitHub's ids are numbers; other hosts may use strings


@dataclass(frozen=True)
class PullRequestRef:
    """The commits a review is about. ``head_sha`` is what comments attach to."""

    number: int
    base_sha: str
    head_sha: str
    head_repo: str | None = None  # "owner/name" of the head branch's repository
    base_repo: str | None = None
    state: str = "open"

    @property
    def is_fork(self) -> bool:
        return bool(self.head_repo and self.base_repo and self.head_repo != self.base_repo)


@dataclass(frozen=True)
class HostComment:
    """A comment this bot's identity wrote on the pull request, as any host has one."""

    id: CommentId
    body: str
    path: str | None = None  # None: a comment on the whole pull request (the summary)
    line: int | None = None


class PullRequestHost(Protocol):
    """One pull (merge) request on one host, as the bot reads and writes it.

    Every method may raise the host's own error (stop the run); the writes raise
    ``HostPermissionError`` when the token may only read.
    """

    name: str  # "GitHub": for messages and the summary ("the diff from the GitHub API")

    def pull_request(self) -> PullRequestRef:
        """The pull request under review: its number and its base and head commits."""
        ...

    def read_diff(self) -> str:
        """The pull request's diff as the host's API serves it, decoded as ``git diff`` is."""
        ...

    def our_comments(self) -> list[HostComment]:
        """Every inline comment on the pull request written by this bot's identity (anyone
        can paste our markers: only comments the token itself wrote count)."""
        ...

    def post_review(self, head_sha: str, comments: list[InlineComment]) -> list[InlineComment]:
        """Post ``comments`` on ``head_sha`` together, at most once; returns those the host
        would not take on their lines (the rest are posted)."""
        ...

    def edit_comment(self, comment: HostComment, body: str) -> None:
        """Replace the body of one of ``our_comments()`` or of the summary."""
        ...

    def find_summary(self) -> HostComment | None:
        """Our summary comment on the pull request (``comments.is_summary``), if there is one."""
        ...

    def create_summary(self, body: str) -> CommentId | None:
        """Post a new summary comment; its id, when the host says."""
        ...


# The hosts the bot runs on: name -> "module:factory". Imported only when asked for, the way a
# plugin's entry point is, so the bot itself imports no host. Each host's command builds its
# host from its own settings (``cli/github.py`` builds ``GitHubHost``).
HOSTS: dict[str, str] = {
    "github": "aider_hooks.pr.github.host:GitHubHost",
    "gitlab": "aider_hooks.pr.gitlab.host:GitLabHost",
}


def host_factory(name: str) -> Callable[..., PullRequestHost]:
    """The factory registered for the host ``name``."""
    target = HOSTS.get(name)
    if target is None:
        raise UsageError(f"unknown pull-request host {name!r}; known: {', '.join(sorted(HOSTS))}")
    module, _, attribute = target.partition(":")
    factory: Callable[..., PullRequestHost] = getattr(importlib.import_module(module), attribute)
    return factory
