"""model/child_backend.py: a large run's requests, sent from a child process, get the answers,
errors, counts and reports the parent would get; any trouble with the child costs nothing
but its speed.

The real child interpreter and openai SDK against the fake model server; the installed
command in real git repositories.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from aider_hooks.diff.source import LoadedDiff
from aider_hooks.errors import ModelAuthError, ModelError, ModelRequestError, ModelUnavailable
from aider_hooks.model import child_backend
from aider_hooks.model.backend import Deadline, open_backend
from aider_hooks.model.child_backend import (
    ENV_VAR,
    ChildBackend,
    SendingChild,
    start_for,
    wanted,
)
from aider_hooks.settings import Settings
from testing.cli import EXE, TEST_KEY, model_env, run_cli
from testing.fake_model_server import FakeModelServer
from testing.processes import (
    HAS_PROC,
    children_running,
    ctrl_c_while_a_child_runs,
    process_state,
)
from testing.repos import git

MESSAGES = [{"role": "system", "content": "You review code."},
            {"role": "user", "content": "### File: app.py\n@@ 1-1 @@\n+x = 1  # BUG\n"}]
# A child that reads a little and dies without a word, one that answers a whole frame of
# garbage and then neither reads nor exits, and one that cannot start at all.
DIES = (sys.executable, "-c", "import sys; sys.stdin.buffer.read(64)")
GARBLES_AND_STAYS = (sys.executable, "-c", "import sys, time; "
                     "sys.stdout.buffer.write(b'\\0' * 7 + b'\\x04junk'); sys.stdout.flush(); "
                     "time.sleep(120)")
NO_SUCH_PYTHON = ("/nonexistent/bin/python3",)


def _settings(server: FakeModelServer, **changes: object) -> Settings:
    return replace(Settings(base_url=server.base_url, api_key=TEST_KEY, max_attempts=1),
                   **changes)  # type: ignore[arg-type]


def _through_child(server: FakeModelServer, command: tuple[str, ...] | None = None,
                   ) -> tuple[SendingChild, ChildBackend]:
    settings = _settings(server)
    child = SendingChild(concurrency=2, command=command)
    return child, ChildBackend(child, "main", settings, Deadline(60), open_backend)


def test_an_answer_through_the_child_is_the_answer_sent_from_here(
        model_server: FakeModelServer) -> None:
    local = open_backend(_settings(model_server), Deadline(60))
    child, backend = _through_child(model_server)
    try:
        here = local.complete(MESSAGES)
        there = backend.complete(MESSAGES)
        children = children_running(os.getpid(), "child_backend") if HAS_PROC else [0]
    finally:
        child.close()
        local.close()

    assert (there.text, there.prompt_tokens, there.completion_tokens) == (
        here.text, here.prompt_tokens, here.completion_tokens)
    assert "Bug marker found" in there.text
    assert backend.requests == 1  # counted by the child, reported here
    assert len(children) == 1  # it was the child that asked
    assert len(model_server.requests) == 2


@pytest.mark.parametrize(("status", "error_type"), [
    (401, ModelAuthError), (400, ModelRequestError), (404, ModelError)])
def test_the_links_error_comes_back_as_it_would_be_raised_here(
        model_server: FakeModelServer, status: int, error_type: type[ModelError]) -> None:
    local = open_backend(_settings(model_server), Deadline(60))
    model_server.script = [status]
    with pytest.raises(error_type) as here:
        local.complete(MESSAGES)
    local.close()
    child, backend = _through_child(model_server)
    model_server.script = [status]
    try:
        with pytest.raises(error_type) as there:
            backend.complete(MESSAGES)
    finally:
        child.close()

    assert type(there.value) is type(here.value)
    assert str(there.value) == str(here.value)
    assert TEST_KEY not in str(there.value)  # a 401 echoes the token; the message never does
    assert backend.requests == 1


@pytest.mark.parametrize("command", [DIES, GARBLES_AND_STAYS, NO_SUCH_PYTHON],
                         ids=["dies", "garbles-and-stays", "cannot-start"])
def test_a_child_in_trouble_costs_no_answer(model_server: FakeModelServer,
                                            command: tuple[str, ...]) -> None:
    child, backend = _through_child(model_server, command)
    answers: list[str] = []

    def ask_twice() -> None:
        answers.extend(backend.complete(MESSAGES).text for _ in range(2))

    asker = threading.Thread(target=ask_twice, daemon=True)
    asker.start()
    asker.join(timeout=30)
    child.close()

    assert not asker.is_alive(), "a request waited for a child that will never answer"
    assert len(answers) == 2 and all("Bug marker found" in text for text in answers)
    assert backend.requests == 2  # sent from here, by the link's own backend
    assert len(model_server.requests) == 2  # each request sent once


@pytest.mark.parametrize("command", [None, DIES], ids=["child", "child-dies"])
def test_requests_from_many_threads_each_get_their_own_answer(
        model_server: FakeModelServer, command: tuple[str, ...] | None) -> None:
    model_server.latency = 0.05
    child, backend = _through_child(model_server, command)
    marked = {n: [MESSAGES[0], {"role": "user", "content": f"### File: f{n}.py\n@@ 1-1 @@\n"
                                f"+value = {n}  # BUG\n"}] for n in range(12)}
    answers: dict[int, str] = {}

    def ask(n: int) -> None:
        answers[n] = backend.complete(marked[n]).text

    threads = [threading.Thread(target=ask, args=(n,)) for n in marked]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    child.close()

    assert sorted(answers) == sorted(marked)
    for n, text in answers.items():
        assert json.loads(text)["findings"][0]["code"] == f"value = {n}  # BUG"
    assert backend.requests == 12
    # The child's concurrency, not the threads': also when this process sends instead.
    assert model_server.peak_in_flight == 2


def test_requests_waiting_when_the_run_ends_the_child_fail_and_are_not_sent_again(
        model_server: FakeModelServer) -> None:
    model_server.latency = 30  # answers that never come in time
    child, backend = _through_child(model_server)
    failures: list[BaseException] = []

    def ask() -> None:
        try:
            backend.complete(MESSAGES)
        except BaseException as err:  # noqa: BLE001 - the test looks at it
            failures.append(err)

    askers = [threading.Thread(target=ask) for _ in range(2)]
    for asker in askers:
        asker.start()
    deadline = time.monotonic() + 20
    while model_server.in_flight < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert model_server.in_flight == 2
    child.close()  # as when the run is abandoned
    for asker in askers:
        asker.join(timeout=10)

    assert not any(asker.is_alive() for asker in askers)
    assert len(failures) == 2 and all(isinstance(f, ModelUnavailable) for f in failures)
    assert len(model_server.requests) == 2  # none sent again from this process


def test_a_deadline_that_passed_is_said_alike_through_the_child(
        model_server: FakeModelServer) -> None:
    settings = _settings(model_server)
    passed = Deadline(2.0, remaining=0.0)  # a 2 s allowance, used up
    local = open_backend(settings, passed)
    with pytest.raises(ModelError) as here:
        local.complete(MESSAGES)
    child = SendingChild(concurrency=2)
    backend = ChildBackend(child, "main", settings, passed, open_backend)
    try:
        with pytest.raises(ModelError) as there:
            backend.complete(MESSAGES)
    finally:
        child.close()

    assert "2 s" in str(here.value)
    assert (type(there.value), str(there.value)) == (type(here.value), str(here.value))
    assert model_server.requests == []


ORPHAN_PARENT = """
import sys, threading, time
from aider_hooks.model.backend import Deadline, open_backend
from aider_hooks.model.child_backend import ChildBackend, SendingChild
from aider_hooks.settings import Settings
settings = Settings(base_url=sys.argv[1], api_key="sk-test", max_attempts=1)
child = SendingChild(concurrency=2)
backend = ChildBackend(child, "main", settings, Deadline(600), open_backend)
for _ in range(4):
    threading.Thread(target=backend.complete, args=([{"role": "user", "content": "x"}],),
                     daemon=True).start()
while child._child is None:
    time.sleep(0.01)
print(child._child.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.skipif(not HAS_PROC, reason="watches the child in /proc")
def test_a_child_whose_parent_was_killed_leaves_at_once(model_server: FakeModelServer) -> None:
    model_server.latency = 30
    parent = subprocess.Popen([sys.executable, "-c", ORPHAN_PARENT, model_server.base_url],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parents[1])
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        deadline = time.monotonic() + 20
        while model_server.in_flight < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert model_server.in_flight == 2  # two in flight, two more waiting in the child
    finally:
        parent.kill()  # no cleanup runs: the child only sees its input end
        parent.wait()
    deadline = time.monotonic() + 10
    while process_state(pid) not in (None, "Z") and time.monotonic() < deadline:
        time.sleep(0.01)

    assert process_state(pid) in (None, "Z")
    assert len(model_server.requests) == 2  # the waiting ones were never sent


@pytest.mark.parametrize(("value", "files", "expected"), [
    ("", child_backend.MIN_FILES - 1, False), ("", child_backend.MIN_FILES, True),
    ("on", 1, True), ("1", 1, True), ("off", 10_000, False), ("0", 10_000, False)])
def test_the_environment_turns_the_child_on_or_off(
        monkeypatch: pytest.MonkeyPatch, value: str, files: int, expected: bool) -> None:
    monkeypatch.setenv(ENV_VAR, value)

    assert wanted(files) is expected


@pytest.mark.parametrize("change", [
    {"dry_run": True}, {"offline": True}, {"base_url": "", "api_key": ""}, "streams"])
def test_a_run_that_sends_nothing_or_streams_starts_no_child(
        monkeypatch: pytest.MonkeyPatch, change: dict[str, object] | str) -> None:
    monkeypatch.setenv(ENV_VAR, "on")
    settings = Settings(base_url="http://127.0.0.1:9/v1", api_key=TEST_KEY)
    if isinstance(change, dict):
        settings = replace(settings, **change)  # type: ignore[arg-type]
    diff = LoadedDiff("diff --git a/x.py b/x.py\n", None, lambda _: None, "test")

    assert start_for(diff, settings, streams=change == "streams") is None


def _diff_of(files: int) -> bytes:
    return b"".join(b"diff --git a/f%d.py b/f%d.py\n--- a/f%d.py\n+++ b/f%d.py\n"
                    b"@@ -1 +1 @@\n-x = 0\n+x = 1\n" % (n, n, n, n) for n in range(files))


def _loaded(data: bytes) -> LoadedDiff:
    return LoadedDiff(data.decode(), None, lambda _: None, "test", from_git=True)


@pytest.mark.skipif(not HAS_PROC, reason="finds the child in /proc")
def test_the_child_starts_as_git_writes_the_file_that_makes_the_diff_large(
        model_server: FakeModelServer) -> None:
    data = _diff_of(child_backend.MIN_FILES)
    last_header = data.rindex(b"diff --git ")
    # Pieces as a pipe delivers them: the last header is split between two of them.
    cut = last_header + 5
    pieces = [data[i:i + 997] for i in range(0, cut - cut % 997, 997)]
    pieces += [data[cut - cut % 997:cut], data[cut:]]
    early = child_backend.EarlyStart()
    try:
        for piece in pieces[:-1]:
            early.watch(piece)
        assert early.child is None  # 99 files and a half: not yet
        early.watch(pieces[-1])
        assert early.child is not None
        children = children_running(os.getpid(), "child_backend")
        assert len(children) == 1

        sending = early.claim(_loaded(data), _settings(model_server), streams=False)
        assert sending is not None
        backend = ChildBackend(sending, "main", _settings(model_server), Deadline(60),
                               open_backend)
        assert "Bug marker found" in backend.complete(MESSAGES).text
        assert backend.requests == 1 and len(model_server.requests) == 1
        sending.close()
        assert process_state(children[0]) is None  # killed and reaped
    finally:
        early.claim_none()


@pytest.mark.skipif(not HAS_PROC, reason="finds the child in /proc")
@pytest.mark.parametrize("change", [{"dry_run": True}, {"base_url": "", "api_key": ""},
                                    "streams"])
def test_a_child_started_early_for_a_run_that_sends_nothing_is_ended(
        model_server: FakeModelServer, change: dict[str, object] | str) -> None:
    data = _diff_of(child_backend.MIN_FILES)
    settings = _settings(model_server, **change) if isinstance(change, dict) else \
        _settings(model_server)
    early = child_backend.EarlyStart()
    early.watch(data)
    children = children_running(os.getpid(), "child_backend")

    claimed = early.claim(_loaded(data), settings, streams=change == "streams")

    assert claimed is None and len(children) == 1
    assert process_state(children[0]) is None


def test_a_small_diff_starts_no_child(model_server: FakeModelServer) -> None:
    data = _diff_of(child_backend.MIN_FILES - 1)
    early = child_backend.EarlyStart()
    early.watch(data)

    assert early.child is None
    assert early.claim(_loaded(data), _settings(model_server), streams=False) is None


# The installed command --------------------------------------------------------------------


@pytest.fixture
def repo(git_repo: Path) -> Path:
    """Eight files, each with a planted bug; a batch budget that makes each its own request."""
    (git_repo / "pyproject.toml").write_text("[tool.aider-review]\nbatch-tokens = 100\n")
    git(git_repo, "add", "pyproject.toml")
    git(git_repo, "commit", "-qm", "base")
    for n in range(8):
        (git_repo / f"mod{n}.py").write_text(f"def f{n}():\n    return {n}  # BUG\n")
    git(git_repo, "add", "-A")
    return git_repo


def _review(repo: Path, server: FakeModelServer, cache: Path, choice: str,
            *args: str) -> tuple[int, dict[str, object], str]:
    env = model_env(server, cache, **{ENV_VAR: choice})
    result = run_cli("--format", "json", "--concurrency", "2", *args, cwd=repo, env=env)
    return result.returncode, json.loads(result.stdout or "{}"), result.stderr


def test_a_review_through_the_child_reports_what_it_reports_without(
        repo: Path, tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.latency = 0.05
    code_on, report_on, err_on = _review(repo, model_server, tmp_path / "on.sqlite3", "on")
    peak_on = model_server.peak_in_flight
    code_off, report_off, _ = _review(repo, model_server, tmp_path / "off.sqlite3", "off")

    assert code_on == code_off == 1  # the planted bugs fail the commit
    assert report_on["findings"] == report_off["findings"]
    assert len(report_on["findings"]) == 8  # type: ignore[arg-type]
    stats_on, stats_off = report_on["stats"], report_off["stats"]
    assert isinstance(stats_on, dict) and isinstance(stats_off, dict)
    for name in ("requests", "reviewed", "failed", "prompt_tokens", "completion_tokens"):
        assert stats_on[name] == stats_off[name], name
    assert stats_on["requests"] >= 4  # more than --concurrency: some wait in the child
    assert peak_on == 2  # --concurrency holds with the child sending
    assert "Traceback" not in err_on


def test_an_unreachable_model_is_reported_alike_through_the_child(
        repo: Path, tmp_path: Path) -> None:
    with FakeModelServer() as server:
        gone = server.base_url  # a port nobody listens on once the server stops
    results = {}
    for choice in ("on", "off"):
        env = {"OPENAI_BASE_URL": gone, "OPENAI_API_KEY": TEST_KEY, ENV_VAR: choice,
               "AIDER_REVIEW_CACHE": str(tmp_path / f"{choice}.sqlite3")}
        results[choice] = [run_cli(*strict, cwd=repo, env=env) for strict in ((), ("--strict",))]

    for relaxed, strict in results.values():
        assert relaxed.returncode == 0 and strict.returncode == 3
    assert [r.stderr for r in results["on"]] == [r.stderr for r in results["off"]]
    assert "cannot connect to the model endpoint" in results["on"][0].stderr
    assert TEST_KEY not in results["on"][0].stderr + results["on"][1].stderr


@pytest.mark.skipif(not HAS_PROC, reason="finds the child in /proc")
def test_ctrl_c_with_requests_in_the_child_leaves_no_child_behind(
        repo: Path, tmp_path: Path, model_server: FakeModelServer) -> None:
    model_server.latency = 30  # answers that never come in time
    env = {**os.environ, **model_env(model_server, tmp_path / "cache.sqlite3"), ENV_VAR: "on"}
    run = ctrl_c_while_a_child_runs([str(EXE)], cwd=repo, env=env, module="child_backend",
                                    ready=lambda: model_server.in_flight > 0)

    assert run.returncode == 130
    assert "interrupted" in run.stderr and "Traceback" not in run.stderr
    assert [process_state(pid) for pid in run.children] == [None]  # killed and reaped


@pytest.mark.skipif(not HAS_PROC, reason="finds the child in /proc")
def test_a_review_of_a_hundred_files_sends_from_a_child_by_itself(
        git_repo: Path, tmp_path: Path, model_server: FakeModelServer) -> None:
    for n in range(child_backend.MIN_FILES):
        (git_repo / f"mod{n}.py").write_text(f"value_{n} = {n}  # BUG\n")
    git(git_repo, "add", "-A")
    model_server.latency = 0.2
    env = {**os.environ, **model_env(model_server, tmp_path / "cache.sqlite3")}
    process = subprocess.Popen([str(EXE), "--format", "json"], cwd=git_repo, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    seen: list[int] = []
    while process.poll() is None and not seen:
        seen = children_running(process.pid, "child_backend")
        time.sleep(0.01)
    out, err = process.communicate(timeout=60)

    assert seen, "no child sent the requests"
    assert process.returncode == 1 and "Traceback" not in err
    report = json.loads(out)
    assert len(report["findings"]) == child_backend.MIN_FILES
    assert report["stats"]["reviewed"] == child_backend.MIN_FILES
