"""The hook under the real pre-commit framework, as a user's `.pre-commit-config.yaml` runs it.

The hooks come from a snapshot of this repository (its files as they are in the work tree,
committed to a temporary repository once per module), named in a config file by `repo:` and
`rev:`. pre-commit builds the hook's own virtualenv from it (pip install) once: the
environment is shared by every test in this module. (`pre-commit try-repo` would build a new
environment on every call, half a minute each.)
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from testing.repos import git, snapshot_repo

pytestmark = pytest.mark.slow  # pre-commit builds a virtualenv and runs the hook in it

ROOT = Path(__file__).resolve().parent.parent
PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
# Read before the autouse fixture replaces HOME, so pip can reuse wheels it already has.
_PIP_CACHE = os.environ.get("PIP_CACHE_DIR") or str(Path.home() / ".cache" / "pip")


@pytest.fixture(scope="module")
def hooks_snapshot(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """This repository's tracked and new (not ignored) files, committed: (path, commit)."""
    snapshot = tmp_path_factory.mktemp("aider-hooks-snapshot")
    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, listing.decode("utf-8", errors="surrogateescape").split("\0")):
        source = ROOT / name
        if source.is_file():
            target = snapshot / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    identity = ["-c", "user.name=test", "-c", "user.email=test@example.invalid",
                "-c", "commit.gpgsign=false"]
    git(snapshot, "init", "-q")
    git(snapshot, "add", "-A")
    git(snapshot, *identity, "commit", "-qm", "snapshot")
    return snapshot, git(snapshot, "rev-parse", "HEAD").strip()


@pytest.fixture(scope="module")
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory,
                    hooks_snapshot: tuple[Path, str]) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("pre-commit-home")
    (home / "snapshot").write_text("\n".join(map(str, hooks_snapshot)))
    yield home


def try_repo(repo: Path, home: Path, *extra: str, hook: str = "aider-review",
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """`pre-commit run HOOK EXTRA...` in ``repo``, with the hooks of the snapshot."""
    snapshot, rev = (home / "snapshot").read_text().split("\n")
    config = repo.parent / "pre-commit-config.yaml"  # outside the repository: never "unstaged"
    config.write_text(yaml.safe_dump({"repos": [{"repo": snapshot, "rev": rev, "hooks": [
        {"id": hook_id} for hook_id in ("aider-review", "aider-review-push")]}]}))
    full_env = dict(os.environ, PRE_COMMIT_HOME=str(home), PIP_CACHE_DIR=_PIP_CACHE,
                    PRE_COMMIT_COLOR="never", **(env or {}))
    return subprocess.run([str(PRE_COMMIT), "run", "-c", str(config), hook, *extra],
                          cwd=repo, env=full_env, capture_output=True, text=True, timeout=900,
                          check=False)


def commit_all(repo: Path, message: str) -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD").strip()


def committed_breakpoint(repo: Path) -> tuple[str, str]:
    """A clean base commit, then a commit with a leftover breakpoint(); nothing staged after.
    Returns both commits."""
    (repo / "util.py").write_text("def add(a, b):\n    return a + b\n")
    base = commit_all(repo, "base")
    (repo / "app.py").write_text("def f():\n    breakpoint()\n    return 1\n")
    return base, commit_all(repo, "debugging left in")


def test_hook_blocks_a_commit_with_an_error_and_keeps_unstaged_edits(
        git_repo: Path, pre_commit_home: Path) -> None:
    (git_repo / "app.py").write_text("def f():\n    return 1\n")
    (git_repo / "notes.txt").write_text("first\n")
    git(git_repo, "add", ".")
    git(git_repo, "commit", "-qm", "base")
    (git_repo / "app.py").write_text(
        "def f():\n<<<<<<< HEAD\n    return 1\n=======\n    return 2\n>>>>>>> topic\n")
    git(git_repo, "add", "app.py")
    # Unstaged work in a staged file and in another file: pre-commit stashes it around the hook.
    (git_repo / "app.py").write_text((git_repo / "app.py").read_text() + "# unstaged tail\n")
    (git_repo / "notes.txt").write_text("first\nunstaged edit\n")
    before = snapshot_repo(git_repo)

    result = try_repo(git_repo, pre_commit_home)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "app.py:2:" in result.stdout
    assert "Failed" in result.stdout
    index_after, files_after = snapshot_repo(git_repo)
    assert files_after == before[1]  # unstaged edits are back, byte for byte
    assert git(git_repo, "show", ":app.py").count("<<<<<<<") == 1  # staged work untouched


def test_hook_passes_a_clean_commit(git_repo: Path, pre_commit_home: Path) -> None:
    (git_repo / "util.py").write_text("def add(a, b):\n    return a + b\n")
    git(git_repo, "add", "util.py")
    result = try_repo(git_repo, pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout


def test_hook_manifest_matches_the_console_script_and_readme() -> None:
    hooks = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    by_id = {hook["id"]: hook for hook in hooks}
    assert set(by_id) == {"aider-review", "aider-review-push", "aider-explain",
                          "aider-commit-msg"}
    review = by_id["aider-review"]
    assert review["entry"].split()[0] == "aider-review"
    assert review["stages"] == ["pre-commit", "manual"]
    assert review["require_serial"] is True
    assert by_id["aider-explain"]["stages"] == ["manual"]
    assert by_id["aider-commit-msg"]["stages"] == ["prepare-commit-msg"]
    assert by_id["aider-commit-msg"]["entry"] == "aider-review commit-msg"
    push = by_id["aider-review-push"]
    assert push["stages"] == ["pre-push"] and push["entry"] == review["entry"]
    # A passing run's warnings and "model unreachable" line must reach the user.
    assert review["verbose"] is True and push["verbose"] is True
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'aider-review = "aider_hooks.cli.main:main"' in pyproject
    readme = (ROOT / "README.md").read_text()
    for hook_id in by_id:
        assert f"id: {hook_id}" in readme


# --- every way pre-commit runs the hook ------------------------------------------------------
# Nothing is staged in these runs: the hook must still look at what pre-commit names.


def test_all_files_catches_a_committed_breakpoint(git_repo: Path, pre_commit_home: Path) -> None:
    committed_breakpoint(git_repo)
    result = try_repo(git_repo, pre_commit_home, "--all-files")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "app.py:2:" in result.stdout and "Failed" in result.stdout
    # The run says what it did, in one line: whole files, built-in checks only.
    assert "whole file(s) (nothing staged) with the built-in checks only" in result.stdout


def test_files_catches_a_committed_breakpoint(git_repo: Path, pre_commit_home: Path) -> None:
    committed_breakpoint(git_repo)
    result = try_repo(git_repo, pre_commit_home, "--files", "app.py")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "app.py:2:" in result.stdout
    clean = try_repo(git_repo, pre_commit_home, "--files", "util.py")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_from_ref_to_ref_reviews_the_range(git_repo: Path, pre_commit_home: Path) -> None:
    base, head = committed_breakpoint(git_repo)
    result = try_repo(git_repo, pre_commit_home, "--from-ref", base, "--to-ref", head)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "app.py:2:" in result.stdout
    assert "whole file" not in result.stdout  # the range's changes, not whole files


def test_pre_push_hook_reviews_the_commits_being_pushed(git_repo: Path,
                                                        pre_commit_home: Path) -> None:
    base, head = committed_breakpoint(git_repo)
    result = try_repo(git_repo, pre_commit_home, "--hook-stage", "pre-push",
                      "--from-ref", base, "--to-ref", head, hook="aider-review-push")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "app.py:2:" in result.stdout
    # Only what is pushed: the base commit's file is not reviewed.
    (git_repo / "later.py").write_text("x = 1\n")
    later = commit_all(git_repo, "clean")
    clean = try_repo(git_repo, pre_commit_home, "--hook-stage", "pre-push",
                     "--from-ref", head, "--to-ref", later, hook="aider-review-push")
    assert clean.returncode == 0, clean.stdout + clean.stderr


def test_a_warning_shows_in_a_passing_run(git_repo: Path, pre_commit_home: Path) -> None:
    (git_repo / ".aider-review.toml").write_text("max-file-bytes = 20\noffline = true\n")
    commit_all(git_repo, "config")
    (git_repo / "big.txt").write_text("many bytes in this file\n" * 4)
    git(git_repo, "add", "big.txt")
    result = try_repo(git_repo, pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout
    assert "big.txt" in result.stdout and "large-file" in result.stdout


def test_an_unreachable_model_shows_in_a_passing_run(git_repo: Path,
                                                     pre_commit_home: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (git_repo / ".aider-review.toml").write_text("backoff-base = 0.01\nbackoff-max = 0.05\n")
    commit_all(git_repo, "config")
    (git_repo / "util.py").write_text("def add(a, b):\n    return a + b\n")
    git(git_repo, "add", "util.py")
    result = try_repo(git_repo, pre_commit_home, env={
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "AIDER_REVIEW_CACHE": str(git_repo.parent / "cache.sqlite3")})
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Passed" in result.stdout
    assert "cannot connect to the model endpoint http://127.0.0.1" in result.stdout, result.stdout


def test_a_clean_commit_with_nothing_to_say_prints_nothing_of_its_own(
        git_repo: Path, pre_commit_home: Path) -> None:
    (git_repo / ".aider-review.toml").write_text("offline = true\n")
    commit_all(git_repo, "config")
    (git_repo / "util.py").write_text("def add(a, b):\n    return a + b\n")
    git(git_repo, "add", "util.py")
    result = try_repo(git_repo, pre_commit_home)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "aider-review:" not in result.stdout  # only pre-commit's own lines
