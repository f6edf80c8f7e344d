"""``GitLabHost``: the ``PullRequestHost`` the bot runs on for a GitLab merge request.

Everything only GitLab does is here, on top of ``MergeRequestAPI``:
- each inline comment is its own diff discussion, posted one by one, with a ``position``
  GitLab accepts: the MR's ``diff_refs`` (base, start, head), the file's old and new path,
  ``new_line`` for an added line, both ``old_line`` and ``new_line`` for an unchanged one.
  The line kinds come from the MR's own diff (``/diffs``). A 400 rejects that one comment,
  which goes to the summary;
- a suggestion fence becomes GitLab's ``suggestion:-0+N`` (the comment sits on the first
  line of the range, N = the lines below it that the suggestion replaces);
- which notes are ours: the author is the token's own user (``GET /user``);
- a comment whose finding is gone is edited (``comments.resolved_body``) and its discussion
  resolved;
- a 403 on a write (a Reporter token, ``CI_JOB_TOKEN``) is ``HostPermissionError``.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aider_hooks.errors import GitLabError, HostPermissionError
from aider_hooks.pr.comments import InlineComment, is_resolved, is_summary
from aider_hooks.pr.gitlab.api import GitLabRateLimited, MergeRequestAPI
from aider_hooks.pr.host import CommentId, HostComment, Log, PullRequestRef

READ_ONLY = ("the token may not comment on this merge request (403): CI_JOB_TOKEN and tokens "
             "below the Reporter role cannot write notes; set AIDER_REVIEW_GITLAB_TOKEN to a "
             "project access token with the api scope")
_SUGGESTION_OPENING = re.compile(r"^(\s*)(`{3,}|~{3,})suggestion[ \t]*$", re.MULTILINE)
_HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class FileLines:
    """One file of the MR's diff: its old path, and for each new-side line of the diff the
    old line it continues (None for an added line)."""

    old_path: str
    lines: dict[int, int | None]


class GitLabHost:
    """One GitLab merge request. ``base_sha``/``head_sha``: the pipeline's, when it has them
    (``CI_MERGE_REQUEST_DIFF_BASE_SHA``, ``CI_COMMIT_SHA``); else the MR's ``diff_refs``."""

    name = "GitLab"

    def __init__(self, api: MergeRequestAPI, *, log: Log, base_sha: str | None = None,
                 head_sha: str | None = None) -> None:
        self.api = api
        self.log = log
        self._base_sha = base_sha
        self._head_sha = head_sha
        self._mr: dict[str, Any] | None = None
        self._diffs: list[dict[str, Any]] | None = None
        self._user_id: int | None = None
        self._user_known = False
        self._discussion_of: dict[CommentId, str] = {}

    # Reading ---------------------------------------------------------------------------------

    def merge_request(self) -> dict[str, Any]:
        if self._mr is None:
            self._mr = self.api.get()
        return self._mr

    def diff_refs(self) -> dict[str, str]:
        refs = self.merge_request().get("diff_refs")
        if not isinstance(refs, dict) or not all(
                isinstance(refs.get(k), str) for k in ("base_sha", "start_sha", "head_sha")):
            raise GitLabError(f"merge request !{self.api.iid} has no diff_refs yet (GitLab is "
                              "still preparing its diff); re-run the job")
        return {k: str(refs[k]) for k in ("base_sha", "start_sha", "head_sha")}

    def pull_request(self) -> PullRequestRef:
        refs = self.diff_refs()
        state = str(self.merge_request().get("state") or "opened")
        return PullRequestRef(number=self.api.iid, base_sha=self._base_sha or refs["base_sha"],
                              head_sha=self._head_sha or refs["head_sha"],
                              state="open" if state == "opened" else state)

    def read_diff(self) -> str:
        return "".join(_git_diff(item) for item in self._file_diffs())

    def our_comments(self) -> list[HostComment]:
        me = self.user_id()
        if me is None:
            return []
        found: list[HostComment] = []
        for discussion in self.api.discussions():
            notes = discussion.get("notes")
            if not isinstance(notes, list) or not notes or not isinstance(notes[0], dict):
                continue
            note = notes[0]  # ours opens the discussion; replies are people's
            position = note.get("position")
            if not (_author_id(note) == me and isinstance(position, dict)
                    and isinstance(note.get("id"), int)):
                continue
            path, line = position.get("new_path"), position.get("new_line")
            found.append(HostComment(id=note["id"], body=_body(note),
                                     path=path if isinstance(path, str) else "",
                                     line=line if isinstance(line, int) else None))
            if isinstance(discussion.get("id"), str):
                self._discussion_of[note["id"]] = discussion["id"]
        return found

    def find_summary(self) -> HostComment | None:
        me = self.user_id()
        if me is None:
            return None
        for note in self.api.notes():
            if (is_summary(_body(note)) and _author_id(note) == me and not note.get("system")
                    and note.get("position") is None and isinstance(note.get("id"), int)):
                return HostComment(id=note["id"], body=_body(note))
        return None

    def user_id(self) -> int | None:
        """The token's own user, asked once per run (None: a job token, which cannot say)."""
        if not self._user_known:
            user = self.api.current_user()
            value = user.get("id") if user else None
            self._user_id = value if isinstance(value, int) else None
            self._user_known = True
        return self._user_id

    # Writing ---------------------------------------------------------------------------------

    def post_review(self, head_sha: str, comments: list[InlineComment]) -> list[InlineComment]:
        if not comments:
            return []
        refs = self.diff_refs()
        if head_sha != refs["head_sha"]:
            self.log(f"the pipeline's commit {head_sha[:7]} is not the merge request's head "
                     f"{refs['head_sha'][:7]}; comments go on the merge request's head")
        files = self.file_lines()
        rejected: list[InlineComment] = []
        for comment in comments:
            position = comment_position(comment, refs, files)
            with _refusals():
                try:
                    self.api.create_discussion(gitlab_body(comment), position)
                except GitLabRateLimited:
                    raise
                except GitLabError as err:
                    if err.status != 400:
                        raise
                    rejected.append(comment)
        self.log(f"posted {len(comments) - len(rejected)} inline discussion(s); "
                 f"{len(rejected)} rejected by GitLab went to the summary")
        return rejected

    def edit_comment(self, comment: HostComment, body: str) -> None:
        with _refusals(gone_too=True):
            self.api.edit_note(int(comment.id), body)
        discussion = self._discussion_of.get(comment.id)
        if comment.path is not None and discussion and is_resolved(body):
            try:
                self.api.resolve_discussion(discussion)
            except GitLabRateLimited:
                raise
            except GitLabError as err:  # the note says it; resolving is a courtesy
                self.log(f"could not resolve discussion {discussion} ({err.status})")

    def create_summary(self, body: str) -> CommentId | None:
        with _refusals():
            created = self.api.create_note(body)
        value = created.get("id")
        return value if isinstance(value, int) else None

    # The diff ----------------------------------------------------------------------------------

    def _file_diffs(self) -> list[dict[str, Any]]:
        if self._diffs is None:
            self._diffs = self.api.diffs()
        return self._diffs

    def file_lines(self) -> dict[str, FileLines]:
        """Per new path: the lines of the MR's diff a comment may sit on."""
        files: dict[str, FileLines] = {}
        for item in self._file_diffs():
            new_path, old_path = item.get("new_path"), item.get("old_path")
            if not isinstance(new_path, str) or item.get("deleted_file"):
                continue
            old = old_path if isinstance(old_path, str) else new_path
            files[new_path] = FileLines(old, diff_line_map(str(item.get("diff") or "")))
        return files


def diff_line_map(diff: str) -> dict[int, int | None]:
    """New-side line -> old-side line (None when added) for the hunks of one file's diff."""
    lines: dict[int, int | None] = {}
    old = new = 0
    in_hunk = False
    for text in diff.splitlines():
        match = _HUNK.match(text)
        if match:
            old, new = int(match.group(1)), int(match.group(2))
            in_hunk = True
            continue
        if not in_hunk or text.startswith("\\"):
            continue
        kind = text[:1] or " "
        if kind == "+":
            lines[new] = None
            new += 1
        elif kind == "-":
            old += 1
        elif kind == " ":
            lines[new] = old
            old += 1
            new += 1
    return lines


def comment_position(comment: InlineComment, refs: dict[str, str],
                     files: dict[str, FileLines]) -> dict[str, Any]:
    """The ``position`` of a diff discussion on the comment's (first) line."""
    path = comment.finding.path
    line = comment.start_line if comment.start_line is not None else comment.line
    file = files.get(path)
    position: dict[str, Any] = {
        "position_type": "text", "base_sha": refs["base_sha"],
        "start_sha": refs["start_sha"], "head_sha": refs["head_sha"],
        "new_path": path, "old_path": file.old_path if file else path, "new_line": line,
    }
    old_line = file.lines.get(line) if file else None
    if old_line is not None:
        position["old_line"] = old_line  # an unchanged line: GitLab wants both sides
    return position


def gitlab_body(comment: InlineComment) -> str:
    """The comment's body with its one-click suggestion in GitLab's form: the fence names how
    many lines below the comment's line it replaces."""
    below = comment.line - comment.start_line if comment.start_line is not None else 0
    return _SUGGESTION_OPENING.sub(
        lambda m: f"{m.group(1)}{m.group(2)}suggestion:-0+{below}", comment.body)


def _git_diff(item: dict[str, Any]) -> str:
    """One file of ``/diffs`` as ``git diff`` writes it."""
    old_path, new_path = item.get("old_path"), item.get("new_path")
    text = item.get("diff")
    if not isinstance(old_path, str) or not isinstance(new_path, str) or not isinstance(
            text, str) or not text:
        return ""  # too large or binary: GitLab sends no lines
    head = [f"diff --git a/{old_path} b/{new_path}"]
    if item.get("new_file"):
        head += [f"new file mode {item.get('b_mode') or '100644'}", "--- /dev/null",
                 f"+++ b/{new_path}"]
    elif item.get("deleted_file"):
        head += [f"deleted file mode {item.get('a_mode') or '100644'}", f"--- a/{old_path}",
                 "+++ /dev/null"]
    else:
        if item.get("renamed_file") and old_path != new_path:
            head += [f"rename from {old_path}", f"rename to {new_path}"]
        head += [f"--- a/{old_path}", f"+++ b/{new_path}"]
    return "\n".join(head) + "\n" + (text if text.endswith("\n") else text + "\n")


@contextmanager
def _refusals(*, gone_too: bool = False) -> Iterator[None]:
    """GitLab's "you may not" (403) as ``HostPermissionError``; with ``gone_too`` also a 404:
    a note deleted meanwhile is as little ours to edit."""
    try:
        yield
    except GitLabRateLimited:
        raise
    except GitLabError as err:
        if err.status == 403:
            raise HostPermissionError(READ_ONLY, err.status) from err
        if gone_too and err.status == 404:
            raise HostPermissionError(str(err), err.status) from err
        raise


def _author_id(note: dict[str, Any]) -> int | None:
    author = note.get("author")
    value = author.get("id") if isinstance(author, dict) else None
    return value if isinstance(value, int) else None


def _body(note: dict[str, Any]) -> str:
    body = note.get("body")
    return body if isinstance(body, str) else ""
