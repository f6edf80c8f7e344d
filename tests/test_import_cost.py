"""What the hook imports: heavy libraries only on the paths that need them.

A pre-commit hook runs on every commit, so the run with nothing staged must not load the model
SDK, GitPython, the retry library or the config helpers; and a run answered entirely from the
cache must not load the model SDK or its HTTP stack either. Read from ``python -X importtime``:
which modules were imported, not how long they took (this is not a timing test; the timings
are in ``benchmarks/run.py``).
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from testing.repos import git

# Top-level packages, as they appear in the import log (GitPython's package is ``git``).
NOT_ON_THE_NO_OP_PATH = ("openai", "httpx2", "httpcore2", "git", "tenacity", "pydantic",
                         "pydantic_core", "click", "platformdirs", "dotenv")
NOT_ON_THE_CACHED_PATH = ("openai", "httpx2", "httpcore2", "tenacity", "pydantic")


def imported_modules(*args: str, cwd: Path,
                     env: dict[str, str] | None = None) -> tuple[set[str], subprocess.CompletedProcess[str]]:
    """Every module ``python -X importtime -m aider_hooks ARGS`` imported, and the run."""
    full_env = {**os.environ, **(env or {})}
    full_env.pop("PYTHONPROFILEIMPORTTIME", None)
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "aider_hooks", *args],
                         cwd=cwd, env=full_env, capture_output=True, text=True, timeout=120,
                         check=False)
    modules = set()
    for line in run.stderr.splitlines():
        if line.startswith("import time:") and "|" in line:
            modules.add(line.rsplit("|", 1)[1].strip())
    assert "aider_hooks.cli.main" in modules, run.stderr[-2000:]  # the log was read at all
    return modules, run


def packages(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


def test_nothing_staged_imports_no_heavy_library(git_repo: Path) -> None:
    (git_repo / "app.py").write_text("x = 1\n")
    git(git_repo, "add", "app.py")
    git(git_repo, "commit", "-qm", "first")
    (git_repo / "app.py").write_text("x = 2\n")  # an unstaged edit: still nothing to review

    modules, run = imported_modules(cwd=git_repo, env={"OPENAI_API_KEY": "sk-test-not-a-key"})

    assert run.returncode == 0, run.stderr[-2000:]
    assert packages(modules).isdisjoint(NOT_ON_THE_NO_OP_PATH), \
        sorted(packages(modules) & set(NOT_ON_THE_NO_OP_PATH))
    # The fast exit comes before any diff is parsed or any review is set up.
    assert {"unidiff", "sqlite3"}.isdisjoint(packages(modules))
    assert {"aider_hooks.engine", "aider_hooks.diff.parse", "aider_hooks.model.cache"}.isdisjoint(modules)
    # Plugin discovery (a scan of every installed distribution) never runs on this path.
    assert {"importlib.metadata", "aider_hooks.plugin_finder"}.isdisjoint(modules)
    # Nor does the command line, the settings, the task registry or the diff modules: the
    # answer is two git commands spawned from cli/main.py.
    assert set(NOT_ON_THE_FAST_PATH).isdisjoint(modules), \
        sorted(set(NOT_ON_THE_FAST_PATH) & modules)
    if hasattr(os, "posix_spawnp"):
        assert "subprocess" not in modules


NOT_ON_THE_FAST_PATH = ("argparse", "typing", "dataclasses", "aider_hooks.settings",
                        "aider_hooks.cli.options", "aider_hooks.cli.review", "aider_hooks.tasks",
                        "aider_hooks.diff.source", "aider_hooks.diff.git")


@pytest.mark.parametrize("args", [(), ("review",), ("review", "--staged"),
                                  ("review", "--staged", "app.py", "fix")])
def test_the_hooks_own_arguments_take_the_fast_path(git_repo: Path, args: tuple[str, ...]) -> None:
    (git_repo / "app.py").write_text("x = 1\n")
    git(git_repo, "add", "app.py")
    git(git_repo, "commit", "-qm", "first")

    modules, run = imported_modules(*args, cwd=git_repo)

    assert run.returncode == 0 and run.stdout == "", run.stderr[-2000:]
    assert "aider_hooks.tasks" not in modules and "argparse" not in modules


@pytest.mark.parametrize("args", [("--staged", "fix"), ("review", "--format", "json"),
                                  ("review", "-v"), ("explain",), ("--worktree",)])
def test_other_arguments_take_the_full_path(git_repo: Path, args: tuple[str, ...]) -> None:
    (git_repo / "app.py").write_text("x = 1\n")
    git(git_repo, "add", "app.py")
    git(git_repo, "commit", "-qm", "first")

    modules, _ = imported_modules(*args, cwd=git_repo, env={"OPENAI_API_KEY": ""})

    assert "argparse" in modules


def test_pre_commit_range_modes_take_the_full_path(git_repo: Path) -> None:
    (git_repo / "app.py").write_text("x = 1\n")
    git(git_repo, "add", "app.py")
    git(git_repo, "commit", "-qm", "first")

    modules, _ = imported_modules("review", "--staged", cwd=git_repo,
                                  env={"PRE_COMMIT_FROM_REF": "HEAD", "PRE_COMMIT_TO_REF": "HEAD"})

    assert "argparse" in modules


def test_the_fast_path_runs_git_as_the_diff_module_does() -> None:
    from aider_hooks.cli import main
    from aider_hooks.diff import git as diff_git

    from aider_hooks.diff import spawn

    assert main._FAST_GIT_OPTIONS == diff_git._GLOBAL_OPTIONS
    # One environment and one runner for both (diff/spawn.py), not two copies to keep equal.
    assert diff_git.git_env is spawn.git_env and diff_git.run_captured is spawn.run_captured


def test_a_fully_cached_review_never_loads_the_model_sdk(git_repo: Path, model_server: Any,
                                                         tmp_path: Path) -> None:
    (git_repo / "app.py").write_text("".join(f"value_{i} = {i}\n" for i in range(60)))
    git(git_repo, "add", "app.py")
    git(git_repo, "commit", "-qm", "first")
    lines = [f"value_{i} = {i}" for i in range(60)]
    for i in range(5, 60, 12):  # several hunks, one with a finding
        lines[i] = f"value_{i} = compute({i})  # TODO check" if i == 29 else f"value_{i} = {i} + 1"
    (git_repo / "app.py").write_text("\n".join(lines) + "\n")
    git(git_repo, "add", "app.py")
    env = {"OPENAI_BASE_URL": model_server.base_url, "OPENAI_API_KEY": "sk-test-not-a-key",
           "AIDER_REVIEW_CACHE": str(tmp_path / "cache.sqlite3")}
    args = ("--format", "json", "--fail-on", "never")

    first_modules, first = imported_modules(*args, cwd=git_repo, env=env)
    sent = len(model_server.requests)
    modules, run = imported_modules(*args, cwd=git_repo, env=env)

    assert first.returncode == 0 and run.returncode == 0, run.stderr[-2000:]
    assert "openai" in packages(first_modules) and sent > 0  # the first run did ask the model
    stats = json.loads(run.stdout)["stats"]
    assert stats["hunks"] == stats["cached"] == 5 and len(model_server.requests) == sent
    assert json.loads(run.stdout)["findings"], "the cached finding is still reported"
    assert packages(modules).isdisjoint(NOT_ON_THE_CACHED_PATH), \
        sorted(packages(modules) & set(NOT_ON_THE_CACHED_PATH))
