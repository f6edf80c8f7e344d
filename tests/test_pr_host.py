"""The bot on a host that is not GitHub: the ``PullRequestHost`` seam, with a second host.

``MemoryHost`` below is a whole pull-request host kept in memory (a real implementation of the
protocol, as a GitLab host would be one): the bot under test runs on it with the real engine
and the fake model server, and must behave as it does on GitHub.
"""
from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aider_hooks.errors import HostPermissionError, UsageError
from aider_hooks.pr.bot import BotOptions, BotOutcome, run_bot
from aider_hooks.pr.comments import (
    RESOLVED_MARKER,
    SUMMARY_MARKER,
    InlineComment,
    fingerprint_of,
    is_summary,
)
from aider_hooks.pr.host import (
    HOSTS,
    CommentId,
    HostComment,
    PullRequestHost,
    PullRequestRef,
    host_factory,
)
from aider_hooks.settings import Settings
from testing.fake_model_server import FakeModelServer

# app.py gains three lines: line 2 BUG (error), 3 eval( (warning with a suggestion), 4 TODO.
DIFF = """diff --git a/app.py b/app.py
--- a/app.py
+++ b/app.py
@@ -1,2 +1,5 @@
 import os
+value = BUG_compute()
+data = eval(input())
+# TODO: tidy up
 print(os.getcwd())
"""
FIXED = DIFF.replace("+value = BUG_compute()", "+value = compute()")


@dataclass
class MemoryHost:
    """A pull request held in memory; writes are refused when ``read_only``, and a comment on
    a line in ``refused_lines`` is not taken (as a host whose diff differs from ours would)."""

    diff: str
    head_sha: str = "b" * 40
    read_only: bool = False
    refused_lines: set[tuple[str, int]] = field(default_factory=set)
    inline: list[HostComment] = field(default_factory=list)
    conversation: list[HostComment] = field(default_factory=list)
    reviews: list[list[InlineComment]] = field(default_factory=list)
    edits: list[CommentId] = field(default_factory=list)
    locked: set[CommentId] = field(default_factory=set)  # comments another identity wrote
    name: str = "Memory"
    _next_id: int = 0

    def push(self, diff: str, head_sha: str) -> None:
        self.diff, self.head_sha = diff, head_sha

    def pull_request(self) -> PullRequestRef:
        return PullRequestRef(number=3, base_sha="a" * 40, head_sha=self.head_sha)

    def read_diff(self) -> str:
        return self.diff

    def our_comments(self) -> list[HostComment]:
        return list(self.inline)

    def post_review(self, head_sha: str, comments: list[InlineComment]) -> list[InlineComment]:
        self._may_write()
        rejected = [c for c in comments if (c.finding.path, c.line) in self.refused_lines]
        taken = [c for c in comments if c not in rejected]
        self.reviews.append(taken)
        self.inline += [HostComment(self._new_id(), c.body, c.finding.path, c.line)
                        for c in taken]
        return rejected

    def edit_comment(self, comment: HostComment, body: str) -> None:
        self._may_write()
        if comment.id in self.locked:
            raise HostPermissionError(f"comment {comment.id} is not ours to edit", 403)
        for store in (self.inline, self.conversation):
            for index, existing in enumerate(store):
                if existing.id == comment.id:
                    store[index] = HostComment(existing.id, body, existing.path, existing.line)
                    self.edits.append(existing.id)
                    return
        raise HostPermissionError(f"no comment {comment.id}", 404)

    def find_summary(self) -> HostComment | None:
        return next((c for c in self.conversation if is_summary(c.body)), None)

    def create_summary(self, body: str) -> CommentId | None:
        self._may_write()
        comment = HostComment(self._new_id(), body)
        self.conversation.append(comment)
        return comment.id

    def _may_write(self) -> None:
        if self.read_only:
            raise HostPermissionError("this token may only read", 403)

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id


def by_line(host: MemoryHost) -> dict[int, HostComment]:
    return {int(c.line or 0): c for c in host.inline}


@pytest.fixture
def model() -> Iterator[FakeModelServer]:
    with FakeModelServer() as server:
        yield server


@dataclass
class Bot:
    """The bot as a host's command runs it, with what it logged."""

    settings: Settings
    cwd: Path
    log: list[str] = field(default_factory=list)

    def run(self, host: MemoryHost) -> BotOutcome:
        # Diff as data: there is no checkout here, every run reads the host's diff.
        options = BotOptions(cwd=self.cwd, diff_as_data_only=True)
        return run_bot(host, self.settings, options=options, log=self.log.append)


@pytest.fixture
def bot(model: FakeModelServer, tmp_path: Path) -> Bot:
    settings = Settings(base_url=model.base_url, api_key="sk-test-pr-host", cache=False,
                        backoff_base=0.01)
    return Bot(settings, tmp_path)


def test_a_memory_host_is_a_pull_request_host() -> None:
    host: PullRequestHost = MemoryHost(DIFF)  # mypy checks the protocol here
    assert host.name == "Memory"


def test_the_first_run_posts_every_finding_and_one_summary(bot: Bot) -> None:
    host = MemoryHost(DIFF)

    outcome = bot.run(host)

    assert len(host.reviews) == 1
    assert sorted(by_line(host)) == [2, 3, 4]
    assert all(fingerprint_of(c.body) for c in host.inline)
    assert "```suggestion\ndata = ast.literal_eval(input())\n```" in by_line(host)[3].body
    [summary] = host.conversation
    assert SUMMARY_MARKER in summary.body and "3 new, 0 already posted" in summary.body
    assert "diff from the Memory API" in summary.body
    assert outcome.new_comments == 3 and outcome.summary_comment_id == summary.id
    assert not outcome.read_only
    assert "posted the summary comment" in bot.log


def test_a_second_run_posts_nothing_twice_and_edits_the_summary(bot: Bot) -> None:
    host = MemoryHost(DIFF)
    bot.run(host)

    outcome = bot.run(host)

    assert len(host.reviews) == 1 and len(host.inline) == 3
    assert outcome.new_comments == 0 and outcome.already_posted == 3
    [summary] = host.conversation
    assert "0 new, 3 already posted" in summary.body
    assert host.edits == [summary.id]


def test_a_fixed_finding_is_marked_resolved_once(bot: Bot) -> None:
    host = MemoryHost(DIFF)
    bot.run(host)
    bug = by_line(host)[2]
    host.push(FIXED, "c" * 40)

    outcome = bot.run(host)

    assert outcome.resolved == 1
    assert by_line(host)[2].body.startswith(RESOLVED_MARKER)
    assert not by_line(host)[3].body.startswith(RESOLVED_MARKER)
    assert fingerprint_of(by_line(host)[2].body) == fingerprint_of(bug.body)

    again = bot.run(host)

    assert again.resolved == 0
    assert host.edits.count(bug.id) == 1
    assert len(host.reviews) == 1


def test_a_position_the_host_refuses_goes_to_the_summary(bot: Bot) -> None:
    host = MemoryHost(DIFF, refused_lines={("app.py", 4)})

    outcome = bot.run(host)

    assert sorted(by_line(host)) == [2, 3]
    assert outcome.new_comments == 2
    assert [(f.line, why) for f, why in outcome.not_inline] == [
        (4, "Memory did not accept a comment on this line")]
    [summary] = host.conversation
    assert "`app.py:4`" in summary.body and "Memory did not accept" in summary.body


def test_a_read_only_host_falls_back_without_writing(bot: Bot) -> None:
    host = MemoryHost(DIFF, read_only=True)

    outcome = bot.run(host)

    assert outcome.read_only
    assert host.inline == [] and host.conversation == [] and host.reviews == []
    assert len(outcome.report.findings) == 3
    assert any("this token may only read. Reporting with annotations" in m for m in bot.log)


def test_a_summary_the_host_will_not_let_us_edit_is_replaced_by_our_own(bot: Bot) -> None:
    host = MemoryHost(DIFF)
    bot.run(host)
    [summary] = host.conversation
    host.locked.add(summary.id)  # e.g. another workflow's bot account wrote it
    host.push(FIXED, "c" * 40)  # a new head: the summary must change

    bot.run(host)

    old, new = host.conversation
    assert old == summary and new.id != summary.id
    assert SUMMARY_MARKER in new.body and "c" * 40 in new.body


# --- the seam itself ------------------------------------------------------------------------


def test_github_is_registered_as_a_host() -> None:
    from aider_hooks.pr.github.host import GitHubHost

    assert "github" in HOSTS
    assert host_factory("github") is GitHubHost
    with pytest.raises(UsageError, match="unknown pull-request host 'nohost'.*github"):
        host_factory("nohost")


def test_the_bot_does_not_import_the_github_package() -> None:
    root = Path(__file__).resolve().parents[1]
    for module in ("bot", "host", "comments"):
        tree = ast.parse((root / "aider_hooks" / "pr" / f"{module}.py").read_text())
        imported = [alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names]
        imported += [node.module or "" for node in ast.walk(tree)
                     if isinstance(node, ast.ImportFrom)]
        assert not [name for name in imported if name.startswith("aider_hooks.pr.github")], module

    check = ("import sys, aider_hooks.pr.bot, aider_hooks.pr.host\n"
             "print(sorted(m for m in sys.modules if m.startswith('aider_hooks.pr.github')))")
    result = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                            check=True, cwd=root)
    assert result.stdout.strip() == "[]"
