"""checks/worker.py: the built-in per-file checks in a child process give the findings the
parent would; any trouble with the child costs nothing but its speed.

Real git repositories, a real child interpreter, the real result cache, the installed
command against the fake model server.
"""
from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import IO, Any

import pytest

from aider_hooks.checks import worker
from aider_hooks.checks.registry import CheckRun, early_checks, run_checks
from aider_hooks.checks.worker import ENV_VAR, Job, WorkerPlan, worker_plan
from aider_hooks.diff.parse import parse_diff
from aider_hooks.diff.source import DiffSource, load_diff
from aider_hooks.results import ResultMemo, open_result_memo
from aider_hooks.settings import Settings
from testing.cli import EXE, model_env, run_cli
from testing.fake_model_server import FakeModelServer
from testing.processes import (
    HAS_PROC,
    ctrl_c_while_a_child_runs,
    ignores_ctrl_c,
    niceness,
    process_state,
)
from testing.repos import git

FAKE_AWS_KEY = "AKIA" + "IOSFODNN7EXAMPLE"  # AWS's documented example key id
ALWAYS = WorkerPlan(min_files=1)
# A child that reads a little and dies without a word, one that answers garbage, and one
# that cannot start at all.
DIES = WorkerPlan(min_files=1, command=(sys.executable, "-c",
                                        "import sys; sys.stdin.buffer.read(64)"))
GARBLES = WorkerPlan(min_files=1, command=(
    sys.executable, "-c", "import sys; sys.stdout.buffer.write(b'\\0' * 7 + b'\\x09junk')"))
NO_SUCH_PYTHON = WorkerPlan(min_files=1, command=("/nonexistent/bin/python3",))
# A child that answers a whole frame of garbage at once, then neither reads nor exits.
GARBLES_AND_STAYS = WorkerPlan(min_files=1, command=(
    sys.executable, "-c", "import sys, time; sys.stdout.buffer.write(b'\\0' * 7 + b'\\x04junk');"
    " sys.stdout.flush(); time.sleep(120)"))

FILES: dict[str, bytes] = {
    "broken.py": b"def f(:\n    return 1\n",
    "debug.py": b"import pdb\npdb.set_trace()\n",
    "config.py": f'AWS_ACCESS_KEY_ID = "{FAKE_AWS_KEY}"\n'.encode(),
    "merge.txt": b"<<<<<<< HEAD\nours\n=======\ntheirs\n>>>>>>> other\n",
    "big.txt": b"line of text\n" * 400,
    "blob.bin": bytes(range(256)) * 40,
    "latin1.py": "naïve = 'café'\nprint(naïve\n".encode("latin-1"),  # not UTF-8: skipped
    "declared.py": "# -*- coding: latin-1 -*-\nnaïve = 'café'\nprint(naïve\n".encode("latin-1"),
    "fine.py": b"x = 1\n",
}


@dataclass
class Checked:
    run: CheckRun
    sent: list[Job]


@pytest.fixture
def repo(git_repo: Path) -> Path:
    (git_repo / "fine.py").write_text("x = 0\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-qm", "base")
    for name, data in FILES.items():
        (git_repo / name).write_bytes(data)
    git(git_repo, "add", "-A")
    return git_repo


@pytest.fixture
def sent(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Job]]:
    """Every file sent to a child (the real one checks them), as a ``Job``."""
    jobs: list[Job] = []
    real = worker._write_frame

    def recording(pipe: IO[bytes], frame: Any) -> None:
        if frame[0] == "files":
            jobs.extend(Job(*item) for item in frame[1])
        real(pipe, frame)

    monkeypatch.setattr(worker, "_write_frame", recording)
    yield jobs


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """For each child: whether it answered to the end (not a fallback in the parent)."""
    ends: list[bool] = []
    real = worker._collect

    def recording(pipe: IO[bytes], outcome: worker.WorkerOutcome) -> bool:
        ends.append(real(pipe, outcome))
        return ends[-1]

    monkeypatch.setattr(worker, "_collect", recording)
    yield ends


def _check(repo: Path, plan: WorkerPlan | None, settings: Settings | None = None,
           memo: ResultMemo | None = None) -> CheckRun:
    settings = settings or Settings(max_file_bytes=4000)
    loaded = load_diff(DiffSource("staged"), cwd=repo)
    try:
        hunk_set = parse_diff(loaded.text, settings=settings, read_new_file=loaded.read_new_file)
        return run_checks(hunk_set, read_new_file=loaded.read_new_file, settings=settings,
                          memo=memo, worker=plan)
    finally:
        loaded.close()


def _summary(run: CheckRun) -> list[tuple[str, int, str]]:
    return [(f.path, f.line, f.category) for f in run.findings]


def test_the_child_finds_what_the_parent_finds(repo: Path, sent: list[Job],
                                               answered: list[bool]) -> None:
    in_parent = _check(repo, None)
    in_child = _check(repo, ALWAYS)

    assert len(sent) == len(FILES)  # every checked file went to the child
    assert answered == [True]  # and it answered them all
    assert in_child.findings == in_parent.findings
    assert in_child.notices == in_parent.notices == []
    assert {f.category for f in in_child.findings} >= {
        "syntax-error", "debugger", "secret", "conflict-marker", "large-file"}
    assert ("declared.py", 3, "syntax-error") in _summary(in_child)


def test_files_handed_over_early_are_checked_as_they_come(repo: Path, sent: list[Job]) -> None:
    settings = Settings(max_file_bytes=4000)
    loaded = load_diff(DiffSource("staged"), cwd=repo)
    try:
        hunk_set = parse_diff(loaded.text, settings=settings, read_new_file=loaded.read_new_file)
        early = early_checks(loaded.read_new_file, settings, None, ALWAYS)
        assert early is not None
        for file in hunk_set.files:  # one at a time, as a parser finds them
            early.add([file])
        run = run_checks(hunk_set, read_new_file=loaded.read_new_file, settings=settings,
                         early=early)
    finally:
        loaded.close()

    assert sorted(job.file.path for job in sent) == sorted(FILES)
    assert run.findings == _check(repo, None).findings
    assert ("broken.py", 1, "syntax-error") in _summary(run)


def test_with_a_warm_cache_only_the_misses_go_to_the_child(
        repo: Path, tmp_path: Path, sent: list[Job]) -> None:
    settings = Settings(max_file_bytes=4000, cache_path=str(tmp_path / "cache.sqlite3"))
    cold = _run_with_memo(repo, settings)
    assert len(sent) == len(FILES)

    sent.clear()
    warm = _run_with_memo(repo, settings)
    # All remembered but a secret's finding, which is never written to the cache file.
    assert [(job.file.path, job.checks) for job in sent] == [("config.py", ("secret",))]
    assert warm.findings == cold.findings

    (repo / "debug.py").write_bytes(b"import pdb\npdb.set_trace()\nbreakpoint()\n")
    git(repo, "add", "debug.py")
    sent.clear()
    changed = _run_with_memo(repo, settings)
    assert [job.file.path for job in sent] == ["config.py", "debug.py"]
    assert len(sent[1].checks) == len(sent[0].checks) + 4  # every check: its blob is new
    assert changed.findings == _check(repo, None, settings).findings
    assert ("debug.py", 3, "debugger") in _summary(changed)


def _run_with_memo(repo: Path, settings: Settings) -> CheckRun:
    memo = open_result_memo(settings)
    assert memo is not None
    try:
        return _check(repo, ALWAYS, settings, memo)
    finally:
        memo.close()


def test_below_the_threshold_the_parent_runs_the_checks(repo: Path, sent: list[Job]) -> None:
    run = _check(repo, WorkerPlan(min_files=len(FILES) + 1))

    assert sent == []
    assert run.findings == _check(repo, None).findings


def test_the_child_starts_once_enough_files_need_it_and_gets_them_all(
        repo: Path, sent: list[Job]) -> None:
    run = _check(repo, WorkerPlan(min_files=3))

    assert sorted(job.file.path for job in sent) == sorted(FILES)  # the held ones too
    assert run.findings == _check(repo, None).findings


@pytest.mark.parametrize("plan", [DIES, GARBLES, NO_SUCH_PYTHON],
                         ids=["dies", "garbles", "no-python"])
def test_a_child_in_trouble_costs_no_finding(repo: Path, plan: WorkerPlan,
                                             answered: list[bool]) -> None:
    run = _check(repo, plan)

    assert True not in answered  # the parent did it all

    assert run.findings == _check(repo, None).findings
    assert run.notices == []


def test_a_live_child_that_garbles_its_answers_does_not_hang_the_run(repo: Path) -> None:
    """More than a pipe's worth of files go to a child that answered garbage and reads no
    more: the run does not wait for it, and the parent finds what it always finds."""
    import threading

    for number in range(40):
        (repo / f"bulk_{number}.txt").write_text(f"row {number}\n" * 2000)  # ~20 kB each
    git(repo, "add", "-A")
    settings = Settings(max_file_bytes=4000)
    loaded = load_diff(DiffSource("staged"), cwd=repo)
    runs: list[CheckRun] = []
    try:
        hunk_set = parse_diff(loaded.text, settings=settings, read_new_file=loaded.read_new_file)
        early = early_checks(loaded.read_new_file, settings, None, GARBLES_AND_STAYS)
        assert early is not None
        early.add(hunk_set.files)
        checking = threading.Thread(target=lambda: runs.append(run_checks(
            hunk_set, read_new_file=loaded.read_new_file, settings=settings, early=early)),
            daemon=True)
        checking.start()
        checking.join(60)
    finally:
        loaded.close()
    assert runs, "the checks were still waiting for the child after 60 s"
    assert runs[0].findings == _check(repo, None).findings
    assert ("broken.py", 1, "syntax-error") in _summary(runs[0])


def test_a_file_that_cannot_be_sent_costs_no_finding(
        repo: Path, answered: list[bool], capfd: pytest.CaptureFixture[str]) -> None:
    settings = Settings(max_file_bytes=4000)
    loaded = load_diff(DiffSource("staged"), cwd=repo)
    try:
        hunk_set = parse_diff(loaded.text, settings=settings, read_new_file=loaded.read_new_file)
        file = next(f for f in hunk_set.files if f.path == "broken.py")
        # Something no pickle can carry (a parser's lazy part, say) on one hunk.
        file.hunks[0] = replace(file.hunks[0], extra={"lazy": lambda: None})
        run = run_checks(hunk_set, read_new_file=loaded.read_new_file, settings=settings,
                         worker=ALWAYS)
    finally:
        loaded.close()

    assert answered == [False]  # the child got no end and ended; the parent did the checks
    assert run.findings == _check(repo, None).findings
    assert "Traceback" not in capfd.readouterr().err


def test_a_check_that_raises_in_the_child_gives_the_notice_it_gives_in_the_parent(
        repo: Path) -> None:
    # A limit of the wrong type makes the syntax and large-file checks raise wherever they run.
    settings = replace(Settings(), max_file_bytes="4000")  # type: ignore[arg-type]

    in_parent = _check(repo, None, settings)
    in_child = _check(repo, ALWAYS, settings)

    assert in_child.notices == in_parent.notices
    assert any("syntax-error" in notice and "TypeError" in notice for notice in in_child.notices)
    assert in_child.findings == in_parent.findings


def test_the_child_gets_no_key_and_imports_this_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-not-for-the-child")
    monkeypatch.setenv("GITHUB_TOKEN", "ghp-test-not-for-the-child")
    env = worker.child_env()

    assert "OPENAI_API_KEY" not in env and "GITHUB_TOKEN" not in env
    assert env["PATH"] == os.environ["PATH"]
    assert env["PYTHONPATH"].split(os.pathsep)[0] == str(Path(worker.__file__).parents[2])


@pytest.mark.parametrize(("value", "min_files"), [
    ("", worker.MIN_FILES), ("on", 1), ("1", 1), ("off", None), ("0", None)])
def test_the_environment_turns_the_child_on_or_off(
        monkeypatch: pytest.MonkeyPatch, value: str, min_files: int | None) -> None:
    monkeypatch.setenv(ENV_VAR, value)
    plan = worker_plan()

    assert (plan.min_files if plan is not None else None) == min_files


def test_a_review_with_the_child_reports_what_it_reports_without(
        repo: Path, tmp_path: Path, model_server: FakeModelServer) -> None:
    def review(choice: str) -> tuple[int, list[dict[str, object]], str]:
        env = model_env(model_server, tmp_path / f"cache-{choice}.sqlite3",
                        **{ENV_VAR: choice})
        result = run_cli("--format", "json", "--fail-on", "error", cwd=repo, env=env)
        return result.returncode, json.loads(result.stdout)["findings"], result.stderr

    with_child = review("on")
    without = review("off")

    assert with_child[0] == without[0] == 1  # the secret and the syntax error fail the commit
    assert with_child[1] == without[1]
    assert {f["category"] for f in with_child[1] if f["source"] == "builtin"} >= {
        "syntax-error", "debugger", "secret"}
    assert "Traceback" not in with_child[2]


@pytest.mark.skipif(not HAS_PROC, reason="finds the child in /proc")
def test_ctrl_c_during_the_checks_leaves_no_child_behind(
        git_repo: Path, tmp_path: Path, model_server: FakeModelServer) -> None:
    # A file that keeps the child busy for a while; answers that never come in time.
    (git_repo / "huge.py").write_text("".join(f"value_{n} = {n}\n" for n in range(30_000)))
    git(git_repo, "add", "huge.py")
    model_server.latency = 30
    env = {**os.environ, **model_env(model_server, tmp_path / "cache.sqlite3"), ENV_VAR: "on"}
    run = ctrl_c_while_a_child_runs([str(EXE)], cwd=git_repo, env=env, module="checks.worker")

    assert run.returncode == 130
    assert "interrupted" in run.stderr and "Traceback" not in run.stderr
    assert [process_state(pid) for pid in run.children] == [None]  # killed and reaped


def test_a_run_without_a_model_keeps_the_checks_in_process(repo: Path, tmp_path: Path) -> None:
    env = {ENV_VAR: "on", "PYTHONPROFILEIMPORTTIME": "1", "OPENAI_API_KEY": "",
           "OPENAI_BASE_URL": "", "AIDER_REVIEW_CACHE": str(tmp_path / "cache.sqlite3")}
    result = run_cli("--format", "json", "--fail-on", "never", cwd=repo, env=env)

    assert result.returncode == 0
    assert "aider_hooks.checks.registry" in result.stderr  # the checks ran...
    assert "aider_hooks.checks.worker" not in result.stderr  # ...with no child to start
    assert {f["category"] for f in json.loads(result.stdout)["findings"]} >= {"syntax-error"}


@pytest.mark.skipif(not HAS_PROC, reason="reads the child's priority in /proc")
def test_the_child_runs_at_a_lower_priority_than_the_run() -> None:
    from aider_hooks.child_process import child_command, reap, start, write_frame

    if niceness(os.getpid()) >= 19:
        pytest.skip("this test runs at the lowest priority already: nothing to lower")

    child = start(child_command(worker.MODULE), worker.child_env())
    try:
        assert child.stdin is not None
        write_frame(child.stdin, ("header", {}))
        deadline = time.monotonic() + 20
        while not ignores_ctrl_c(child.pid) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ignores_ctrl_c(child.pid), "the child's main() never ran"
        # Its nice value is set right after; the requests in flight keep the parent's.
        while niceness(child.pid) == niceness(os.getpid()) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert niceness(child.pid) == min(19, niceness(os.getpid()) + worker.NICENESS)
    finally:
        reap(child, kill=True)
