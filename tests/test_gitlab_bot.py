"""The merge-request bot on GitLab end to end: a real git repository, the fake model server,
the fake GitLab REST API v4 (``testing/fake_gitlab_server.py``).

Every run goes through the real command (argument parser, settings, engine, reporters); only
GitLab's waits are shortened. The scenarios are those of ``test_github_bot.py``.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from aider_hooks.cli.gitlab import run_gitlab
from aider_hooks.cli.main import build_parser, main
from aider_hooks.errors import GitLabError
from aider_hooks.pr.comments import RESOLVED_MARKER, SUMMARY_MARKER, fingerprint_of
from aider_hooks.pr.gitlab.api import RetryPolicy
from testing.fake_gitlab_server import (
    JOB_TOKEN,
    PERSONAL_TOKEN,
    PROJECT_TOKEN,
    GUEST_TOKEN,
    FakeGitLab,
)
from testing.fake_model_server import FakeModelServer
from testing.repos import git

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
FAST = RetryPolicy(max_attempts=4, backoff_base=0.01, default_wait=0.01, max_wait=30.0,
                   timeout=10.0)
MODEL_KEY = "sk-test-model-key-9f8e7d6c5b4a"


@dataclass
class World:
    repo: Path
    tmp: Path
    gitlab: FakeGitLab
    model: FakeModelServer
    base: str
    head: str
    sleeps: list[float] = field(default_factory=list)
    iid: int = 3

    def commit(self, text: str, message: str) -> str:
        (self.repo / "app.py").write_text(text)
        git(self.repo, "commit", "-qam", message)
        return git(self.repo, "rev-parse", "HEAD").strip()

    def push(self, text: str, message: str) -> str:
        self.head = self.commit(text, message)
        self.gitlab.push(self.iid, head_sha=self.head, diff=self.diff())
        return self.head

    def diff(self) -> str:
        return git(self.repo, "diff", f"{self.base}...{self.head}")


@dataclass
class Run:
    code: int
    out: str
    err: str


@pytest.fixture
def world(git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    (git_repo / "app.py").write_text(BASE_TEXT)
    git(git_repo, "add", "app.py")
    git(git_repo, "commit", "-qm", "base")
    base = git(git_repo, "rev-parse", "HEAD").strip()
    git(git_repo, "checkout", "-qb", "feature")
    monkeypatch.setenv("OPENAI_API_KEY", MODEL_KEY)
    with FakeGitLab(page_size=2) as gitlab, FakeModelServer() as model:
        w = World(git_repo, tmp_path, gitlab, model, base, "")
        w.head = w.commit(HEAD_TEXT, "feature")
        gitlab.add_merge_request(w.iid, base_sha=base, head_sha=w.head, diff=w.diff())
        monkeypatch.chdir(git_repo)
        yield w


def pipeline_env(world: World, token: str = PROJECT_TOKEN, *,
                 shas: bool = True) -> dict[str, str]:
    """What a merge-request pipeline's job sees."""
    env = {"AIDER_REVIEW_GITLAB_TOKEN": token, "CI_API_V4_URL": world.gitlab.api_url,
           "CI_PROJECT_ID": str(world.gitlab.project_id),
           "CI_MERGE_REQUEST_IID": str(world.iid), "CI_JOB_TOKEN": JOB_TOKEN}
    if shas:
        env |= {"CI_MERGE_REQUEST_DIFF_BASE_SHA": world.base, "CI_COMMIT_SHA": world.head}
    return env


def run_bot(world: World, capsys: pytest.CaptureFixture[str], *extra: str,
            token: str = PROJECT_TOKEN, shas: bool = True,
            env: dict[str, str] | None = None) -> Run:
    args = build_parser().parse_args(["gitlab", "--base-url", world.model.base_url,
                                      "--cache", str(world.tmp / "cache.sqlite"), *extra])
    code = run_gitlab(args, environ=env or pipeline_env(world, token, shas=shas), policy=FAST,
                      sleep=world.sleeps.append)
    captured = capsys.readouterr()
    return Run(code, captured.out, captured.err)


def inline(gitlab: FakeGitLab) -> dict[int, dict[str, Any]]:
    return {int(n["position"]["new_line"]): n for n in gitlab.diff_notes()}


def summaries(gitlab: FakeGitLab) -> list[dict[str, Any]]:
    return [n for n in gitlab.general_notes() if SUMMARY_MARKER in n["body"]]


def test_first_run_posts_discussions_on_the_exact_lines_and_one_summary(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_bot(world, capsys)

    assert run.code == 1  # an error-severity finding and the default --fail-on error
    comments = inline(world.gitlab)
    assert sorted(comments) == [5, 6, 7]
    assert "Bug marker found" in comments[5]["body"]
    assert ("```suggestion:-0+0\n    data = ast.literal_eval(input())\n```"
            in comments[6]["body"])
    for note in comments.values():
        position = note["position"]
        assert position["head_sha"] == world.head and position["base_sha"] == world.base
        assert position["start_sha"] == world.base and position["position_type"] == "text"
        assert position["new_path"] == position["old_path"] == "app.py"
        assert "old_line" not in position  # added lines: new_line only
        assert fingerprint_of(note["body"])
    [summary] = summaries(world.gitlab)
    assert world.head in summary["body"] and "3 new, 0 already posted" in summary["body"]
    assert "from the local checkout" in summary["body"]


def test_second_run_adds_nothing_and_edits_the_summary_in_place(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)
    count = len(world.gitlab.notes)

    run = run_bot(world, capsys)

    assert run.code == 1
    assert len(world.gitlab.notes) == count
    [summary] = summaries(world.gitlab)
    assert summary["id"] in world.gitlab.edits
    assert "0 new, 3 already posted" in summary["body"]


def test_a_push_that_moves_lines_does_not_repost_old_findings(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)
    moved = HEAD_TEXT.replace("import os\n", "import os\nimport sys\nimport re\nimport json\n")
    new_head = world.push(moved, "imports above")

    run_bot(world, capsys)

    assert sorted(inline(world.gitlab)) == [5, 6, 7]  # the first run's, nothing new
    [summary] = summaries(world.gitlab)
    assert new_head in summary["body"]


def test_a_fixed_finding_is_marked_resolved_once(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)
    world.push(HEAD_TEXT.replace("BUG_compute()", "compute()"), "fix the bug")

    run = run_bot(world, capsys)

    assert run.code == 0  # the only error is gone
    comments = inline(world.gitlab)
    assert comments[5]["body"].startswith(RESOLVED_MARKER)
    assert "```suggestion" not in comments[5]["body"]
    assert comments[5]["resolved"] is True and comments[6]["resolved"] is False
    assert RESOLVED_MARKER not in comments[6]["body"]
    diff_note_edits = [i for i in world.gitlab.edits if i in {n["id"] for n in comments.values()}]
    assert diff_note_edits == [comments[5]["id"]]

    run_bot(world, capsys)

    assert [i for i in world.gitlab.edits
            if i in {n["id"] for n in comments.values()}] == diff_note_edits
    assert sorted(inline(world.gitlab)) == [5, 6, 7]


def test_a_position_gitlab_rejects_moves_that_finding_to_the_summary(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    # GitLab's view of the diff ends before the TODO line (7), as when its diff differs.
    ours = world.diff()
    cut = ours[: ours.index("+    data = eval(input())\n")] + "+    data = eval(input())\n"
    world.gitlab.merge_requests[world.iid].diff = re.sub(
        r"@@ -(\d+),\d+ \+(\d+),\d+ @@", r"@@ -\1,3 +\2,5 @@", cut)

    run = run_bot(world, capsys)

    assert run.code == 1
    assert sorted(inline(world.gitlab)) == [5, 6]
    rejected = [r for r in world.gitlab.requests if r.path.endswith("/discussions")
                and r.method == "POST" and r.status == 400]
    assert len(rejected) == 1
    [summary] = summaries(world.gitlab)
    assert "`app.py:7`" in summary["body"]
    assert "GitLab did not accept a comment on this line" in summary["body"]


def test_an_unchanged_line_gets_both_old_and_new_line(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.model.reviewer = lambda body: json.dumps({"findings": [{
        "line": 4, "severity": "warning", "category": "style", "message": "main needs a "
        "docstring", "code": "def main():"}]})

    run_bot(world, capsys)

    [note] = world.gitlab.diff_notes()
    assert note["position"]["new_line"] == 4 and note["position"]["old_line"] == 4


def test_a_suggestion_over_several_lines_says_how_many_it_replaces(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.model.reviewer = lambda body: json.dumps({"findings": [{
        "line": 5, "end_line": 6, "severity": "warning", "category": "security",
        "message": "eval of input", "code": "    value = BUG_compute()",
        "suggestion": "    value = compute()\n    data = ast.literal_eval(input())\n"}]})

    run_bot(world, capsys)

    [note] = world.gitlab.diff_notes()
    assert note["position"]["new_line"] == 5
    assert "```suggestion:-0+1\n    value = compute()\n" in note["body"]


# --- tokens -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("token", "writes"), [
    (PROJECT_TOKEN, True),  # project access token (a bot user): the recommended one
    (PERSONAL_TOKEN, True),  # a person's token with the api scope: works, comments as them
    (GUEST_TOKEN, False),  # below the role to comment: read-only, findings in the log
    (JOB_TOKEN, False),  # CI_JOB_TOKEN: GitLab lets it read, never write notes
])
def test_which_tokens_can_comment(world: World, capsys: pytest.CaptureFixture[str],
                                  token: str, writes: bool) -> None:
    """The README's table of token kinds is this test."""
    report = world.tmp / "gl-code-quality-report.json"
    run = run_bot(world, capsys, "--format", "codequality", "--output", str(report),
                  token=token)

    if writes:
        assert run.code == 1 and sorted(inline(world.gitlab)) == [5, 6, 7]
        assert len(summaries(world.gitlab)) == 1
        again = run_bot(world, capsys, token=token)
        assert again.code == 1 and len(world.gitlab.notes) == 4  # its own notes recognised
    else:
        assert run.code == 0  # a read-only token never fails the pipeline
        assert world.gitlab.notes == []
        assert "may not comment" in run.err
        assert "app.py:5" in run.out and "Bug marker found" in run.out  # the job log
    issues = json.loads(report.read_text())
    assert sorted(i["location"]["lines"]["begin"] for i in issues) == [5, 6, 7]


def test_a_job_token_is_sent_as_job_token(world: World,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys, token=JOB_TOKEN)
    assert all(r.status != 401 for r in world.gitlab.requests)


def test_markers_pasted_by_someone_else_are_not_taken_for_ours(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run_bot(world, capsys)
    fingerprints = [fingerprint_of(n["body"]) for n in world.gitlab.diff_notes()]
    positions = [n["position"] for n in world.gitlab.diff_notes()]
    world.gitlab.notes.clear()
    world.gitlab.discussions.clear()
    for fingerprint, position in zip(fingerprints, positions):
        world.gitlab.seed_note(world.iid, f"lgtm <!-- aider-review:fingerprint={fingerprint} -->",
                               position=position)
    world.gitlab.seed_note(world.iid, f"my notes\n\n{SUMMARY_MARKER}")

    run_bot(world, capsys)
    run_bot(world, capsys)

    ours = [n for n in world.gitlab.diff_notes() if n["author"]["username"] != "pr-author"]
    assert sorted(n["position"]["new_line"] for n in ours) == [5, 6, 7]
    assert len([s for s in summaries(world.gitlab)
                if s["author"]["username"] != "pr-author"]) == 1


# --- the API: pagination, rate limits, the diff ----------------------------------------------------


def test_existing_notes_and_discussions_are_read_from_every_page(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    for n in range(5):  # a busy merge request: people's notes fill the first pages
        world.gitlab.seed_note(world.iid, f"looks fine {n}")
    run_bot(world, capsys)

    run_bot(world, capsys)

    for endpoint in ("/discussions", "/notes"):
        pages = {r.query.get("page") for r in world.gitlab.requests
                 if r.method == "GET" and r.path.endswith(endpoint)}
        assert pages >= {None, "2", "3", "4"}, endpoint
    assert len(world.gitlab.diff_notes()) == 3 and len(summaries(world.gitlab)) == 1


def test_a_rate_limited_discussion_is_retried_after_the_wait(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.gitlab.script(429, headers={"Retry-After": "2"}, body={"message": "Retry later"},
                        method="POST", path_contains="/discussions")

    run = run_bot(world, capsys)

    assert run.code == 1 and 2.0 in world.sleeps
    assert sorted(inline(world.gitlab)) == [5, 6, 7]


def test_a_rate_limit_that_outlasts_the_waits_is_an_error(
        world: World, capsys: pytest.CaptureFixture[str]) -> None:
    world.gitlab.script(429, body={"message": "Retry later"}, method="POST", times=10)
    with pytest.raises(GitLabError, match="rate limit"):
        run_bot(world, capsys)
    assert world.gitlab.notes == []


@pytest.mark.parametrize("diffs_endpoint", [True, False])
def test_without_the_pipeline_shas_the_diff_comes_from_the_api(
        world: World, capsys: pytest.CaptureFixture[str], diffs_endpoint: bool,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    world.gitlab.diffs_endpoint = diffs_endpoint  # False: an old GitLab, /changes only
    elsewhere = tmp_path / "no-checkout"  # e.g. `aider-review gitlab --mr 3` from anywhere
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    run = run_bot(world, capsys, shas=False)

    assert run.code == 1
    assert sorted(inline(world.gitlab)) == [5, 6, 7]
    assert "from the GitLab API" in summaries(world.gitlab)[0]["body"]


def test_the_token_appears_nowhere(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_bot(world, capsys, "-v")
    with pytest.raises(GitLabError) as refused:
        run_bot(world, capsys, token="glpat-wrong-token-value-1234567890")
    bad = capsys.readouterr()
    for text in (run.out, run.err, bad.out, bad.err, str(refused.value)):
        assert PROJECT_TOKEN not in text and MODEL_KEY not in text
        assert "glpat-wrong-token-value" not in text


def test_a_bad_token_is_one_clear_line_and_exit_2(
        world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in pipeline_env(world, "glpat-wrong-token-value-1234567890").items():
        monkeypatch.setenv(name, value)

    code = main(["gitlab", "--base-url", world.model.base_url, "--no-cache"])

    err = capsys.readouterr().err
    assert code == 2 and "401" in err and len(err.strip().splitlines()) == 1
    assert "wrong-token-value" not in err


@pytest.mark.parametrize("missing", ["AIDER_REVIEW_GITLAB_TOKEN", "CI_MERGE_REQUEST_IID",
                                     "CI_PROJECT_ID"])
def test_missing_token_project_or_mr_is_a_usage_error(
        world: World, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
        missing: str) -> None:
    for name, value in pipeline_env(world).items():
        if name != missing:
            monkeypatch.setenv(name, value)
    monkeypatch.delenv("GITLAB_TOKEN", raising=False)

    code = main(["gitlab", "--no-cache"])

    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1
    assert world.gitlab.requests == []


def test_dry_run_posts_nothing(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    run = run_bot(world, capsys, "--dry-run")
    assert run.code == 0 and world.model.requests == [] and world.gitlab.writes() == []


# --- --format codequality -----------------------------------------------------------------------


def test_codequality_is_gitlabs_report_shape(world: World,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    world.push(HEAD_TEXT + "\n\ndef other():\n    data = eval(input())\n    return data\n",
               "a second eval")
    code = main(["review", "--range", f"{world.base}...{world.head}", "--base-url",
                 world.model.base_url, "--no-cache", "--format", "codequality"])
    issues = json.loads(capsys.readouterr().out)

    assert code == 1 and isinstance(issues, list) and len(issues) == 4
    for issue in issues:
        assert set(issue) == {"description", "check_name", "fingerprint", "severity",
                              "location"}
        assert issue["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert isinstance(issue["description"], str) and issue["description"]
        assert isinstance(issue["check_name"], str) and issue["check_name"]
        assert issue["location"]["path"] == "app.py"
        assert isinstance(issue["location"]["lines"]["begin"], int)
    assert len({i["fingerprint"] for i in issues}) == len(issues)  # GitLab wants them unique
    by_line = {i["location"]["lines"]["begin"]: i for i in issues}
    assert by_line[5]["severity"] == "critical" and by_line[6]["severity"] == "major"
    assert by_line[7]["severity"] == "info"


def test_gitlab_is_registered_as_a_host() -> None:
    from aider_hooks.pr.gitlab.host import GitLabHost
    from aider_hooks.pr.host import HOSTS, host_factory

    assert "gitlab" in HOSTS and host_factory("gitlab") is GitLabHost
