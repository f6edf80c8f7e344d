"""What the Actions event asks for: which pull request, at which commits, and how to read it.

Three triggers (the README's pull-request bot section):
- ``pull_request``: the PR's code may be checked out; the diff may come from local git.
- ``pull_request_target`` and ``issue_comment``: the run holds a write token and secrets, so PR
  code is untrusted. The bot then reads the diff from the API as data only and never touches
  the PR's commits locally.
``issue_comment`` runs only for a ``/aider-review`` comment on a pull request by someone with
write access to the repository (anyone else could otherwise spend the team's model budget).
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
SUPPORTED_EVENTS = (*PULL_REQUEST_EVENTS, COMMENT_EVENT)
COMMAND = "/aider-review"
# author_association values of people who may spend the model budget on request.
TRUSTED_ASSOCIATIONS = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})
# pull_request actions with nothing new to review.
_IGNORED_ACTIONS = frozenset({"closed", "labeled", "unlabeled", "assigned", "unassigned",
                              "review_requested", "review_request_removed", "locked",
                              "unlocked", "milestoned", "demilestoned"})


@dataclass(frozen=True)
class Trigger:
    """One bot run's assignment, read from the event (or from ``--pr``)."""

    event_name: str
    number: int
    pull_request: PullRequestRef | None  # None: fetch it from the API (issue_comment, --pr)
    diff_as_data_only: bool  # never read the PR's commits from the local checkout
    skip_reason: str | None = None  # set when the event asks for nothing: exit 0 quietly


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
    return Trigger(event_name=COMMENT_EVENT, number=number, pull_request=None,
                   diff_as_data_only=True, skip_reason=skip)


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
