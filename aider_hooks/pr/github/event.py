"""What the Actions event asks for: which pull request, at which commits, and how to read it.

Three triggers (the README's pull-request bot section):
- ``pull_request``: the PR's code may be checked out; the diff may come from local git.
- ``pull_request_target`` and ``issue_comment``: the run holds a write token and secrets, so PR
  code is untrusted. The bot then reads the diff from the API as data only and never touches
  the PR's commits locally.
``issue_comment`` and ``pull_request_review_comment`` run only for a ``/aider-review`` comment
on a pull request by someone with write access to the repository (anyone else could otherwise
spend the team's model budget). Its first line may name a command (``Command``): ``explain``,
``fix``, ``ask QUESTION``, ``describe``, ``wrong [note]``, ``useful [note]``; any other words
after ``/aider-review`` ask for a review, as they always did.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aider_hooks.errors import GitHubError, UsageError
from aider_hooks.pr.host import PullRequestRef

PULL_REQUEST_EVENTS = ("pull_request", "pull_request_target")
COMMENT_EVENT = "issue_comment"
REVIEW_COMMENT_EVENT = "pull_request_review_comment"
SUPPORTED_EVENTS = (*PULL_REQUEST_EVENTS, COMMENT_EVENT, REVIEW_COMMENT_EVENT)
COMMAND = "/aider-review"
# The words after /aider-review that name a command; anything else asks for a review.
COMMANDS = ("explain", "fix", "ask", "describe", "wrong", "useful")
# author_association values of people who may spend the model budget on request.
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
# pull_request actions with nothing new to review.
_IGNORED_ACTIONS = frozenset({"closed", "labeled", "unlabeled", "assigned", "unassigned",
                              "review_requested", "review_request_removed", "locked",
                              "unlocked", "milestoned", "demilestoned"})


@dataclass(frozen=True)
class Command:
    """A ``/aider-review`` comment: what it asks, and where the answer goes.

    ``thread_id`` is set for a comment in a review thread (the id to reply to, the thread's
    first comment); ``path`` and ``line`` are the lines that thread is on.
    """

    name: str  # "review" or one of COMMANDS
    argument: str  # the rest of the comment: a question, a note (untrusted text)
    comment_id: int
    thread_id: int | None = None
    path: str | None = None
    line: int | None = None


@dataclass(frozen=True)
class Trigger:
    """One bot run's assignment, read from the event (or from ``--pr``)."""

    event_name: str
    number: int
    pull_request: PullRequestRef | None  # None: fetch it from the API (issue_comment, --pr)
    diff_as_data_only: bool  # never read the PR's commits from the local checkout
    skip_reason: str | None = None  # set when the event asks for nothing: exit 0 quietly
    command: Command | None = None  # a comment's command; None: review (pull_request events)


def read_event(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"event file not found: {path} (GITHUB_EVENT_PATH / --event-path)") \
            from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise UsageError(f"cannot read the event file {path}: {err}") from None
    if not isinstance(data, dict):
        raise UsageError(f"the event file {path} does not hold a JSON object")
    return data


def trigger_from_event(event_name: str | None, payload: dict[str, Any]) -> Trigger:
    """The run's assignment for an event payload. ``event_name`` is ``GITHUB_EVENT_NAME``."""
    name = event_name or _guess_event_name(payload)
    if name in PULL_REQUEST_EVENTS:
        return _from_pull_request_event(name, payload)
    if name == COMMENT_EVENT:
        return _from_comment_event(payload)
    if name == REVIEW_COMMENT_EVENT:
        return _from_review_comment_event(payload)
    raise UsageError(f"unsupported event {name!r}: run `aider-review github` on "
                     f"{', '.join(SUPPORTED_EVENTS)}, or pass --pr NUMBER")


def trigger_for_number(number: int) -> Trigger:
    """``--pr N``: review a pull request named on the command line (e.g. from a laptop)."""
    return Trigger(event_name="manual", number=number, pull_request=None,
                   diff_as_data_only=False)


def pull_request_from_api(data: dict[str, Any]) -> PullRequestRef:
    """A ``PullRequestRef`` from the pull request object (event payload or ``GET /pulls/N``)."""
    try:
        number = int(data["number"])
        base, head = data["base"], data["head"]
        base_sha, head_sha = str(base["sha"]), str(head["sha"])
    except (KeyError, TypeError, ValueError):
        raise GitHubError("the pull request data lacks number, base.sha or head.sha") from None
    return PullRequestRef(
        number=number,
        base_sha=base_sha,
        head_sha=head_sha,
        head_repo=_full_name(head),
        base_repo=_full_name(base),
        state=str(data.get("state") or "open"),
    )


def _from_pull_request_event(name: str, payload: dict[str, Any]) -> Trigger:
    data = payload.get("pull_request")
    if not isinstance(data, dict):
        raise UsageError(f"the {name} event has no pull_request object: is GITHUB_EVENT_PATH "
                         "the event of this workflow?")
    ref = pull_request_from_api(data)
    skip = None
    action = str(payload.get("action") or "")
    if action in _IGNORED_ACTIONS or ref.state == "closed":
        skip = f"nothing to review for a pull request that was {action or ref.state}"
    return Trigger(event_name=name, number=ref.number, pull_request=ref,
                   diff_as_data_only=(name == "pull_request_target"), skip_reason=skip)


def _from_comment_event(payload: dict[str, Any]) -> Trigger:
    issue = payload.get("issue")
    comment = payload.get("comment")
    if not isinstance(issue, dict) or not isinstance(comment, dict):
        raise UsageError("the issue_comment event has no issue or comment object")
    number = _int(issue.get("number"))
    skip = _comment_skip_reason(payload, issue, comment)
    command = None if skip else parse_command(str(comment.get("body") or ""),
                                              _int(comment.get("id", 0)))
    return Trigger(event_name=COMMENT_EVENT, number=number, pull_request=None,
                   diff_as_data_only=True, skip_reason=skip, command=command)


def _from_review_comment_event(payload: dict[str, Any]) -> Trigger:
    """A comment in a review thread on a line of the pull request's diff."""
    pull = payload.get("pull_request")
    comment = payload.get("comment")
    if not isinstance(pull, dict) or not isinstance(comment, dict):
        raise UsageError("the pull_request_review_comment event has no pull_request or comment "
                         "object")
    number = _int(pull.get("number"))
    skip = _comment_skip_reason(payload, {"pull_request": True, "state": pull.get("state")},
                                comment)
    command = None
    if skip is None:
        found = parse_command(str(comment.get("body") or ""), _int(comment.get("id")))
        thread = comment.get("in_reply_to_id") or comment.get("id")
        line = comment.get("line") or comment.get("original_line")
        command = Command(name=found.name, argument=found.argument,
                          comment_id=found.comment_id, thread_id=_int(thread),
                          path=str(comment.get("path") or "") or None,
                          line=int(line) if isinstance(line, int) else None)
    # The comment's pull request object is the event's, but its head may have moved since:
    # the API's is asked for, as for issue_comment.
    return Trigger(event_name=REVIEW_COMMENT_EVENT, number=number, pull_request=None,
                   diff_as_data_only=True, skip_reason=skip, command=command)


def parse_command(body: str, comment_id: int) -> Command:
    """The command of a comment ``is_review_command`` accepted."""
    text = body.strip()
    first, _, rest = text.partition("\n")
    words = first.strip()[len(COMMAND):].strip()
    name, _, argument = words.partition(" ")
    if name.lower() not in COMMANDS:
        return Command(name="review", argument=words, comment_id=comment_id)
    argument = (argument.strip() + ("\n" + rest if rest.strip() else "")).strip()
    return Command(name=name.lower(), argument=argument, comment_id=comment_id)


def _comment_skip_reason(payload: dict[str, Any], issue: dict[str, Any],
                         comment: dict[str, Any]) -> str | None:
    if not issue.get("pull_request"):
        return "the comment is on an issue, not a pull request"
    if payload.get("action") not in (None, "created"):
        return f"the comment was {payload.get('action')}, not created"
    if not is_review_command(str(comment.get("body") or "")):
        return f"the comment does not start with {COMMAND}"
    association = str(comment.get("author_association") or "NONE")
    if association not in TRUSTED_ASSOCIATIONS:
        return (f"{COMMAND} was asked by someone without write access "
                f"({association.lower()}); only owners, members and collaborators can ask")
    if issue.get("state") == "closed":
        return "the pull request is closed"
    return None


def is_review_command(body: str) -> bool:
    """True for a comment whose first line is ``/aider-review`` (optionally with words after)."""
    first = body.strip().splitlines()[0].strip() if body.strip() else ""
    return first == COMMAND or first.startswith(COMMAND + " ")


def _guess_event_name(payload: dict[str, Any]) -> str:
    if "comment" in payload and "issue" in payload:
        return COMMENT_EVENT
    if "comment" in payload and "pull_request" in payload:
        return REVIEW_COMMENT_EVENT
    if "pull_request" in payload:
        return "pull_request"
    raise UsageError("cannot tell the event: set GITHUB_EVENT_NAME (Actions sets it) or pass "
                     "--event-name")


def _full_name(side: Any) -> str | None:
    if isinstance(side, dict) and isinstance(side.get("repo"), dict):
        name = side["repo"].get("full_name")
        return str(name) if name else None
    return None


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise UsageError("the event does not name a pull request number") from None
