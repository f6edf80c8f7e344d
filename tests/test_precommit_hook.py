"""The hook under the real pre-commit framework: `pre-commit try-repo` on this repository.

pre-commit builds the hook's own virtualenv from this repository (pip install), so the first
test pays for one install; the environment is shared by every test in this module.
"""
from __future__ import annotations

import os
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
def pre_commit_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield tmp_path_factory.mktemp("pre-commit-home")


def try_repo(repo: Path, home: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PRE_COMMIT_HOME=str(home), PIP_CACHE_DIR=_PIP_CACHE,
               PRE_COMMIT_COLOR="never")
    return subprocess.run([str(PRE_COMMIT), "try-repo", str(ROOT), "aider-review", *extra],
                          cwd=repo, env=env, capture_output=True, text=True, timeout=900,
                          check=False)


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
    assert set(by_id) == {"aider-review", "aider-explain", "aider-commit-msg"}
    review = by_id["aider-review"]
    assert review["entry"].split()[0] == "aider-review"
    assert review["stages"] == ["pre-commit", "manual"]
    assert review["require_serial"] is True
    assert by_id["aider-explain"]["stages"] == ["manual"]
    assert by_id["aider-commit-msg"]["stages"] == ["prepare-commit-msg"]
    assert by_id["aider-commit-msg"]["entry"] == "aider-review commit-msg"
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'aider-review = "aider_hooks.cli.main:main"' in pyproject
    readme = (ROOT / "README.md").read_text()
    for hook_id in by_id:
        assert f"id: {hook_id}" in readme
