"""`review --hook`: what the hook reviews in each way pre-commit runs it, through the installed
command (the real pre-commit framework runs it in tests/test_precommit_hook.py), and the
`--worktree` source."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testing.repos import git
from testing.cli import model_env, run_cli
from testing.repos import commit as commit_file
from testing.repos import stage

BREAKPOINT = "def f():\n    breakpoint()\n    return 1\n"


def _history(repo: Path) -> tuple[str, str]:
    commit_file(repo, "util.py", "def add(a, b):\n    return a + b\n")
    base = git(repo, "rev-parse", "HEAD").strip()
    commit_file(repo, "app.py", BREAKPOINT)
    return base, git(repo, "rev-parse", "HEAD").strip()


def test_hook_with_refs_reviews_the_range(git_repo: Path) -> None:
    base, head = _history(git_repo)
    env = {"PRE_COMMIT_FROM_REF": base, "PRE_COMMIT_TO_REF": head}
    result = run_cli("review", "--hook", "app.py", cwd=git_repo, env=env)
    assert result.returncode == 1, result.stderr
    assert "app.py:2:" in result.stdout
    # The legacy names pre-commit still exports work the same.
    legacy = run_cli("review", "--hook", "app.py", cwd=git_repo,
                     env={"PRE_COMMIT_ORIGIN": base, "PRE_COMMIT_SOURCE": head})
    assert legacy.returncode == 1 and "app.py:2:" in legacy.stdout


def test_hook_with_refs_without_shared_history_diffs_the_two_trees(git_repo: Path) -> None:
    commit_file(git_repo, "util.py", "x = 1\n")
    main = git(git_repo, "rev-parse", "HEAD").strip()
    git(git_repo, "checkout", "-q", "--orphan", "other")
    git(git_repo, "rm", "-rq", "--cached", ".")
    (git_repo / "util.py").unlink()
    commit_file(git_repo, "app.py", BREAKPOINT)
    other = git(git_repo, "rev-parse", "HEAD").strip()
    result = run_cli("review", "--hook", "app.py", cwd=git_repo,
                     env={"PRE_COMMIT_FROM_REF": main, "PRE_COMMIT_TO_REF": other})
    assert result.returncode == 1, result.stderr
    assert "app.py:2:" in result.stdout


def test_hook_with_files_and_nothing_staged_checks_them_whole(git_repo: Path) -> None:
    _history(git_repo)
    result = run_cli("review", "--hook", "app.py", "util.py", cwd=git_repo)
    assert result.returncode == 1, result.stderr
    assert "app.py:2:" in result.stdout
    notices = [line for line in result.stderr.splitlines() if "whole file" in line]
    assert notices == ["aider-review: checked 2 whole file(s) (nothing staged) with the "
                       "built-in checks only"], result.stderr


def test_hook_in_a_commit_reviews_the_staged_changes_only(git_repo: Path) -> None:
    _history(git_repo)  # app.py has a committed breakpoint(); the commit does not touch it
    stage(git_repo, "util.py", "def add(a, b):\n    return a + b  # fine\n")
    result = run_cli("review", "--hook", "util.py", cwd=git_repo)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout == ""  # a clean hook run prints nothing of its own
    assert "whole file" not in result.stderr


def test_whole_files_go_to_the_model_only_with_review_all_files(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit_file(git_repo, "app.py", "x = 1  # BUG here\n")
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    result = run_cli("review", "--hook", "--format", "json", "app.py", cwd=git_repo, env=env)
    assert result.returncode == 0, result.stderr
    assert model_server.requests == []
    assert "review-all-files = true" in result.stderr
    (git_repo / ".aider-review.toml").write_text("review-all-files = true\n")
    result = run_cli("review", "--hook", "--format", "json", "app.py", cwd=git_repo, env=env)
    assert result.returncode == 1, result.stderr
    assert len(model_server.requests) == 1
    assert [f["line"] for f in json.loads(result.stdout)["findings"]] == [1]
    assert "with the built-in checks and the model" in result.stderr


def test_worktree_reviews_unstaged_changes(git_repo: Path) -> None:
    commit_file(git_repo, "app.py", "def f():\n    return 1\n")
    (git_repo / "app.py").write_text(BREAKPOINT)
    staged = run_cli(cwd=git_repo)
    assert staged.returncode == 0 and staged.stdout == ""
    result = run_cli("--worktree", cwd=git_repo)
    assert result.returncode == 1, result.stderr
    assert "app.py:2:" in result.stdout
    assert git(git_repo, "diff", "--cached", "--name-only") == ""  # nothing was staged
