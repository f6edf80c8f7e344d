"""Shared fixtures: real git repositories in temp dirs, a private HOME, the fake model server."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.repos import GIT_IDENTITY, git

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


@pytest.fixture
def git_repo(tmp_path: Path) -> Path:
    """An empty git repository (no commit yet) in a temp dir."""
    repo = tmp_path / "repo"
    repo.mkdir()
    git(repo, "init", "-q")
    return repo


@pytest.fixture
def model_server() -> Iterator["object"]:
    """A real Chat Completions server on 127.0.0.1 (see testing/fake_model_server.py)."""
    from testing.fake_model_server import FakeModelServer

    with FakeModelServer() as server:
        yield server


