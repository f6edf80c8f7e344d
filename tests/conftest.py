"""Shared fixtures: real git repositories in temp dirs, a private HOME, the fake model server."""
from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

GIT_IDENTITY = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.com",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.com",
}

# Variables that would point the code under test at a real model or a real cache.
_LEAKY = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AIDER_REVIEW_MODEL", "AIDER_REVIEW_CACHE",
          "GITHUB_TOKEN", "GITHUB_API_URL", "GITHUB_EVENT_PATH", "GITHUB_REPOSITORY",
          "GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS", "NO_COLOR", "GIT_DIR", "GIT_WORK_TREE",
          "GIT_INDEX_FILE", "GITHUB_OUTPUT", "GITHUB_EVENT_NAME")


@pytest.fixture(autouse=True)
def isolated_environment(tmp_path_factory: pytest.TempPathFactory,
                         monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test reads or writes the real home, cache or credentials."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("PRE_COMMIT_HOME", str(home / ".cache" / "pre-commit"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    for name in _LEAKY:
        monkeypatch.delenv(name, raising=False)
    for name, value in GIT_IDENTITY.items():
        monkeypatch.setenv(name, value)
    (home / ".gitconfig").write_text("[init]\n\tdefaultBranch = main\n[commit]\n\tgpgsign = false\n")
    return home


def git(cwd: Path, *args: str, input: bytes | None = None) -> str:
    """Run git in ``cwd`` and return its stdout; fail the test loudly if git fails."""
    result = subprocess.run(["git", *args], cwd=cwd, input=input, capture_output=True, check=False)
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed: {result.stderr.decode(errors='replace')}")
    return result.stdout.decode("utf-8", errors="replace")


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty git repository (no commit yet) in a temp dir."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    return repo


@pytest.fixture
def model_server() -> Iterator["object"]:
    """A real Chat Completions server on 127.0.0.1 (see tests/fake_model_server.py)."""
    from tests.fake_model_server import FakeModelServer

    with FakeModelServer() as server:
        yield server


def commit_base_and_head(repo: Path, path: str, base_text: str, head_text: str) -> tuple[str, str]:
    """Two commits of one file, as a pull request's base and head; returns their shas."""
    (repo / path).write_text(base_text)
    git(repo, "add", path)
    git(repo, "commit", "-qm", "base")
    base = git(repo, "rev-parse", "HEAD").strip()
    (repo / path).write_text(head_text)
    git(repo, "commit", "-qam", "head")
    return base, git(repo, "rev-parse", "HEAD").strip()


def snapshot_repo(repo: Path) -> tuple[bytes, dict[str, bytes]]:
    """The index file's bytes and every work-tree file's bytes, to prove nothing changed."""
    index = (repo / ".git" / "index").read_bytes() if (repo / ".git" / "index").exists() else b""
    files = {}
    for path in sorted(repo.rglob("*")):
        if ".git" in path.relative_to(repo).parts or not path.is_file():
            continue
        files[str(path.relative_to(repo))] = path.read_bytes()
    return index, files


_ = os  # os is re-exported for tests that build environments
