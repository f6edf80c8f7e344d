"""The review engine in process: a real git repository with a staged change (or a diff's text),
``Settings`` as the CLI builds them, and the fake model server on 127.0.0.1.

What is checked is what a user of the engine notices: where findings land, what happens
without a model or when the model fails, the cache, progress, and that the engine itself
never prints (the CLI decides what reaches the terminal).
"""
from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from dataclasses import replace
from typing import Any

import pytest

from aider_hooks.diff.source import DiffSource, LoadedDiff, load_diff
from aider_hooks.errors import InputError
from aider_hooks.engine import NO_MODEL_NOTICE, ProgressCallback, ReviewResult, review_diff
from aider_hooks.settings import Settings, load_settings
from aider_hooks.tasks import get_task
from testing.fake_model_server import FakeModelServer, closed_port_url
from testing.repos import commit, stage

KEY = "sk-test-engine-not-a-real-key"
BASE = "".join(f"line_{i} = {i}\n" for i in range(1, 41))


def run_review(diff: LoadedDiff, settings: Settings,
               progress: ProgressCallback | None = None) -> ReviewResult:
    """The one call into the engine (a review)."""
    return review_diff(diff, settings, task=get_task("review"), progress=progress)


def review_staged(repo: Path, settings: Settings,
                  progress: ProgressCallback | None = None) -> ReviewResult:
    """Review what is staged in ``repo``, as the pre-commit hook does."""
    loaded = load_diff(DiffSource("staged"), cwd=repo)
    try:
        return run_review(loaded, settings, progress)
    finally:
        loaded.close()


def model_settings(repo: Path, base_url: str, cache: Path | None = None,
                   **flags: Any) -> Settings:
    """Settings as ``aider-review`` builds them from its flags and environment: a model at
    ``base_url``, short retry waits, one request per hunk (the smallest batch), and the cache
    in ``cache`` (none when not given)."""
    environ = {"OPENAI_BASE_URL": base_url, "OPENAI_API_KEY": KEY}
    if cache is not None:
        environ["AIDER_REVIEW_CACHE"] = str(cache)
    defaults: dict[str, Any] = {"backoff_base": 0.01, "backoff_max": 0.05, "timeout": 5.0,
                                "max_attempts": 2, "batch_tokens": 100,
                                "cache": cache is not None}
    return load_settings(repo, {**defaults, **flags}, environ=environ)


def alone(line: str) -> str:
    """``line`` with a comment long enough that its hunk is over the 100-token batch of
    ``model_settings``, so it gets a request of its own."""
    return line + "  # " + "padding " * 60


def edited(*changes: tuple[int, str]) -> str:
    """BASE with the given 1-based lines replaced."""
    lines = BASE.splitlines(keepends=True)
    for number, text in changes:
        lines[number - 1] = text + "\n"
    return "".join(lines)


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake


def test_model_findings_land_on_the_changed_lines_despite_wrong_numbers(
        git_repo: Path, server: FakeModelServer, capfd: pytest.CaptureFixture[str]) -> None:
    commit(git_repo, "src/app.py", BASE)
    stage(git_repo, "src/app.py", edited((20, "line_20 = compute()  # BUG"),
                                         (30, "value = eval(user_input)")))
    server.line_offset = 5  # the model miscounts...
    server.hallucinate = True  # ...and reports code that is not in the diff
    result = review_staged(git_repo, model_settings(git_repo, server.base_url))
    report = result.report
    placed = {(f.path, f.line, f.severity, f.source) for f in report.findings}
    assert placed == {("src/app.py", 20, "error", "model"), ("src/app.py", 30, "warning", "model")}
    assert report.stats.dropped_unanchored == report.stats.requests  # one made up per answer
    assert report.stats.reviewed == report.stats.hunks == report.stats.requests == 2
    assert report.model == "gpt-4o-mini" and report.failed == [] and not report.model_unavailable
    assert server.errors == []
    assert capfd.readouterr() == ("", "")


def test_builtin_findings_without_a_model_from_diff_text(
        tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    diff_text = ("diff --git a/app.py b/app.py\n--- a/app.py\n+++ b/app.py\n"
                 "@@ -1,2 +1,3 @@\n x = 1\n+breakpoint()\n y = 2\n")
    diff = LoadedDiff(diff_text, None, lambda path: None, "test diff")
    report = run_review(diff, load_settings(None, {}, environ={})).report
    assert [(f.path, f.line, f.category, f.source) for f in report.findings] == [
        ("app.py", 2, "debugger", "builtin")]
    assert report.model is None and report.stats.requests == 0
    assert report.notices == [NO_MODEL_NOTICE]
    assert capfd.readouterr() == ("", "")


def test_a_hunk_the_model_cannot_answer_is_listed_as_failed_and_the_others_are_reviewed(
        git_repo: Path, server: FakeModelServer, capfd: pytest.CaptureFixture[str]) -> None:
    commit(git_repo, "good.py", BASE)
    commit(git_repo, "broken.py", BASE)
    stage(git_repo, "good.py", edited((5, alone("line_5 = 0  # BUG"))))
    stage(git_repo, "broken.py", edited((7, alone("line_7 = 0  # BUG"))))
    default = server.reviewer

    def prose_for_broken(body: dict[str, Any]) -> str:
        # Prose instead of JSON, to the request and to the repair request after it.
        if any("### File: broken.py" in str(m.get("content")) for m in body["messages"]):
            return "I looked at broken.py and it seems fine to me."
        return default(body)

    server.reviewer = prose_for_broken
    report = review_staged(git_repo, model_settings(git_repo, server.base_url)).report
    assert [(f.path, f.line) for f in report.findings] == [("good.py", 5)]
    assert [(f.path, f.line, f.end_line) for f in report.failed] == [("broken.py", 4, 10)]
    assert report.failed[0].reason.startswith("invalid answer from the model")
    stats = report.stats
    assert (stats.hunks, stats.reviewed, stats.failed) == (2, 1, 1)
    assert not report.model_unavailable
    assert server.errors == []
    assert capfd.readouterr() == ("", "")


def test_an_unreachable_model_is_a_notice_and_failed_hunks_not_an_exception(
        git_repo: Path, capfd: pytest.CaptureFixture[str]) -> None:
    commit(git_repo, "app.py", BASE)
    stage(git_repo, "app.py", edited((12, "breakpoint()")))
    report = review_staged(git_repo, model_settings(git_repo, closed_port_url())).report
    assert report.model_unavailable
    assert [(f.path, f.line, f.end_line) for f in report.failed] == [("app.py", 9, 15)]
    assert report.stats.failed == 1 and report.stats.reviewed == 0
    notice = " ".join(report.notices).lower()
    assert "reach" in notice or "connect" in notice, report.notices
    assert KEY not in " ".join(report.notices) + report.failed[0].reason
    # The built-in checks do not need the model.
    assert [(f.line, f.source) for f in report.findings] == [(12, "builtin")]
    assert capfd.readouterr() == ("", "")


def test_a_second_review_of_the_same_change_is_answered_from_the_cache(
        git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    commit(git_repo, "a.py", BASE)
    commit(git_repo, "b.py", BASE)
    stage(git_repo, "a.py", edited((3, alone("line_3 = 0  # BUG"))))
    stage(git_repo, "b.py", edited((33, alone("x = eval(s)"))))
    settings = model_settings(git_repo, server.base_url, cache=tmp_path / "cache.sqlite3")
    first = review_staged(git_repo, settings).report
    assert first.stats.cached == 0 and first.stats.requests == 2
    sent = len(server.requests)

    second = review_staged(git_repo, settings).report
    assert len(server.requests) == sent  # nothing went to the model
    assert second.stats.requests == 0
    assert second.stats.cached == second.stats.reviewed == second.stats.hunks == 2
    assert second.findings == first.findings


def test_progress_counts_answered_requests_up_to_the_total(
        git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    names = ("a.py", "b.py", "c.py")
    for name in names:
        commit(git_repo, name, BASE)
    for name in names:
        stage(git_repo, name, edited((20, alone("line_20 = 0  # BUG"))))
    settings = model_settings(git_repo, server.base_url, cache=tmp_path / "cache.sqlite3")
    calls: list[tuple[int, int]] = []
    review_staged(git_repo, settings, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]

    cached_calls: list[tuple[int, int]] = []
    review_staged(git_repo, settings,
                  progress=lambda done, total: cached_calls.append((done, total)))
    assert cached_calls == [(3, 3)]  # all from the cache at once


def test_each_changed_file_is_read_once_per_run(git_repo: Path, server: FakeModelServer,
                                                tmp_path: Path) -> None:
    """The parser, the checks, the file-size limit and the screening all want the new file:
    one read each would be one `git cat-file` round trip each."""
    commit(git_repo, "a.py", BASE)
    commit(git_repo, "b.py", BASE)
    stage(git_repo, "a.py", edited((5, alone("line_5 = 0  # BUG")), (30, alone("line_30 = 3"))))
    stage(git_repo, "b.py", edited((7, alone("line_7 = 0"))))
    loaded = load_diff(DiffSource("staged"), cwd=git_repo)
    reads: list[str] = []

    def counting(path: str) -> bytes | None:
        reads.append(path)
        return loaded.read_new_file(path)

    diff = LoadedDiff(loaded.text, loaded.root, counting, loaded.label)
    try:
        report = run_review(diff, model_settings(git_repo, server.base_url,
                                                  cache=tmp_path / "c.sqlite3")).report
    finally:
        loaded.close()
    assert report.stats.hunks == 3 and report.findings
    assert sorted(reads) == ["a.py", "b.py"]


def test_the_checks_run_while_the_first_request_is_with_the_model(
        git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    """A big change does not wait for the built-in checks before the model is asked: they run
    while the first request is in flight. Here the model holds its first answer until the
    checks have read the new binary file (only the `large-file` check reads it), and that
    read waits for the model's first request: both happen only when the two overlap."""
    commit(git_repo, "a.py", BASE)
    stage(git_repo, "a.py", edited((5, alone("line_5 = 0  # BUG"))))
    stage(git_repo, "logo.bin", b"\x00\x01" * 100)
    asked, checked = threading.Event(), threading.Event()
    reviewer = server.reviewer

    def holding_the_first_answer(body: dict[str, Any]) -> str:
        asked.set()
        checked.wait(10)
        return reviewer(body)

    server.reviewer = holding_the_first_answer
    loaded = load_diff(DiffSource("staged"), cwd=git_repo)
    seen: list[tuple[str, bool]] = []

    def reading(path: str) -> bytes | None:
        if path == "logo.bin":
            seen.append(("read by the checks with the model asked", asked.wait(10)))
            checked.set()
        return loaded.read_new_file(path)

    diff = LoadedDiff(loaded.text, loaded.root, reading, loaded.label)
    try:
        report = run_review(diff, model_settings(git_repo, server.base_url)).report
    finally:
        loaded.close()
    assert seen == [("read by the checks with the model asked", True)]
    assert report.stats.reviewed == 1 and not report.failed
    assert [f.line for f in report.findings if f.source == "model"] == [5]


def test_requests_sent_while_planning_are_those_a_dry_run_shows(
        git_repo: Path, server: FakeModelServer) -> None:
    """Requests leave as they are built: the run sends exactly the requests `--dry-run`
    prints (the same hunks in the same order in the result, without the messages, which are
    not kept once sent), and every hunk is reviewed once."""
    names = [f"m{i}.py" for i in range(6)]
    for name in names:
        commit(git_repo, name, BASE)
    for number, name in enumerate(names):
        stage(git_repo, name, edited((5, alone(f"line_5 = {number}  # BUG")),
                                     (30, f"line_30 = {number}")))
    shown = review_staged(git_repo, model_settings(git_repo, server.base_url, dry_run=True))
    assert not server.requests
    switch_interval = sys.getswitchinterval()
    sent = review_staged(git_repo, model_settings(git_repo, server.base_url, concurrency=2))
    assert sys.getswitchinterval() == switch_interval  # lowered only while requests ran
    assert [r.hunks for r in sent.requests] == [r.hunks for r in shown.requests]
    assert all(r.messages == () for r in sent.requests)
    assert len(shown.requests) >= 6
    received = sorted(json.dumps(r["messages"], sort_keys=True) for r in server.requests)
    assert received == sorted(json.dumps(list(r.messages), sort_keys=True)
                              for r in shown.requests)
    assert sent.report.stats.reviewed == sent.report.stats.hunks == 12
    assert [f.path for f in sent.report.findings if f.source == "model"] == names


def test_the_first_request_leaves_before_the_whole_diff_is_parsed(
        git_repo: Path, server: FakeModelServer) -> None:
    """A staged change is parsed as its hunks are planned: the model has the first request
    before the last files are even read, and still every hunk is reviewed and checked (the
    syntax error in the last file is found)."""
    names = [f"m{i:02}.py" for i in range(24)]
    for name in names:
        commit(git_repo, name, BASE)
    for number, name in enumerate(names):
        stage(git_repo, name, edited((5, alone(f"line_5 = {number}  # BUG"))))
    stage(git_repo, names[-1], edited((5, alone("line_5 = (  # BUG"))))
    loaded = load_diff(DiffSource("staged"), cwd=git_repo)
    read: list[str] = []
    read_when_asked: list[int] = []
    reviewer = server.reviewer

    def noting(body: dict[str, Any]) -> str:
        read_when_asked.append(len(set(read)))
        return reviewer(body)

    def reading(path: str) -> bytes | None:
        read.append(path)
        return loaded.read_new_file(path)

    server.reviewer = noting
    try:
        report = run_review(replace(loaded, read_new_file=reading),
                            model_settings(git_repo, server.base_url, concurrency=1)).report
    finally:
        loaded.close()
    assert read_when_asked and read_when_asked[0] < len(names)
    assert report.stats.files == report.stats.reviewed == report.stats.hunks == len(names)
    assert [f.path for f in report.findings if f.category == "syntax-error"] == [names[-1]]


def test_a_diff_file_corrupt_part_way_sends_nothing(git_repo: Path, server: FakeModelServer,
                                                   tmp_path: Path) -> None:
    """A diff read from a file is parsed whole before anything is sent: one damaged file
    after 40 good ones (a request each; the first leaves after 16 when parsed lazily) costs
    no request (git's own
    diffs are parsed as they are sent)."""
    good = "".join(f"diff --git a/m{i}.py b/m{i}.py\n--- a/m{i}.py\n+++ b/m{i}.py\n"
                   f"@@ -1 +1 @@\n-x = {i}\n+{alone(f'x = {i + 1}  # BUG')}\n" for i in range(40))
    corrupt = "diff --git a/z.py b/z.py\n--- a/z.py\n+++ b/z.py\n@@ -1,5 +1,5 @@\n-x = 1\n"
    patch = tmp_path / "change.patch"
    patch.write_text(good + corrupt)
    loaded = load_diff(DiffSource("file", str(patch)), cwd=git_repo)
    with pytest.raises(InputError, match="truncated or corrupt"):
        run_review(loaded, model_settings(git_repo, server.base_url))
    for thread in threading.enumerate():  # a request already handed to the pool would go out
        if thread.name.startswith("aider-review_"):  # the request pool's workers
            thread.join(10)
    assert server.requests == []


def test_a_small_change_never_starts_the_checks_child_machinery(
        git_repo: Path, server: FakeModelServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """A hook run of a few files with a model keeps its checks in process: no child, no
    feeder thread, no cache look-ups made for one (those start from 100 changed files)."""
    from aider_hooks.checks import registry

    started: list[object] = []
    real = registry.early_checks
    monkeypatch.setattr(registry, "early_checks",
                        lambda *args: started.append(args) or real(*args))
    names = ("a.py", "b.py", "c.py")
    for name in names:
        commit(git_repo, name, BASE)
    for name in names:
        stage(git_repo, name, edited((5, alone("line_5 = (  # BUG"))))
    report = review_staged(git_repo, model_settings(git_repo, server.base_url)).report
    assert started == []
    assert report.stats.reviewed == 3
    assert sorted(f.path for f in report.findings if f.category == "syntax-error") == [
        "a.py", "b.py", "c.py"]
