"""The response cache end to end, under load and damage: several ``aider-review`` processes
writing one cache file at once (as pre-commit and parallel CI jobs do), a cache file that is
garbage or cut short, and the file's mode. tests/test_cache.py covers the same in-process."""
from __future__ import annotations

import os
import stat
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from testing.fake_model_server import FakeModelServer
from testing.cli import EXE, model_env, run_cli
from testing.reliability_support import (
    assert_clean_exit,
    json_report,
    record_figure,
    stage_bug_files,
    write_config,
)

pytestmark = pytest.mark.slow  # several installed commands at once on one cache


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer(latency=0.05) as fake:
        yield fake


def make_repo(root: Path, name: str, files: int) -> Path:
    repo = root / name
    repo.mkdir()
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    stage_bug_files(repo, files=files)
    write_config(repo, batch_tokens=100, concurrency=4)
    return repo


def test_processes_sharing_one_cache_file_never_see_it_locked(
        tmp_path: Path, server: FakeModelServer) -> None:
    cache = tmp_path / "shared-cache.sqlite3"
    repos = [make_repo(tmp_path, "alpha", 12), make_repo(tmp_path, "beta", 12)]
    env = dict(os.environ, **model_env(server, cache))
    started = time.monotonic()
    processes = [subprocess.Popen([str(EXE), "--format", "json"], cwd=repo, env=env,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for repo in repos for _ in range(2)]  # two processes per repository, at once
    outputs = [process.communicate(timeout=120) for process in processes]
    assert server.peak_in_flight > 4, "the processes did overlap"
    for process, (out, err) in zip(processes, outputs):
        assert process.returncode == 1, err
        assert "locked" not in err.lower() and "Traceback" not in err
        assert err == ""  # not even a cache warning
    reports = [json_report(subprocess.CompletedProcess([], 1, out, err)) for out, err in outputs]
    assert reports[0]["findings"] == reports[1]["findings"]
    assert reports[2]["findings"] == reports[3]["findings"]
    assert all(len(r["findings"]) == 12 for r in reports)
    # Whatever the interleaving, the file holds every answer: a rerun asks nothing.
    before = len(server.requests)
    for repo in repos:
        rerun = json_report(run_cli("--format", "json", cwd=repo, env=model_env(server, cache)))
        assert rerun["stats"]["requests"] == 0 and rerun["stats"]["cached"] == 12
    assert len(server.requests) == before
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    record_figure("cache-shared", processes=len(processes), locked=0,
                  seconds=round(time.monotonic() - started, 2))


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_cache_file_is_rebuilt_with_one_warning(
        tmp_path: Path, server: FakeModelServer, damage: str) -> None:
    repo = make_repo(tmp_path, "repo", 3)
    cache = tmp_path / "cache.sqlite3"
    env = model_env(server, cache)
    assert_clean_exit(run_cli(cwd=repo, env=env), 1)
    data = cache.read_bytes()
    cache.write_bytes({"garbage": os.urandom(8192), "truncated": data[: len(data) // 3],
                       "empty": b""}[damage])
    damaged = run_cli("--format", "json", cwd=repo, env=env)
    assert_clean_exit(damaged, 1)
    assert len(json_report(damaged)["findings"]) == 3
    warnings = [line for line in damaged.stderr.splitlines() if "cache" in line]
    assert len(warnings) <= 1 and len(damaged.stderr.splitlines()) <= 1
    again = run_cli("--format", "json", cwd=repo, env=env)
    assert again.stderr == ""
    assert json_report(again)["stats"]["cached"] == 3  # rebuilt, and in use again
    assert stat.S_IMODE(cache.stat().st_mode) == 0o600
    record_figure("cache-damaged", damage=damage, crashed=0)


@pytest.mark.parametrize("command", [(), ("cache", "stats"), ("cache", "clear")])
def test_a_file_that_is_not_a_cache_is_never_replaced(
        tmp_path: Path, server: FakeModelServer, command: tuple[str, ...]) -> None:
    """``--cache pyproject.toml`` (a slip for ``--config``) must not cost the user the file."""
    repo = make_repo(tmp_path, "repo", 2)
    precious = repo / "pyproject.toml"
    precious.write_text('[project]\nname = "mine"\n')
    result = run_cli(*command, "--cache", str(precious), cwd=repo,
                     env=model_env(server, tmp_path / "unused.sqlite3"))
    assert precious.read_text() == '[project]\nname = "mine"\n'
    assert "Traceback" not in result.stderr
    if not command:  # the review itself goes on without a cache
        assert_clean_exit(result, 1)
        assert "cannot be used" in result.stderr and "left as it is" in result.stderr
