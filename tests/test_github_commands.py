"""Comment commands end to end: the real command, a real git repository, the fake model server
and the strict fake GitHub API. ``/aider-review explain|fix|ask|describe|wrong|useful`` on the
pull request's conversation (issue_comment) and in review threads
(pull_request_review_comment)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aider_hooks.pr.comments import WRONG_MARKER, fingerprint_of
from aider_hooks.pr.github.commands import DESCRIBE_END, DESCRIBE_START, with_description
from aider_hooks.pr.github.event import parse_command
from tests.test_github_bot import World, inline, run_bot, world  # noqa: F401 - the fixture
from testing.fake_github_server import BOT_LOGIN

CONVERSATION = "issue_comment"
THREAD = "pull_request_review_comment"


def conversation_event(w: World, body: str, association: str = "MEMBER",
                       comment_id: int = 501) -> Path:
    payload: dict[str, Any] = {
        "action": "created",
        "issue": {"number": w.number, "state": "open",
                  "pull_request": {"url": f"{w.github.api_url}/pulls/{w.number}"}},
        "comment": {"id": comment_id, "body": body, "author_association": association},
    }
    return w.write_event(CONVERSATION, payload)


def thread_event(w: World, body: str, *, parent: dict[str, Any] | None = None,
                 association: str = "MEMBER", line: int = 6) -> tuple[Path, dict[str, Any]]:
    """A comment in a review thread, as GitHub stores it and sends it in the event."""
    comment = w.github.seed_review_comment(
        w.number, body=body, path="app.py", line=line, user="maintainer",
        in_reply_to=parent["id"] if parent else None, association=association)
    payload = {"action": "created",
               "pull_request": w.github.pulls[w.number].to_json(w.github.api_url),
               "comment": comment}
    return w.write_event(THREAD, payload), comment


def answers(w: World) -> list[dict[str, Any]]:
    return [c for c in [*w.github.review_comments, *w.github.issue_comments]
            if "aider-review:answer=" in str(c["body"])]


def command(w: World, capsys: pytest.CaptureFixture[str], event: Path, name: str,
            *extra: str) -> Any:
    return run_bot(w, capsys, *extra, event_name=name, event_path=event)


# Who may ask ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", [CONVERSATION, THREAD])
def test_an_outsiders_command_costs_nothing(world: World, capsys: pytest.CaptureFixture[str],
                                            name: str) -> None:
    if name == CONVERSATION:
        event = conversation_event(world, "/aider-review explain", association="CONTRIBUTOR")
    else:
        event, _ = thread_event(world, "/aider-review explain", association="NONE")
    run = command(world, capsys, event, name)

    assert run.code == 0 and "nothing to do" in run.err and "write access" in run.err
    assert world.github.requests == [] and world.model.requests == []


# explain, fix, ask ----------------------------------------------------------------------------


def test_explain_on_the_conversation_answers_there_once(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    event = conversation_event(world, "/aider-review explain", association="OWNER")
    run = command(world, capsys, event, CONVERSATION)

    assert run.code == 0, run.err
    [answer] = answers(world)
    assert answer in world.github.issue_comments
    assert "This change" in str(answer["body"])
    assert str(answer["body"]).rstrip().endswith("<!-- aider-review:answer=501 -->")
    assert world.github.reviews == []  # a command is no review
    assert "ai-review=ran" in run.outputs
    requests = len(world.model.requests)

    again = command(world, capsys, event, CONVERSATION)  # GitHub delivers it a second time

    assert again.code == 0 and len(answers(world)) == 1
    assert len(world.model.requests) == requests
    assert len(world.github.writes()) == 1


def test_explain_in_a_thread_sends_only_that_hunk_and_replies_in_the_thread(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    event, asked = thread_event(world, "/aider-review explain")
    run = command(world, capsys, event, THREAD)

    assert run.code == 0, run.err
    [answer] = answers(world)
    assert answer["in_reply_to_id"] == asked["id"] and answer["user"]["login"] == BOT_LOGIN
    assert "`app.py` line 6" in str(answer["body"])
    [request] = world.model.requests
    user = request["messages"][-1]["content"]
    assert "eval(input())" in user


def test_fix_in_a_thread_answers_with_a_suggestion_for_that_line(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    event, _ = thread_event(world, "/aider-review fix", line=6)
    command(world, capsys, event, THREAD)

    [answer] = answers(world)
    assert "```suggestion\n    data = ast.literal_eval(input())\n```" in str(answer["body"])


def test_fix_on_the_conversation_lists_the_pull_requests_fixes(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    command(world, capsys, conversation_event(world, "/aider-review fix"), CONVERSATION)

    [answer] = answers(world)
    body = str(answer["body"])
    assert "`app.py:6`" in body and "ast.literal_eval" in body
    assert "```suggestion" not in body  # an issue comment cannot apply a suggestion


def test_ask_sends_the_question_redacted_inside_the_untrusted_block(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    secret = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
    event, asked = thread_event(world, f"/aider-review ask is this safe? token {secret}")
    command(world, capsys, event, THREAD)

    [request] = world.model.requests
    system, user = (m["content"] for m in request["messages"])
    assert "question" in system.lower()
    assert secret not in json.dumps(request)
    start, end = user.index("<<<UNTRUSTED-DIFF"), user.index("<<<END-UNTRUSTED-DIFF")
    assert start < user.index("is this safe?") < end
    [answer] = answers(world)
    assert answer["in_reply_to_id"] == asked["id"]


# describe -------------------------------------------------------------------------------------


def describing_model(w: World) -> None:
    default = w.model.reviewer

    def reviewer(body: dict[str, Any]) -> str:
        system = str(body["messages"][0]["content"])
        if "describe code changes" in system:
            return json.dumps({"title": "Read input safely", "type": "fix",
                               "summary": "Evaluates the input.",
                               "files": [{"path": "app.py", "summary": "Reads input."}]})
        return str(default(body))

    w.model.reviewer = reviewer


def test_describe_edits_only_the_text_between_its_markers(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    describing_model(world)
    pull = world.github.pulls[world.number]
    pull.body = (f"Author's intro.\r\n\r\n{DESCRIBE_START}\nold text\n{DESCRIBE_END}\r\n\r\n"
                 "Author's closing words.")

    run = command(world, capsys, conversation_event(world, "/aider-review describe"),
                  CONVERSATION)

    assert run.code == 0, run.err
    assert pull.body.startswith("Author's intro.\r\n\r\n" + DESCRIBE_START)
    assert pull.body.endswith(DESCRIBE_END + "\r\n\r\nAuthor's closing words.")
    assert "# Read input safely" in pull.body and "old text" not in pull.body
    [answer] = answers(world)
    assert "description" in str(answer["body"])


def test_describe_flag_appends_the_block_to_a_body_without_markers(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    describing_model(world)
    pull = world.github.pulls[world.number]
    pull.body = "Please review."

    run_bot(world, capsys, "--describe")

    assert pull.body.startswith("Please review.\n\n" + DESCRIBE_START)
    assert pull.body.endswith(DESCRIBE_END)
    assert len(world.github.submitted_reviews()) == 1  # and the review ran as usual


@pytest.mark.parametrize(("body", "expected"), [
    (None, f"{DESCRIBE_START}\nnew\n{DESCRIBE_END}"),
    ("", f"{DESCRIBE_START}\nnew\n{DESCRIBE_END}"),
    (f"a {DESCRIBE_START}x{DESCRIBE_END} b", f"a {DESCRIBE_START}\nnew\n{DESCRIBE_END} b"),
    (f"a {DESCRIBE_START} no end", f"a {DESCRIBE_START} no end\n\n{DESCRIBE_START}\nnew\n"
                                   f"{DESCRIBE_END}"),
])
def test_the_description_block_in_a_body(body: str | None, expected: str) -> None:
    assert with_description(body, "new") == expected


# wrong, useful, feedback export ---------------------------------------------------------------


def test_wrong_in_a_bot_thread_suppresses_the_finding_and_is_exported(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)  # the review: inline comments on lines 5, 6, 7
    bot_comment = inline(world.github)[6]
    fingerprint = fingerprint_of(str(bot_comment["body"]))
    event, _ = thread_event(world, "/aider-review wrong input is trusted here",
                            parent=bot_comment)
    requests = len(world.model.requests)

    run = command(world, capsys, event, THREAD)

    assert run.code == 0, run.err
    assert len(world.model.requests) == requests  # a verdict costs no model request
    assert str(bot_comment["body"]).startswith(WRONG_MARKER)
    assert "input is trusted here" in str(bot_comment["body"])
    assert fingerprint_of(str(bot_comment["body"])) == fingerprint
    [answer] = answers(world)
    assert answer["in_reply_to_id"] == bot_comment["id"] and "wrong" in str(answer["body"])

    # The next run: the finding is not posted again, nor marked resolved, nor counted; the
    # other hunks' answers come from the cache.
    again = run_bot(world, capsys)
    assert "findings=2" in again.outputs and len(world.model.requests) == requests
    assert [c for c in world.github.review_comments
            if fingerprint_of(str(c["body"])) == fingerprint] == [bot_comment]
    assert str(bot_comment["body"]).startswith(WRONG_MARKER)

    # 👍 on another comment; a stranger's "wrong" reply is not feedback.
    world.github.seed_reaction(int(inline(world.github)[5]["id"]), "+1", user="reviewer")
    world.github.seed_review_comment(world.number, body="/aider-review wrong", user="rando",
                                     in_reply_to=int(inline(world.github)[7]["id"]),
                                     association="NONE")
    out = world.tmp / "feedback.jsonl"
    exported = run_bot(world, capsys, "--export-feedback", str(out))

    assert exported.code == 0
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    by_verdict = {line["verdict"]: line for line in lines}
    assert len(lines) == 2
    assert by_verdict["wrong"]["fingerprint"] == fingerprint
    assert by_verdict["wrong"]["note"] == "input is trusted here"
    assert by_verdict["wrong"]["path"] == "app.py"
    assert by_verdict["wrong"]["category"] == "security"
    assert by_verdict["useful"]["fingerprint"] == fingerprint_of(
        str(inline(world.github)[5]["body"]))
    from aider_hooks.knowledge.feedback import parse_feedback

    parsed, problems = parse_feedback(out.read_text(), "feedback.jsonl")
    assert problems == [] and len(parsed) == 2


def test_useful_outside_a_bot_thread_says_where_it_works(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    command(world, capsys, conversation_event(world, "/aider-review useful"), CONVERSATION)

    [answer] = answers(world)
    assert "reply in the thread" in str(answer["body"])
    assert world.model.requests == []


@pytest.mark.parametrize(("body", "name", "argument"), [
    ("/aider-review", "review", ""),
    ("/aider-review please", "review", "please"),
    ("/aider-review EXPLAIN", "explain", ""),
    ("/aider-review ask why?\nsecond line", "ask", "why?\nsecond line"),
    ("/aider-review wrong not a bug", "wrong", "not a bug"),
])
def test_what_a_command_comment_asks(body: str, name: str, argument: str) -> None:
    found = parse_command(body, 1)
    assert (found.name, found.argument) == (name, argument)
