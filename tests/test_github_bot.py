"""The PR bot end to end: a real git repository, the fake model server, the fake GitHub API.

Every run goes through the real command (argument parser, settings, engine, reporters); only
GitHub's waits are shortened.
"""
from __future__ import annotations

import json
import subprocess
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from aider_hooks.cli.main import build_parser, main
from aider_hooks.errors import GitHubError, UsageError
from aider_hooks.pr.github.api import RetryPolicy
from aider_hooks.cli.github import run_github
from aider_hooks.pr.comments import RESOLVED_MARKER, SUMMARY_MARKER, fingerprint_of
from aider_hooks.pr.github.event import is_review_command
from testing.repos import git, snapshot_repo
from testing.fake_github_server import READ_ONLY_TOKEN, WRITE_TOKEN, FakeGitHub
from testing.fake_model_server import FakeModelServer, closed_port_url

BASE_TEXT = """import os


def main():
    return os.getcwd()
"""
# Line 5: BUG (error), line 6: eval( (warning with a suggestion), line 7: TODO (info).
HEAD_TEXT = """import os


def main():
    value = BUG_compute()
    data = eval(input())
    # TODO: tidy up
    return os.getcwd(), value, data
"""
FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, secondary_min_wait=0.01, max_wait=30.0,
                   write_interval=0.0, timeout=10.0)
MODEL_KEY = "sk-test-model-key-9f8e7d6c5b4a"


@dataclass
class World:
    repo: Path
    tmp: Path
    github: FakeGitHub
    model: FakeModelServer
    base: str
    head: str
    sleeps: list[float] = field(default_factory=list)
    number: int = 12

    def commit(self, text: str, message: str) -> str:
        (self.repo / "app.py").write_text(text)
        git(self.repo, "commit", "-qam", message)
        return git(self.repo, "rev-parse", "HEAD").strip()

    def push(self, text: str, message: str) -> str:
        """A new commit on the PR branch, and GitHub's view of the PR updated to it."""
        self.head = self.commit(text, message)
        self.github.push(self.number, head_sha=self.head, diff=self.diff())
        return self.head

    def diff(self) -> str:
        return git(self.repo, "diff", f"{self.base}...{self.head}")

    def event(self, name: str = "pull_request") -> Path:
        payload = {"action": "synchronize", "number": self.number,
                   "pull_request": self.github.pulls[self.number].to_json(self.github.api_url)}
        return self.write_event(name, payload)

    def write_event(self, name: str, payload: dict[str, object]) -> Path:
        path = self.tmp / f"event-{name}.json"
        path.write_text(json.dumps(payload))
        return path


@dataclass
class Run:
    code: int
    out: str
    err: str
    step_summary: str
    outputs: str


@pytest.fixture
def world(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    (git_repo / "app.py").write_text(BASE_TEXT)
    git(git_repo, "add", "app.py")
    git(git_repo, "commit", "-qm", "base")
    base = git(git_repo, "rev-parse", "HEAD").strip()
    git(git_repo, "checkout", "-qb", "feature")
    monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)
    with FakeGitHub(page_size=2) as github, FakeModelServer() as model:
        w = World(git_repo, tmp_path, github, model, base, "")
        w.head = w.commit(HEAD_TEXT, "feature")
        github.add_pull(w.number, base_sha=base, head_sha=w.head, diff=w.diff())
        monkeypatch.chdir(git_repo)
        yield w


def run_bot(world: World, capsys: pytest.CaptureFixture[str], *extra: str,
            token: str = WRITE_TOKEN, event_name: str = "pull_request",
            event_path: Path | None = None, model: bool = True) -> Run:
    summary = world.tmp / "step-summary.md"
    outputs = world.tmp / "github-output"
    for path in (summary, outputs):
        path.write_text("")
    env = {
        "GITHUB_TOKEN": token,
        "GITHUB_REPOSITORY": world.github.repo,
        "GITHUB_API_URL": world.github.api_url,
        "GITHUB_EVENT_NAME": event_name,
        "GITHUB_EVENT_PATH": str(event_path or world.event(event_name)),
        "GITHUB_STEP_SUMMARY": str(summary),
        "GITHUB_OUTPUT": str(outputs),
        # The merge commit Actions checks out: comments must never be attached to it.
        "GITHUB_SHA": "f" * 40,
    }
    endpoint = ["--base-url", world.model.base_url] if model else []
    args = build_parser().parse_args(["github", *endpoint,
                                      "--cache", str(world.tmp / "cache.sqlite"), *extra])
    code = run_github(args, environ=env, policy=FAST, sleep=world.sleeps.append)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err, summary.read_text(), outputs.read_text())


def inline(github: FakeGitHub) -> dict[int, dict[str, object]]:
    return {int(c["line"]): c for c in github.review_comments}


def summaries(github: FakeGitHub) -> list[dict[str, object]]:
    return [c for c in github.issue_comments if SUMMARY_MARKER in str(c["body"])]


def test_first_run_posts_one_review_on_the_exact_lines_and_one_summary(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_bot(world, capsys)

    assert run.code == 1  # an error-severity finding and the default --fail-on error
    reviews = world.github.submitted_reviews()
    assert len(reviews) == 1 and reviews[0]["commit_id"] == world.head
    comments = inline(world.github)
    assert sorted(comments) == [5, 6, 7]
    assert "Bug marker found" in str(comments[5]["body"])
    assert "```suggestion\n    data = ast.literal_eval(input())\n```" in str(comments[6]["body"])
    assert all(c["side"] == "RIGHT" and c["commit_id"] == world.head for c in comments.values())
    assert all(fingerprint_of(str(c["body"])) for c in comments.values())
    [summary] = summaries(world.github)
    assert world.head in str(summary["body"]) and "3 new, 0 already posted" in str(summary["body"])
    assert "## aider-review" in run.step_summary
    assert "findings=3" in run.outputs and "errors=1" in run.outputs
    assert "ai-review=ran" in run.outputs and "AI review skipped" not in run.step_summary
    assert not [r for r in world.github.reviews if r["state"] == "PENDING"]


def test_no_model_key_says_ai_review_skipped_not_a_clean_review(
        world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY")
    run = run_bot(world, capsys, model=False)

    assert run.code == 0 and world.model.requests == []  # the check stays as documented
    [summary] = summaries(world.github)
    body = str(summary["body"])
    assert "**AI review skipped:** no model is configured" in body
    assert body.index("AI review skipped") < body.index("| Reviewed")  # it leads, not a footnote
    assert "OPENAI_API_KEY" in body  # and says how to fix it
    assert run.step_summary.startswith("> **AI review skipped:** no model is configured")
    assert "ai-review=skipped" in run.outputs


def test_an_unreachable_model_says_ai_review_skipped(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_bot(world, capsys, "--base-url", closed_port_url())

    assert run.code == 0  # never fails the check without --strict
    [summary] = summaries(world.github)
    assert "**AI review skipped:** the model could not be reached" in str(summary["body"])
    assert "AI review skipped" in run.step_summary and "ai-review=skipped" in run.outputs


def test_second_run_on_the_same_head_costs_nothing_and_leaves_the_summary(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)
    [summary] = summaries(world.github)
    body, requests, writes = summary["body"], len(world.model.requests), len(
        world.github.writes())

    run = run_bot(world, capsys)

    assert run.code == 1  # the findings the summary holds still fail the check
    assert len(world.model.requests) == requests and len(world.github.writes()) == writes
    assert summaries(world.github)[0]["body"] == body
    assert "findings=3" in run.outputs and "errors=1" in run.outputs
    assert "ai-review=not-needed" in run.outputs and "nothing reviewable changed" in run.err


def test_a_push_of_only_excluded_files_costs_no_model_request(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    git(world.repo, "checkout", "-q", world.base)
    (world.repo / "pyproject.toml").write_text(
        '[tool.aider-review]\nexclude = ["notes/**"]\n')
    git(world.repo, "add", "pyproject.toml")
    git(world.repo, "commit", "-qm", "config")
    world.base = git(world.repo, "rev-parse", "HEAD").strip()
    world.github.pulls[world.number].base_sha = world.base
    git(world.repo, "checkout", "-q", "feature")
    git(world.repo, "rebase", "-q", world.base)
    world.head = git(world.repo, "rev-parse", "HEAD").strip()
    world.github.push(world.number, head_sha=world.head, diff=world.diff())
    run_bot(world, capsys)
    [summary] = summaries(world.github)
    body, requests = summary["body"], len(world.model.requests)
    (world.repo / "notes").mkdir()
    (world.repo / "notes" / "plan.md").write_text("BUG in the plan\n")
    git(world.repo, "add", "notes")
    git(world.repo, "commit", "-qm", "notes")
    world.head = git(world.repo, "rev-parse", "HEAD").strip()
    world.github.push(world.number, head_sha=world.head, diff=world.diff())

    run = run_bot(world, capsys)

    assert run.code == 1 and len(world.model.requests) == requests
    assert summaries(world.github)[0]["body"] == body


def test_a_push_says_what_was_new_since_the_last_reviewed_head(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)
    first = world.head
    comment_count = len(world.github.review_comments)
    world.push(HEAD_TEXT + "\n\ndef helper():\n    return 1\n", "a helper")

    run = run_bot(world, capsys)

    assert run.code == 1
    assert len(world.github.submitted_reviews()) == 1
    assert len(world.github.review_comments) == comment_count
    [summary] = summaries(world.github)
    assert ("issue_comment", summary["id"]) in world.github.edits
    body = str(summary["body"])
    assert "0 new, 3 already posted" in body
    assert f"Since the last reviewed head `{first[:7]}`" in body
    assert "from the cache" in body


def test_a_push_that_moves_lines_does_not_repost_old_findings(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)
    moved = HEAD_TEXT.replace("import os\n", "import os\nimport sys\nimport re\nimport json\n")
    new_head = world.push(moved, "imports above")

    run_bot(world, capsys)

    assert len(world.github.submitted_reviews()) == 1
    assert sorted(inline(world.github)) == [5, 6, 7]  # the first run's comments, nothing new
    [summary] = summaries(world.github)
    assert new_head in str(summary["body"])


def test_a_fixed_finding_gets_its_comment_marked_resolved_once(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)
    fixed = HEAD_TEXT.replace("BUG_compute()", "compute()")
    world.push(fixed, "fix the bug")

    run = run_bot(world, capsys)

    assert run.code == 0  # the only error is gone
    comments = inline(world.github)
    assert RESOLVED_MARKER in str(comments[5]["body"])
    assert "```suggestion" not in str(comments[5]["body"])
    assert RESOLVED_MARKER not in str(comments[6]["body"])
    edits_after_fix = [e for e in world.github.edits if e[0] == "review_comment"]
    assert edits_after_fix == [("review_comment", comments[5]["id"])]

    run_bot(world, capsys)

    assert [e for e in world.github.edits if e[0] == "review_comment"] == edits_after_fix
    assert len(world.github.submitted_reviews()) == 1


def test_a_read_only_token_falls_back_to_annotations_and_the_step_summary(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_bot(world, capsys, token=READ_ONLY_TOKEN)

    assert run.code == 0
    assert world.github.reviews == [] and world.github.issue_comments == []
    assert "::error file=app.py,line=5" in run.out
    assert "::warning file=app.py,line=6" in run.out
    assert "read-only token" in run.step_summary and "Bug marker found" in run.step_summary
    assert "findings=3" in run.outputs


def github_refuses_the_todo_line(world: World) -> None:
    """GitHub's view of the diff ends before the TODO line (line 7), as when its diff
    differs from ours: a review commenting there is refused with a 422 that names nothing."""
    ours = world.diff()
    cut = ours[: ours.index("+    data = eval(input())\n")] + "+    data = eval(input())\n"
    github_diff = re.sub(r"@@ -(\d+),\d+ \+(\d+),\d+ @@", r"@@ -\1,3 +\2,5 @@", cut)
    world.github.pulls[world.number].diffs[world.head] = github_diff


def test_a_line_github_rejects_costs_only_that_comment(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    github_refuses_the_todo_line(world)

    run = run_bot(world, capsys)

    assert run.code == 1
    assert len(world.github.submitted_reviews()) == 1
    assert sorted(inline(world.github)) == [5, 6]
    assert not [r for r in world.github.reviews if r["state"] == "PENDING"]
    [summary] = summaries(world.github)
    assert "`app.py:7`" in str(summary["body"])
    assert "GitHub did not accept a comment on this line" in str(summary["body"])


def test_rate_limited_review_is_retried_after_the_wait(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.github.script(403, headers={"retry-after": "2"},
                        body={"message": "You have exceeded a secondary rate limit"},
                        method="POST", path_contains="/reviews")

    run = run_bot(world, capsys)

    assert run.code == 1
    assert 2.0 in world.sleeps
    assert len(world.github.submitted_reviews()) == 1 and len(world.github.review_comments) == 3


def test_existing_comments_are_read_from_every_page(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(5):  # a busy PR: human comments fill the first pages
        world.github.seed_review_comment(world.number, body=f"looks fine {n}", user="human")
    run_bot(world, capsys)

    run_bot(world, capsys)

    listing = [r for r in world.github.requests
               if r.path.endswith(f"/pulls/{world.number}/comments")]
    assert {r.query.get("page") for r in listing} >= {None, "2", "3", "4"}
    assert len(world.github.submitted_reviews()) == 1
    assert len(world.github.review_comments) == 5 + 3


def test_suggestion_holding_backticks_gets_a_longer_fence(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    text = HEAD_TEXT.replace("eval(input())", 'eval("```")')
    world.push(text, "backticks")

    run_bot(world, capsys)

    body = str(inline(world.github)[6]["body"])
    assert '````suggestion\n    data = ast.literal_eval("```")\n````' in body


def test_the_token_appears_nowhere(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    report = world.tmp / "report.sarif"
    run = run_bot(world, capsys, "--format", "sarif", "--output", str(report), "-v")
    with pytest.raises(GitHubError) as refused:
        run_bot(world, capsys, token="wrong-token-value-1234567890")
    bad = capsys.readouterr()

    produced = [run.out, run.err, run.step_summary, run.outputs, bad.out, bad.err,
                str(refused.value), report.read_text()]
    produced += [p.read_bytes().decode("latin-1") for p in world.tmp.rglob("*") if p.is_file()]
    for text in produced:
        assert WRITE_TOKEN not in text and MODEL_KEY not in text
        assert "wrong-token-value-1234567890" not in text


def test_a_bad_token_is_one_clear_line_and_exit_2(
        world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "wrong-token-value-1234567890")
    monkeypatch.setenv("GITHUB_REPOSITORY", world.github.repo)
    monkeypatch.setenv("GITHUB_API_URL", world.github.api_url)
    monkeypatch.setenv("GITHUB_EVENT_PATH", str(world.event()))
    monkeypatch.setenv("GITHUB_EVENT_NAME", "pull_request")

    code = main(["github", "--base-url", world.model.base_url, "--no-cache"])

    err = capsys.readouterr().err
    assert code == 2
    assert "401" in err and "GITHUB_TOKEN" in err and len(err.strip().splitlines()) == 1
    assert "wrong-token-value" not in err


@pytest.mark.parametrize("missing", ["GITHUB_TOKEN", "GITHUB_EVENT_PATH"])
def test_missing_token_or_event_is_a_usage_error(
        world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        missing: str) -> None:
    values = {"GITHUB_TOKEN": WRITE_TOKEN, "GITHUB_REPOSITORY": world.github.repo,
              "GITHUB_API_URL": world.github.api_url, "GITHUB_EVENT_PATH": str(world.event())}
    for name, value in values.items():
        if name != missing:
            monkeypatch.setenv(name, value)

    code = main(["github", "--no-cache"])

    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and missing in err
    assert world.github.requests == []


def test_pull_request_target_reads_the_diff_from_the_api_and_touches_no_code(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # The trusted base is checked out, though the PR head is in the object store too.
    git(world.repo, "checkout", "-q", world.base)
    before = snapshot_repo(world.repo)

    run = run_bot(world, capsys, event_name="pull_request_target")

    assert run.code == 1
    assert snapshot_repo(world.repo) == before
    assert git(world.repo, "rev-parse", "HEAD").strip() == world.base
    assert any("diff" in r.accept for r in world.github.requests if r.method == "GET")
    assert sorted(inline(world.github)) == [5, 6, 7]
    assert "from the GitHub API" in str(summaries(world.github)[0]["body"])


def test_pull_request_uses_the_local_checkout_when_both_commits_are_there(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)

    assert not any("diff" in r.accept for r in world.github.requests)
    assert "from the local checkout" in str(summaries(world.github)[0]["body"])


def comment_event(world: World, body: str, association: str = "MEMBER") -> Path:
    payload: dict[str, object] = {
        "action": "created",
        "issue": {"number": world.number, "state": "open",
                  "pull_request": {"url": f"{world.github.api_url}/pulls/{world.number}"}},
        "comment": {"body": body, "author_association": association},
    }
    return world.write_event("issue_comment", payload)


def test_a_review_comment_command_reviews_the_pull_request_head(
        world: World, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "no-checkout"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    run = run_bot(world, capsys, event_name="issue_comment",
                  event_path=comment_event(world, "/aider-review please"))

    assert run.code == 1
    [review] = world.github.submitted_reviews()
    assert review["commit_id"] == world.head
    assert sorted(inline(world.github)) == [5, 6, 7]


@pytest.mark.parametrize(("body", "association"), [
    ("/aider-review", "NONE"),  # a stranger may not spend the team's model budget
    ("thanks, looks good", "MEMBER"),
])
def test_other_comments_do_nothing(world: World, capsys: pytest.CaptureFixture[str],
                                   body: str, association: str) -> None:
    run = run_bot(world, capsys, event_name="issue_comment",
                  event_path=comment_event(world, body, association))

    assert run.code == 0
    assert "nothing to do" in run.err
    assert world.github.requests == [] and world.model.requests == []
    assert "findings=0" in run.outputs


def test_a_closed_pull_request_is_not_reviewed(world: World,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    payload = {"action": "closed", "number": world.number,
               "pull_request": world.github.pulls[world.number].to_json(world.github.api_url)}

    run = run_bot(world, capsys, event_path=world.write_event("pull_request", payload))

    assert run.code == 0 and "nothing to do" in run.err
    assert world.github.requests == [] and world.model.requests == []


def test_an_unsupported_event_says_what_to_do(world: World,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="pull_request_target.*--pr NUMBER"):
        run_bot(world, capsys, event_name="push",
                event_path=world.write_event("push", {"ref": "refs/heads/main"}))


@pytest.mark.parametrize(("body", "is_command"), [
    ("/aider-review", True),
    ("  /aider-review focus on security\nthanks", True),
    ("/aider-reviewer", False),
    ("please /aider-review", False),
    ("", False),
])
def test_what_counts_as_the_review_command(body: str, is_command: bool) -> None:
    assert is_review_command(body) is is_command


def test_a_rate_limit_that_outlasts_the_waits_is_an_error_not_a_read_only_token(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.github.script(403, body={"message": "You have exceeded a secondary rate limit"},
                        method="POST", times=10)

    with pytest.raises(GitHubError, match="rate limit"):
        run_bot(world, capsys)
    assert world.github.reviews == []


def test_dry_run_sends_nothing_to_the_model_and_posts_nothing(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_bot(world, capsys, "--dry-run")

    assert run.code == 0 and "nothing was sent" in run.out
    assert world.model.requests == [] and world.github.writes() == []


# --- whose comments count -----------------------------------------------------------------------


def test_markers_pasted_by_someone_else_are_not_taken_for_ours(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)
    fingerprints = [fingerprint_of(str(c["body"])) for c in world.github.review_comments]
    # Start again on a fresh pull request where a human pasted our hidden markers.
    world.github.review_comments.clear()
    world.github.issue_comments.clear()
    for fingerprint in fingerprints:
        world.github.seed_review_comment(
            world.number, body=f"lgtm <!-- aider-review:fingerprint={fingerprint} -->",
            user="pr-author")
    world.github.seed_issue_comment(world.number, body=f"my notes\n\n{SUMMARY_MARKER}",
                                    user="pr-author")

    run_bot(world, capsys)
    run_bot(world, capsys)

    ours = [c for c in world.github.review_comments if c["user"]["login"] != "pr-author"]
    assert sorted(int(c["line"]) for c in ours) == [5, 6, 7]  # every finding posted, once
    assert len([s for s in summaries(world.github)
                if s["user"]["login"] != "pr-author"]) == 1  # one summary, edited in place
    assert not [e for e in world.github.edits
                if e[1] in {c["id"] for c in world.github.issue_comments
                            if c["user"]["login"] == "pr-author"}]


def test_a_personal_token_knows_its_own_comments_by_login(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.github.viewer_login = "alice"  # a personal access token of alice
    run_bot(world, capsys)
    again = run_bot(world, capsys)
    assert again.code == 1
    assert len(world.github.submitted_reviews()) == 1 and len(summaries(world.github)) == 1
    assert {c["user"]["login"] for c in world.github.review_comments} == {"alice"}


def test_a_rate_limited_summary_edit_is_an_error_not_a_second_summary(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)
    world.push(HEAD_TEXT + "# more\n", "more")
    world.github.script(403, body={"message": "You have exceeded a secondary rate limit"},
                        method="PATCH", times=10)
    with pytest.raises(GitHubError, match="rate limit"):
        run_bot(world, capsys)
    assert len(summaries(world.github)) == 1


def test_a_suggestion_quoting_the_resolved_marker_is_still_an_open_comment(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.model.reviewer = lambda body: json.dumps({"findings": [{
        "line": 6, "severity": "warning", "category": "security", "message": "eval of input",
        "suggestion": f"    data = eval(input())  # {RESOLVED_MARKER}"}]})
    run_bot(world, capsys)
    run_bot(world, capsys)
    assert len(world.github.review_comments) == 1 and len(world.github.submitted_reviews()) == 1


def test_the_same_line_of_code_in_two_places_gets_two_comments_once(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.push(HEAD_TEXT + "\n\ndef other():\n    data = eval(input())\n    return data\n",
               "a second eval")
    first = run_bot(world, capsys, "--format", "json")
    assert sorted(inline(world.github)) == [5, 6, 7, 12]
    assert sorted(f["line"] for f in json.loads(first.out)["findings"]) == [5, 6, 7, 12]
    run_bot(world, capsys)
    assert len(world.github.review_comments) == 4  # nothing posted twice


def test_a_cp1252_file_reads_the_same_from_the_api_as_from_the_checkout(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    (world.repo / "app.py").write_bytes(HEAD_TEXT.replace("# TODO: tidy up", "# TODO: café")
                                        .encode("cp1252"))
    git(world.repo, "commit", "-qam", "cp1252")
    world.head = git(world.repo, "rev-parse", "HEAD").strip()
    raw = subprocess.run(["git", "diff", f"{world.base}...{world.head}"], cwd=world.repo,
                         capture_output=True, check=True).stdout  # bytes, as GitHub serves it
    world.github.push(world.number, head_sha=world.head, diff=raw)
    run_bot(world, capsys)  # the local checkout
    comments = len(world.github.review_comments)

    run_bot(world, capsys, event_name="pull_request_target")  # the API's diff, as data

    assert len(world.github.review_comments) == comments  # nothing looks new
    assert not any(RESOLVED_MARKER in str(c["body"]) for c in world.github.review_comments)
    todo = next(c for c in world.github.review_comments if int(c["line"]) == 7)
    assert "\ufffd" not in str(todo["body"])


def test_a_run_on_the_apis_diff_does_not_resolve_what_it_could_not_check(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.push(HEAD_TEXT + "\ndef broken(:\n    pass\n", "a syntax error")
    run_bot(world, capsys)  # the checkout: the file is compiled, the error is found
    [syntax] = [c for c in world.github.review_comments if "syntax-error" in str(c["body"])]

    run = run_bot(world, capsys, event_name="pull_request_target")  # the API's diff: no files

    assert not str(syntax["body"]).startswith(RESOLVED_MARKER)
    assert "marked" not in run.err


def test_a_pending_review_left_by_a_cancelled_run_does_not_block_the_next(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    github_refuses_the_todo_line(world)
    # A run cancelled mid-probe (cancel-in-progress) left its pending review behind.
    world.github.reviews.append({"id": 1, "pull_number": world.number, "body": "",
                                 "commit_id": world.head, "state": "PENDING",
                                 "user": {"login": "github-actions[bot]", "type": "Bot"}})
    run = run_bot(world, capsys)
    assert sorted(inline(world.github)) == [5, 6]  # the probing worked; only line 7 refused
    assert not [r for r in world.github.reviews if r["state"] == "PENDING"]
    assert "left by an interrupted run" in run.err
