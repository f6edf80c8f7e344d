"""Comment commands on a GitHub pull request: ``/aider-review explain|fix|ask|describe|wrong|useful``.

``event.py`` decides whether a comment is a command from someone who may ask (owners, members,
collaborators); this module carries it out and answers in the comment's thread: a reply in a
review thread (``POST .../pulls/N/comments/ID/replies``), an issue comment on the pull
request's conversation. Every answer carries ``<!-- aider-review:answer=ID -->`` naming the
command's comment; an event delivered twice finds its answer among the token's own comments
and does nothing (no model request, no write).

The pull request's code is untrusted here as on ``issue_comment`` reviews: the diff comes from
the API as data, and what goes to the model (the diff, a question) is redacted first.
"""
from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aider_hooks.errors import ModelError, ModelUnavailable
from aider_hooks.pr.comments import (
    cap_body,
    fingerprint_of,
    is_marked_wrong,
    neutralize,
    suggestion_block,
    wrong_body,
)
from aider_hooks.pr.github.event import Command
from aider_hooks.pr.host import Log

if TYPE_CHECKING:
    from aider_hooks.finding import Finding
    from aider_hooks.hunk import Hunk
    from aider_hooks.pr.github.host import GitHubHost
    from aider_hooks.settings import Settings

DESCRIBE_START = "<!-- aider-review:describe:start -->"
DESCRIBE_END = "<!-- aider-review:describe:end -->"
# The change sent for explain/fix/ask on the whole pull request: hunks in diff order up to this
# many (estimated) tokens; the answer names the files left out.
MAX_CONTEXT_TOKENS = 8000
_ANSWER = re.compile(r"<!-- aider-review:answer=(\d+) -->")
_VERDICTS = ("wrong", "useful")


def answer_marker(comment_id: int) -> str:
    return f"<!-- aider-review:answer={comment_id} -->"


def answered_ids(body: str) -> set[int]:
    return {int(m) for m in _ANSWER.findall(body or "")}


@dataclass
class CommandOutcome:
    """What the bot did with one ``/aider-review`` command of the thread."""
    command: Command
    answered: bool = False  # an answer was posted by this run
    already_answered: bool = False  # a re-delivered event: the answer was there
    model_unavailable: bool = False
    model_requests: int = 0
    notes: list[str] = field(default_factory=list)


def run_command(host: GitHubHost, command: Command, settings: Settings, *,
                log: Log) -> CommandOutcome:
    """Carry out ``command`` on the pull request ``host`` holds and answer in its thread."""
    outcome = CommandOutcome(command)
    if already_answered(host, command.comment_id):
        outcome.already_answered = True
        log(f"comment {command.comment_id} has been answered already; nothing to do")
        return outcome
    if command.name in _VERDICTS:
        text = _verdict(host, command, log)
    elif command.name == "describe":
        text = _run_model(outcome, lambda: _describe_answer(host, settings, log), settings)
    else:
        text = _run_model(outcome, lambda: _hunk_answer(host, command, settings, outcome),
                          settings)
    post_answer(host, command, text)
    outcome.answered = True
    log(f"answered /aider-review {command.name} (comment {command.comment_id})")
    return outcome


def already_answered(host: GitHubHost, comment_id: int) -> bool:
    """Whether one of the token's own comments answers ``comment_id`` (others may paste the
    marker: only ours count)."""
    author = host.authorship()
    api = host.api
    for comment in [*api.review_comments(), *api.issue_comments()]:
        body = comment.get("body")
        if isinstance(body, str) and comment_id in answered_ids(body) and author.wrote(comment):
            return True
    return False


def post_answer(host: GitHubHost, command: Command, text: str) -> None:
    marker = "\n\n" + answer_marker(command.comment_id)
    body = cap_body(text, 65_000 - len(marker)) + marker
    if command.thread_id is not None:
        host.api.reply_to_review_comment(command.thread_id, body)
    else:
        host.api.create_issue_comment(body)


def _run_model(outcome: CommandOutcome, ask: Any, settings: Settings) -> str:
    if not settings.model_configured:
        return ("aider-review could not answer: no model is configured (set the "
                "`OPENAI_API_KEY` secret, or a `base-url`).")
    try:
        text: str = ask()
        return text
    except ModelUnavailable as err:
        outcome.model_unavailable = True
        return f"aider-review could not reach the model ({_one_line(err)}); ask again later."
    except ModelError as err:
        return f"aider-review could not answer: {_one_line(err)}."


def _one_line(err: Exception) -> str:
    return neutralize(" ".join(str(err).split())[:300])


# explain, fix, ask ------------------------------------------------------------------------


@dataclass
class Context:
    """The hunks a command is about (redacted), and how they were chosen."""

    hunks: list[Hunk]
    where: str  # "`app.py` line 6" or "this pull request"
    left_out: list[str]  # files not sent (over the bound, or a secret-looking name)


def command_context(host: GitHubHost, command: Command, settings: Settings) -> Context:
    """The hunk of the thread's line; on the conversation, the whole change, bounded."""
    from aider_hooks.diff.parse import parse_diff
    from aider_hooks.tasks.prompts import estimate_tokens, render_block_body
    from aider_hooks.tasks.runner import redact_hunks

    hunk_set = parse_diff(host.read_diff(), settings=settings, read_new_file=lambda p: None)
    hunks = list(hunk_set.hunks)
    if command.path is not None:
        chosen = [h for h in hunks if h.path == command.path
                  and command.line in {n for n, _ in h.new_side}]
        if not chosen:  # an outdated thread: its line is no longer in the diff
            chosen = [h for h in hunks if h.path == command.path]
        where = f"`{neutralize(command.path)}`" + (
            f" line {command.line}" if command.line else "")
        hunks = chosen
    else:
        where = "this pull request"
    clean, _, secret_paths = redact_hunks(hunks, settings)
    kept: list[Hunk] = []
    left_out = list(secret_paths)
    for hunk in clean:
        if kept and estimate_tokens(render_block_body([*kept, hunk])) > MAX_CONTEXT_TOKENS:
            if hunk.path not in left_out:
                left_out.append(hunk.path)
            continue
        kept.append(hunk)
    return Context(kept, where, left_out)


def _hunk_answer(host: GitHubHost, command: Command, settings: Settings,
                 outcome: CommandOutcome) -> str:
    from aider_hooks.tasks.prompts import render_block_body
    from aider_hooks.tasks.runner import TaskRunner, messages_for, redact

    context = command_context(host, command, settings)
    if not context.hunks:
        return f"aider-review found nothing of {context.where} in the pull request's diff."
    body = render_block_body(context.hunks)
    if command.name == "ask":
        from aider_hooks.tasks import ask

        question, _ = redact(command.argument, settings, path="question")
        if not question.strip():
            return "Ask a question after the command: `/aider-review ask why is this safe?`"
        task = ask.TASK
        messages = messages_for(task, ask.block_body(question, body))
    elif command.name == "fix":
        from aider_hooks.tasks import fix

        task = fix.TASK
        messages = messages_for(task, body)
    else:
        from aider_hooks.tasks import explain

        task = explain.TASK
        messages = messages_for(task, body)
    with TaskRunner(settings, task) as runner:
        try:
            if command.name == "fix":
                hunks = context.hunks
                findings = runner.ask(messages, lambda t: task.read_answer(t, hunks).findings,
                                      json_mode=settings.json_mode)
                text = _fix_text(findings, command)
            else:
                text = runner.ask(messages, lambda t: task.read_answer(t, context.hunks).text,
                                  json_mode=False)
                text = neutralize(text.strip())
        finally:
            outcome.model_requests += runner.requests
    title = {"explain": "Explanation", "fix": "Fixes", "ask": "Answer"}[command.name]
    note = ""
    if context.left_out:
        shown = ", ".join(f"`{neutralize(p)}`" for p in context.left_out[:10])
        note = f"\n\n<sub>Not sent to the model (size bound or secret-looking name): {shown}</sub>"
    return f"**aider-review · {title}** for {context.where}\n\n{text}{note}"


def _fix_text(findings: Sequence[Finding], command: Command) -> str:
    fixable = [f for f in findings if f.suggestion is not None]
    if not fixable:
        return "No fix to suggest: the model found nothing it could fix within these lines."
    parts = []
    for finding in fixable:
        assert finding.suggestion is not None
        where = f"{finding.path}:{finding.line}"
        if finding.end_line > finding.line:
            where += f"-{finding.end_line}"
        message = neutralize(" ".join(finding.message.split()))
        # A suggestion in a review thread applies to the thread's line: only a fix of exactly
        # that line may be one click; anything else is shown as code.
        applies = (command.thread_id is not None and finding.path == command.path
                   and finding.line == finding.end_line == command.line)
        block = suggestion_block(finding.suggestion, info="suggestion" if applies else "")
        parts.append(f"- **{finding.severity}** `{neutralize(where)}`: {message}\n\n{block}")
    return "\n\n".join(parts)


# describe ---------------------------------------------------------------------------------


def with_description(body: str | None, description: str) -> str:
    """``body`` with ``description`` between the describe markers: in place when they are
    there, else appended. Nothing outside the markers changes."""
    text = body or ""
    block = f"{DESCRIBE_START}\n{description.strip()}\n{DESCRIBE_END}"
    start = text.find(DESCRIBE_START)
    end = text.find(DESCRIBE_END, start + len(DESCRIBE_START)) if start >= 0 else -1
    if start >= 0 and end >= 0:
        return text[:start] + block + text[end + len(DESCRIBE_END):]
    if not text.strip():
        return block
    return text.rstrip("\r\n") + "\n\n" + block


def describe_pull_request(host: GitHubHost, settings: Settings, log: Log) -> str | None:
    """Write the description into the pull request's body; returns it (None: nothing to
    describe). Raises the model's errors."""
    from aider_hooks.cli.describe import Plan, _ask_all
    from aider_hooks.diff.parse import parse_diff
    from aider_hooks.tasks import describe
    from aider_hooks.tasks.runner import TaskRunner

    hunks = list(parse_diff(host.read_diff(), settings=settings,
                            read_new_file=lambda p: None).hunks)
    if not hunks:
        return None
    plan = Plan(settings, hunks)
    with TaskRunner(settings, describe.TASK) as runner:
        description = describe.render_markdown(_ask_all(runner, plan))
    text = neutralize(description)
    current = host.api.get().get("body")
    updated = with_description(current if isinstance(current, str) else None, text)
    if updated != current:
        host.api.edit_body(updated)
        log("updated the pull request's description")
    return text


def _describe_answer(host: GitHubHost, settings: Settings, log: Log) -> str:
    text = describe_pull_request(host, settings, log)
    if text is None:
        return "aider-review found nothing to describe in this pull request's diff."
    return ("Updated the description in the pull request's body (between the aider-review "
            "markers; the rest of the body is as it was).")


# wrong, useful ----------------------------------------------------------------------------


def _verdict(host: GitHubHost, command: Command, log: Log) -> str:
    if command.thread_id is None:
        return (f"`/aider-review {command.name}` works as a reply in the thread of one of "
                "aider-review's inline comments.")
    target = next((c for c in host.our_comments() if c.id == command.thread_id), None)
    fingerprint = fingerprint_of(target.body) if target is not None else None
    if target is None or fingerprint is None:
        return (f"`/aider-review {command.name}` works as a reply to one of aider-review's "
                "inline comments; this thread is not one.")
    if command.name == "wrong":
        if not is_marked_wrong(target.body):
            host.edit_comment(target, wrong_body(target.body, command.argument))
            log(f"marked comment {target.id} wrong")
        return (f"Noted: **wrong** (finding `{fingerprint[:12]}`). aider-review will not post "
                "it again on this pull request. `aider-review github --export-feedback FILE` "
                "collects this for `.aider-review/feedback.jsonl`.")
    return (f"Noted: **useful** (finding `{fingerprint[:12]}`). `aider-review github "
            "--export-feedback FILE` collects this for `.aider-review/feedback.jsonl`.")


# --export-feedback ------------------------------------------------------------------------

_REACTION_VERDICTS = {"+1": "useful", "-1": "wrong"}
_TRUSTED = frozenset({"OWNER", "MEMBER", "COLLABORATOR"})


def gather_feedback(host: GitHubHost) -> list[dict[str, str]]:
    """Feedback lines (the ``.aider-review/feedback.jsonl`` format) from the pull request's
    threads on our inline comments: ``/aider-review wrong|useful [note]`` replies by owners,
    members and collaborators, and 👍 (useful) / 👎 (wrong) reactions on the comments."""
    from aider_hooks.pr.github.event import is_review_command, parse_command

    comments = host.api.review_comments()
    author = host.authorship()
    ours = {c["id"]: c for c in comments
            if isinstance(c.get("id"), int) and author.wrote(c)
            and fingerprint_of(str(c.get("body") or ""))}
    lines: list[dict[str, str]] = []
    for reply in comments:
        parent = ours.get(reply.get("in_reply_to_id"))
        body = str(reply.get("body") or "")
        if parent is None or not is_review_command(body):
            continue
        if str(reply.get("author_association") or "NONE") not in _TRUSTED:
            continue
        command = parse_command(body, int(reply.get("id") or 0))
        if command.name in _VERDICTS:
            lines.append(_feedback_line(parent, command.name, command.argument,
                                        str(reply.get("created_at") or "")))
    for comment_id, comment in ours.items():
        for reaction in host.api.review_comment_reactions(comment_id):
            verdict = _REACTION_VERDICTS.get(str(reaction.get("content")))
            if verdict:
                user = reaction.get("user")
                login = user.get("login") if isinstance(user, dict) else None
                note = f"reaction by {login}" if isinstance(login, str) else "reaction"
                lines.append(_feedback_line(comment, verdict, note,
                                            str(reaction.get("created_at") or "")))
    return lines


def _feedback_line(comment: dict[str, Any], verdict: str, note: str,
                   at: str) -> dict[str, str]:
    from aider_hooks.knowledge.feedback import MAX_NOTE_CHARS
    from aider_hooks.redact import redact_text

    body = str(comment.get("body") or "")
    if is_marked_wrong(body) and "<summary>Earlier finding</summary>" in body:
        body = body.split("<summary>Earlier finding</summary>", 1)[1].strip()
    heading, _, rest = body.partition("\n\n")
    category = heading.split(" · ", 1)[1].split(" · ")[0].strip() if " · " in heading else ""
    message = rest.split("\n\n", 1)[0].strip()
    if message.startswith("<!--"):
        message = ""
    clean_note, _ = redact_text(" ".join(note.split())[:MAX_NOTE_CHARS], path="feedback.jsonl")
    return {
        "fingerprint": fingerprint_of(body) or "",
        "verdict": verdict,
        "note": clean_note,
        "path": str(comment.get("path") or ""),
        "category": category,
        "code": _commented_line(comment),
        "message": message,
        "at": at or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def _commented_line(comment: dict[str, Any]) -> str:
    """The text of the line the comment is on: the last line of its ``diff_hunk``."""
    hunk = comment.get("diff_hunk")
    if not isinstance(hunk, str) or not hunk.strip():
        return ""
    last = hunk.rstrip("\n").rsplit("\n", 1)[-1]
    return last[1:] if last[:1] in "+ -" else last
