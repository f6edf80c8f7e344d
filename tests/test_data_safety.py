"""Nothing the user has is ever lost: review, explain, fix (without --apply) and github leave
the index and the work tree byte-identical, with unstaged edits present, whatever the model
answers; ``fix --apply`` writes only after ``git apply --check`` and keeps a backup that
``git apply -R`` turns back into the exact original bytes."""
from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.repos import git, stage
from testing.git_shapes import UNSTAGED, stage_all_shapes
from testing.cli import model_env, run_cli
from testing.reliability_support import assert_clean_exit, record_figure, write_config
from testing.fake_model_server import FakeModelServer

pytestmark = pytest.mark.slow  # the installed command and git hooks, per check

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"

CALC_BASE = "import ast\n\n\ndef parse(text):\n    return text\n\n\ndef other():\n    return 1\n"
CALC_STAGED = CALC_BASE.replace("return text", "return eval(text)  # BUG")
FIXED_LINE = "    return ast.literal_eval(text)  # BUG"


def repo_state(repo: Path) -> dict[str, str]:
    """Hashes of everything a user could lose: the index, every work-tree file (tracked,
    modified or untracked, symlinks as their target text), HEAD, refs and stashes."""
    state: dict[str, str] = {}
    index = repo / ".git" / "index"
    state[".git/index"] = hashlib.sha256(index.read_bytes() if index.exists() else b"").hexdigest()
    for root, dirs, files in os.walk(repo):
        dirs[:] = [d for d in dirs if not (Path(root) == repo and d == ".git")]
        for name in files:
            path = Path(root) / name
            rel = str(path.relative_to(repo))
            data = os.readlink(path).encode() if path.is_symlink() else path.read_bytes()
            state[rel] = hashlib.sha256(data).hexdigest()
    for what in (["rev-parse", "HEAD"], ["for-each-ref"], ["stash", "list"],
                 ["status", "--porcelain=v2", "--untracked-files=all"]):
        state[" ".join(what)] = subprocess.run(["git", *what], cwd=repo, capture_output=True,
                                               text=True, check=False).stdout
    return state


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


@pytest.fixture
def busy_repo(git_repo: Path) -> Path:
    """Every staged shape of git_shapes (renames, binary, CRLF, symlink, mode change, ...),
    unstaged edits in several files, an untracked file, and a staged file the model has
    findings (and a suggestion) for."""
    stage_all_shapes(git_repo)
    git(git_repo, "config", "core.autocrlf", "false")
    stage(git_repo, "calc.py", CALC_STAGED)
    (git_repo / "calc.py").write_text(CALC_STAGED + f"# {UNSTAGED} tail\n")
    (git_repo / "scratch.txt").write_text("untracked notes\n")
    write_config(git_repo)
    return git_repo


@pytest.mark.parametrize("command", [
    ["review"], ["review", "--format", "json"], ["review", "--format", "sarif"],
    ["review", "--format", "github"], ["review", "--format", "markdown"],
    ["explain"], ["fix"], ["review", "--dry-run"], ["review", "--offline"],
    ["review", "--range", "HEAD~0...HEAD"], ["review", "--strict", "--no-cache"],
])
def test_read_only_commands_leave_index_and_work_tree_byte_identical(
        busy_repo: Path, server: FakeModelServer, tmp_path: Path, command: list[str]) -> None:
    before = repo_state(busy_repo)
    result = run_cli(*command, cwd=busy_repo, env=model_env(server, tmp_path / "c.sqlite3"))
    assert_clean_exit(result, 0, 1)
    assert repo_state(busy_repo) == before
    record_figure("read-only-command", command=" ".join(command), files=len(before) - 5,
                  changed=0)


def test_fix_without_apply_prints_a_patch_and_writes_nothing(
        busy_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    before = repo_state(busy_repo)
    result = run_cli("fix", cwd=busy_repo, env=model_env(server, tmp_path / "c.sqlite3"))
    assert_clean_exit(result, 1)
    assert "+" + FIXED_LINE in result.stdout
    assert repo_state(busy_repo) == before
    assert not (busy_repo / ".git" / "aider-review").exists()


def test_a_model_storm_changes_nothing_either(
        busy_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    server.fault_rates = {"429": 0.3, "503": 0.2, "reset": 0.1, "invalid_json": 0.1,
                          "stream_cut": 0.1}
    before = repo_state(busy_repo)
    for command in (["review"], ["explain"], ["fix"]):
        result = run_cli(*command, "--no-cache", cwd=busy_repo,
                         env=model_env(server, tmp_path / "c.sqlite3"))
        assert_clean_exit(result, 0, 1)
        assert repo_state(busy_repo) == before


def test_a_file_diff_with_paths_outside_the_repository_changes_nothing(
        busy_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    outside = busy_repo.parent / "outside.py"
    outside.write_text("x = eval(y)  # BUG\n")
    diff = ("diff --git a/../outside.py b/../outside.py\n--- a/../outside.py\n"
            "+++ b/../outside.py\n@@ -0,0 +1 @@\n+x = eval(y)  # BUG\n")
    (tmp_path / "evil.diff").write_text(diff)
    before = repo_state(busy_repo)
    result = run_cli("fix", "--apply", "--diff", str(tmp_path / "evil.diff"), cwd=busy_repo,
                     env=model_env(server, tmp_path / "c.sqlite3"))
    assert_clean_exit(result, 0, 2)
    assert outside.read_text() == "x = eval(y)  # BUG\n"
    assert repo_state(busy_repo) == before


# --- the PR bot --------------------------------------------------------------------------


def test_the_github_bot_leaves_the_checkout_byte_identical(
        busy_repo: Path, server: FakeModelServer, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from aider_hooks.cli.main import build_parser
    from aider_hooks.pr.github.api import RetryPolicy
    from aider_hooks.cli.github import run_github
    from testing.fake_github_server import FakeGitHub

    # A pull request from the base commit to a head commit of the same repository; then the
    # checkout gets unstaged edits and staged work, as a developer's machine would have.
    base = git(busy_repo, "rev-parse", "HEAD").strip()
    git(busy_repo, "stash", "-q")
    (busy_repo / "feature.py").write_text("value = eval(data)  # BUG\n")
    git(busy_repo, "add", "feature.py")
    git(busy_repo, "commit", "-qm", "feature")
    head = git(busy_repo, "rev-parse", "HEAD").strip()
    git(busy_repo, "stash", "pop", "-q")
    git(busy_repo, "stash", "clear")
    (busy_repo / "feature.py").write_text(f"value = 1  # {UNSTAGED}\n")
    policy = RetryPolicy(max_attempts=2, backoff_base=0.01, secondary_min_wait=0.01,
                         max_wait=5.0, write_interval=0.0, timeout=10.0)
    with FakeGitHub() as github:
        github.add_pull(7, base_sha=base, head_sha=head,
                        diff=git(busy_repo, "diff", f"{base}...{head}"))
        env = github.actions_environment(7, tmp_path)
        monkeypatch.chdir(busy_repo)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-bot-key-1234567890")
        before = repo_state(busy_repo)
        args = build_parser().parse_args(["github", "--base-url", server.base_url,
                                          "--cache", str(tmp_path / "c.sqlite3")])
        code = run_github(args, environ=env, policy=policy, sleep=lambda _: None)
        capsys.readouterr()
        assert code == 1
        assert github.review_comments, "the bot posted its findings"
        assert repo_state(busy_repo) == before


# --- under pre-commit ----------------------------------------------------------------------


@pytest.mark.skipif(not PRE_COMMIT.exists(), reason="pre-commit is not installed")
def test_the_hook_under_pre_commit_keeps_unstaged_edits_and_the_staged_change(
        git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    # A local "system" hook runs the installed command: no hook environment to build, but
    # pre-commit's own stash-and-restore of unstaged edits around it is real.
    git(git_repo, "config", "core.autocrlf", "false")
    (git_repo / ".pre-commit-config.yaml").write_text(
        "repos:\n- repo: local\n  hooks:\n  - id: aider-review\n    name: aider-review\n"
        f"    entry: {sys.executable} -m aider_hooks\n    language: system\n"
        "    require_serial: true\n")
    (git_repo / "calc.py").write_text(CALC_BASE)
    (git_repo / "notes.txt").write_text("notes\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "base")
    stage(git_repo, "calc.py", CALC_STAGED)
    (git_repo / "calc.py").write_text(CALC_STAGED + f"# {UNSTAGED}\n")
    (git_repo / "notes.txt").write_text(f"notes\n{UNSTAGED}\n")
    staged_tree = git(git_repo, "write-tree").strip()
    before = repo_state(git_repo)
    env = dict(os.environ, PRE_COMMIT_COLOR="never",
               **model_env(server, tmp_path / "c.sqlite3"))
    result = subprocess.run([str(PRE_COMMIT), "run"], cwd=git_repo, env=env,
                            capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 1, result.stdout + result.stderr  # the BUG blocks the commit
    assert "calc.py:5:" in result.stdout
    after = repo_state(git_repo)
    assert {k: v for k, v in after.items() if k != ".git/index"} == {
        k: v for k, v in before.items() if k != ".git/index"}
    # pre-commit itself may rewrite the index file (a stat refresh); what is staged is intact.
    assert git(git_repo, "write-tree").strip() == staged_tree
    assert server.requests, "the hook asked the model"


# --- fix --apply -------------------------------------------------------------------------


@pytest.fixture
def calc_repo(git_repo: Path) -> Path:
    """calc.py staged with eval( (the fake model suggests ast.literal_eval), an unstaged edit
    at the end of the same file, far from the fix."""
    git(git_repo, "config", "core.autocrlf", "false")
    stage(git_repo, "calc.py", CALC_BASE)
    git(git_repo, "commit", "-qm", "base")
    stage(git_repo, "calc.py", CALC_STAGED)
    (git_repo / "calc.py").write_text(CALC_STAGED + f"# {UNSTAGED} tail\n")
    (git_repo / "other.txt").write_text("untouched\n")
    write_config(git_repo)
    return git_repo


def backups(repo: Path) -> list[Path]:
    folder = repo / ".git" / "aider-review" / "backups"
    return sorted(folder.iterdir()) if folder.exists() else []


def test_apply_writes_only_the_work_tree_and_the_backup_undoes_it_exactly(
        calc_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    original = (calc_repo / "calc.py").read_bytes()
    before = repo_state(calc_repo)
    result = run_cli("fix", "--apply", cwd=calc_repo,
                     env=model_env(server, tmp_path / "c.sqlite3"))
    assert_clean_exit(result, 0)
    fixed = (calc_repo / "calc.py").read_text()
    assert FIXED_LINE in fixed and f"# {UNSTAGED} tail" in fixed  # the unstaged edit survives
    after = repo_state(calc_repo)
    changed = {k for k in before if before[k] != after.get(k)} | (set(after) - set(before))
    assert {k for k in changed if not k.startswith("status")} == {"calc.py"}
    assert after[".git/index"] == before[".git/index"]
    (backup,) = backups(calc_repo)
    assert (backup / "files" / "calc.py").read_bytes() == original
    undo = result.stderr.split("to undo: ", 1)[1].splitlines()[0]
    assert shlex.split(undo) == ["git", "-C", str(calc_repo), "apply", "-R",
                                 str(backup / "fix.patch")]
    elsewhere = calc_repo / ".git" / "info"  # the printed command works from any directory
    subprocess.run(shlex.split(undo), cwd=elsewhere, check=True)
    assert (calc_repo / "calc.py").read_bytes() == original
    assert repo_state(calc_repo) == before
    record_figure("fix-apply-undo", applied=1, restored_exactly=1)


def test_apply_refuses_a_patch_that_does_not_fit_and_changes_nothing(
        calc_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    # The user has since rewritten the very line the fix is for (unstaged).
    (calc_repo / "calc.py").write_text(CALC_STAGED.replace("eval(text)", "json.loads(text)"))
    before = repo_state(calc_repo)
    result = run_cli("fix", "--apply", cwd=calc_repo,
                     env=model_env(server, tmp_path / "c.sqlite3"))
    assert_clean_exit(result, 2)
    assert "does not apply" in result.stderr and "nothing was changed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert repo_state(calc_repo) == before
    assert backups(calc_repo) == []
    record_figure("fix-apply-refused", refused=1, changed=0)


def test_applying_twice_changes_nothing_the_second_time(
        calc_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    env = model_env(server, tmp_path / "c.sqlite3")
    assert_clean_exit(run_cli("fix", "--apply", cwd=calc_repo, env=env), 0)
    before = repo_state(calc_repo)
    again = run_cli("fix", "--apply", cwd=calc_repo, env=env)
    assert_clean_exit(again, 2)
    assert repo_state(calc_repo) == before
    assert len(backups(calc_repo)) == 1


def test_apply_and_undo_keep_crlf_line_endings_exact(
        git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    git(git_repo, "config", "core.autocrlf", "false")
    stage(git_repo, "win.py", CALC_BASE.replace("\n", "\r\n").encode())
    git(git_repo, "commit", "-qm", "base")
    stage(git_repo, "win.py", CALC_STAGED.replace("\n", "\r\n").encode())
    write_config(git_repo)
    original = (git_repo / "win.py").read_bytes()
    result = run_cli("fix", "--apply", cwd=git_repo, env=model_env(server, tmp_path / "c.sqlite3"))
    assert_clean_exit(result, 0)
    fixed = (git_repo / "win.py").read_bytes()
    assert (FIXED_LINE + "\r\n").encode() in fixed
    assert fixed.count(b"\r\n") == fixed.count(b"\n")  # no bare LF slipped in
    (backup,) = backups(git_repo)
    git(git_repo, "apply", "-R", str(backup / "fix.patch"))
    assert (git_repo / "win.py").read_bytes() == original


# --- as a plain git hook -------------------------------------------------------------------


def test_as_a_git_hook_commit_a_is_reviewed_and_a_blocked_commit_keeps_everything(
        git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    # `git commit -a` hands the hook a temporary index (GIT_INDEX_FILE) holding what the
    # commit will contain; the review must read that one, and a refused commit must leave
    # the real index and the work tree as they were.
    git(git_repo, "config", "core.autocrlf", "false")
    (git_repo / "a.py").write_text("x = 1\n")
    (git_repo / "b.py").write_text("y = 1\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "base")
    hook = git_repo / ".git" / "hooks" / "pre-commit"
    hook.write_text(f"#!/bin/sh\nexec {sys.executable} -m aider_hooks\n")
    hook.chmod(0o755)
    write_config(git_repo)
    (git_repo / "a.py").write_text("x = compute()  # BUG\n")  # not staged: only -a takes it
    stage(git_repo, "b.py", "y = 2\n")
    before = repo_state(git_repo)
    env = dict(os.environ, **model_env(server, tmp_path / "c.sqlite3"))
    blocked = subprocess.run(["git", "commit", "-qam", "all"], cwd=git_repo, env=env,
                             capture_output=True, text=True, check=False)
    assert blocked.returncode != 0 and "a.py:1: error" in blocked.stdout + blocked.stderr
    assert repo_state(git_repo) == before
    only_b = subprocess.run(["git", "commit", "-qm", "b only"], cwd=git_repo, env=env,
                            capture_output=True, text=True, check=False)
    assert only_b.returncode == 0, only_b.stdout + only_b.stderr
    assert (git_repo / "a.py").read_text() == "x = compute()  # BUG\n"  # still unstaged
    assert git(git_repo, "diff", "--name-only").split() == ["a.py"]
