"""Fault injection through the installed CLI: rate limits, server errors, slow answers, broken
connections and streams, unusable answers. Whatever the model server does, every hunk ends
either reviewed or listed as failed, the run's deadline holds, exit codes follow docs/cli.md
(0, 1 findings, 3 unreachable with --strict) and no traceback is printed.

Waits are made short through ``.aider-review.toml`` (backoff, timeout, deadline), so the whole
file, storms included, runs in well under a minute.
"""
from __future__ import annotations

import json
import os
import subprocess
import time
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.cli import EXE, model_env, run_cli
from testing.reliability_support import (
    FaultCountingServer,
    assert_clean_exit,
    assert_every_hunk_accounted,
    json_report,
    record_figure,
    stage_bug_files,
    write_config,
)

pytestmark = pytest.mark.slow  # the installed command per fault, with retries


@pytest.fixture
def server() -> Iterator[FaultCountingServer]:
    fake = FaultCountingServer(seed=4)
    with fake:
        yield fake
        assert fake.errors == []


@pytest.fixture
def repo(git_repo: Path) -> Path:
    """Four files, one BUG hunk each; one request per hunk, one request at a time, so a
    scripted fault lands on a known request."""
    stage_bug_files(git_repo, files=4)
    write_config(git_repo, concurrency=1, batch_tokens=100)
    return git_repo


class Run:
    def __init__(self, repo: Path, server: FaultCountingServer, tmp_path: Path,
                 *args: str) -> None:
        started = time.monotonic()
        self.result = run_cli(*args, "--format", "json", cwd=repo,
                              env=model_env(server, tmp_path / "cache.sqlite3"))
        self.seconds = time.monotonic() - started
        self.report: dict[str, Any] = json_report(self.result)
        self.stats: dict[str, Any] = self.report["stats"]


def review(repo: Path, server: FaultCountingServer, tmp_path: Path, *args: str) -> Run:
    run = Run(repo, server, tmp_path, "--no-cache", *args)
    assert_every_hunk_accounted(run.report)
    deadline = tomllib.loads((repo / ".aider-review.toml").read_text())["tool"]["aider-review"][
        "deadline"]
    assert run.stats["elapsed_s"] < deadline + 1  # the run's time budget holds, always
    return run


def bug_lines(run: Run) -> set[tuple[str, int]]:
    return {(f["path"], f["line"]) for f in run.report["findings"] if f["category"] == "bug"}


ALL_BUGS = {(f"pkg/mod_{n:03d}.py", 11) for n in range(4)}


def fault_figure(name: str, server: FaultCountingServer, run: Run) -> None:
    record_figure(name, faults=sum(server.faults.values()), requests=len(server.requests),
                  hunks=run.stats["hunks"], reviewed=run.stats["reviewed"],
                  failed=run.stats["failed"], seconds=round(run.seconds, 2))


# --- rate limits ---------------------------------------------------------------------------


def test_429_burst_honours_retry_after_and_retry_after_ms_then_reviews_everything(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.script = [{"status": 429, "retry_after": "1"},
                     {"status": 429, "retry_after_ms": 300},
                     {"status": 429, "retry_after_ms": 300}]
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 1)
    assert run.stats["reviewed"] == 4 and run.stats["failed"] == 0
    assert bug_lines(run) == ALL_BUGS
    gaps = [b - a for a, b in zip(server.arrivals, server.arrivals[1:])]
    assert gaps[0] >= 1.0  # "Retry-After: 1" (seconds)
    assert gaps[1] >= 0.3 and gaps[2] >= 0.3  # "retry-after-ms: 300"
    assert run.result.stderr == ""  # recovered: nothing to tell the user
    fault_figure("429-retry-after", server, run)


def test_429_that_never_stops_fails_every_hunk_but_never_blocks(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.fault_rates = {"429": 1.0}
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 0)
    assert run.stats["failed"] == 4 and run.stats["reviewed"] == 0
    assert {f["path"] for f in run.report["failed"]} == {p for p, _ in ALL_BUGS}
    assert "429" in run.result.stderr and len(run.result.stderr.splitlines()) == 1
    # The breaker: after three requests ran out of retries, the rest fail at once.
    assert len(server.requests) <= 3 * 4
    strict = review(repo, server, tmp_path, "--strict")
    assert_clean_exit(strict.result, 3)
    fault_figure("429-forever", server, strict)


def test_retry_after_beyond_the_deadline_is_not_waited_for(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    write_config(repo, concurrency=1, batch_tokens=100, deadline=3)
    server.fault_rates = {"429": 1.0}
    server.script = [{"status": 429, "retry_after": "120"}] * 4
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 0)
    assert run.stats["failed"] == 4
    assert run.seconds < 3 + 5  # far from the 120 s asked; the deadline is 3 s


def test_429_retry_after_as_an_http_date_in_the_past_retries_at_once(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.script = [{"status": 429, "retry_after": "Wed, 21 Oct 2015 07:28:00 GMT"}]
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 1)
    assert run.stats["reviewed"] == 4


# --- server errors ---------------------------------------------------------------------------


@pytest.mark.parametrize("status", [500, 502, 503])
def test_transient_5xx_is_retried(repo: Path, server: FaultCountingServer, tmp_path: Path,
                                  status: int) -> None:
    server.script = [status, status, status]
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 1)
    assert run.stats["reviewed"] == 4 and bug_lines(run) == ALL_BUGS
    fault_figure(f"{status}-transient", server, run)


def test_persistent_503_lists_every_hunk_as_failed_and_strict_exits_3(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.fault_rates = {"503": 1.0}
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 0)
    assert run.stats["failed"] == 4 and run.report["findings"] == []
    assert "503" in run.result.stderr and len(run.result.stderr.splitlines()) == 1
    assert_clean_exit(review(repo, server, tmp_path, "--strict").result, 3)
    fault_figure("503-persistent", server, run)


# --- slow answers and the deadline ---------------------------------------------------------


def test_an_answer_slower_than_the_timeout_is_abandoned_and_retried(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    write_config(repo, concurrency=1, batch_tokens=100, timeout=0.5)
    # The endpoint answers first, then is slow once. (Slow before it ever answered, it is
    # taken for hung at once: see test_first_hour.py, a hung endpoint costs one timeout.)
    server.script = [{"kind": "slow", "seconds": 0}, {"kind": "slow", "seconds": 20}]
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 1)
    assert run.stats["reviewed"] == 4
    assert run.seconds < 10  # did not wait for the slow answer
    fault_figure("slow-once", server, run)


def test_the_total_deadline_holds_when_every_answer_hangs(
        git_repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    hunks = stage_bug_files(git_repo, files=12)
    write_config(git_repo, concurrency=4, batch_tokens=100, timeout=30, deadline=1.5)
    server.latency = 30  # every request hangs far beyond the deadline
    run = review(git_repo, server, tmp_path)
    assert_clean_exit(run.result, 0)
    assert run.stats["failed"] == hunks
    assert "1.5 s" in run.result.stderr and "deadline" in run.result.stderr
    assert run.stats["elapsed_s"] < 1.5 + 1
    assert run.seconds < 1.5 + 5  # Python start-up and git included
    strict = review(git_repo, server, tmp_path, "--strict")
    assert_clean_exit(strict.result, 3)
    assert strict.stats["elapsed_s"] < 1.5 + 1
    fault_figure("deadline", server, strict)
    record_figure("deadline-held", deadline=1.5, elapsed=strict.stats["elapsed_s"],
                  wall=round(strict.seconds, 2), hunks=hunks, failed=strict.stats["failed"])


def test_answers_slow_on_every_try_end_at_the_deadline(
        git_repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    stage_bug_files(git_repo, files=6)
    write_config(git_repo, concurrency=2, batch_tokens=100, timeout=0.3, deadline=2,
                 max_attempts=50)
    server.fault_rates = {"slow": 1.0}  # 1 s each, past the 0.3 s timeout
    run = review(git_repo, server, tmp_path)
    assert_clean_exit(run.result, 0)
    assert run.stats["failed"] == 6
    assert run.stats["elapsed_s"] < 2 + 1


# --- broken connections --------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["reset", {"kind": "stream_cut"}, "garbage"],
                         ids=["reset-before-answer", "reset-mid-body", "html-instead-of-json"])
def test_a_broken_answer_is_retried(repo: Path, server: FaultCountingServer, tmp_path: Path,
                                    fault: Any) -> None:
    server.script = [fault, fault]
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 1)
    assert run.stats["reviewed"] == 4 and bug_lines(run) == ALL_BUGS
    fault_figure(f"broken-{json.dumps(fault)}", server, run)


def test_connections_that_always_reset_fail_every_hunk(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.fault_rates = {"reset": 1.0}
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 0)
    assert run.stats["failed"] == 4
    assert "connection" in run.result.stderr.lower()


# --- SSE streams cut before [DONE] (explain streams its answer) ------------------------------


def explain(repo: Path, server: FaultCountingServer, tmp_path: Path,
            *args: str) -> tuple[Any, float]:
    started = time.monotonic()
    result = run_cli("explain", "--no-cache", *args, cwd=repo,
                     env=model_env(server, tmp_path / "cache.sqlite3"))
    return result, time.monotonic() - started


def test_a_stream_cut_before_any_text_is_retried_invisibly(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.script = [{"kind": "stream_cut", "after": 0},
                     {"kind": "stream_cut", "after": 0, "abrupt": True}]
    result, _ = explain(repo, server, tmp_path)
    assert_clean_exit(result, 0)
    assert result.stdout.count("This change touches") == 4
    assert result.stderr == ""


@pytest.mark.parametrize("abrupt", [False, True], ids=["no-done", "socket-closed"])
def test_a_stream_cut_after_text_was_shown_is_reported_failed_not_repeated(
        repo: Path, server: FaultCountingServer, tmp_path: Path, abrupt: bool) -> None:
    # The answer had started on the terminal; retrying would print it twice. The hunk is
    # reported failed (one line on stderr) and the other hunks are explained.
    server.script = [{"kind": "stream_cut", "after": 2, "abrupt": abrupt}]
    result, _ = explain(repo, server, tmp_path)
    assert_clean_exit(result, 0)
    assert result.stdout.count("no obvious risk") == 3
    failed = [line for line in result.stderr.splitlines() if ": failed: " in line]
    assert len(failed) == 1 and "pkg/mod_000.py:" in failed[0], result.stderr
    assert "broke off" in failed[0]
    record_figure("sse-cut", faults=1, hunks=4, reviewed=3, failed=1)


def test_explain_lists_hunks_the_model_never_answered(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.fault_rates = {"503": 1.0}
    result, _ = explain(repo, server, tmp_path)
    assert_clean_exit(result, 0)
    assert sum(": failed: " in line for line in result.stderr.splitlines()) == 4
    assert result.stdout == ""  # no empty "== path: lines ==" headers for hunks never answered
    assert "(503)" in result.stderr  # each says why, not just "unreachable"
    result, _ = explain(repo, server, tmp_path, "--strict")
    assert_clean_exit(result, 3)


# --- unusable answers ------------------------------------------------------------------------


def test_invalid_json_gets_one_repair_request(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.script = ["invalid_json"]
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 1)
    assert run.stats["reviewed"] == 4 and bug_lines(run) == ALL_BUGS
    repair = server.requests[1]["messages"]
    assert repair[-2]["role"] == "assistant" and "nothing to report" in repair[-2]["content"]
    assert repair[-1]["role"] == "user" and "JSON" in repair[-1]["content"]
    assert len(server.requests) == 5  # 4 requests and 1 repair


def test_invalid_json_twice_lists_the_hunk_as_failed(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.script = ["invalid_json", "invalid_json"]
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 1)  # the three other hunks still have their BUG
    assert run.stats["failed"] == 1 and run.stats["reviewed"] == 3
    (failed,) = run.report["failed"]
    assert failed["path"] == "pkg/mod_000.py" and "invalid answer" in failed["reason"]
    assert len(server.requests) == 5  # one repair, never a second one
    strict = review(repo, server, tmp_path, "--strict")  # the model was reachable
    assert_clean_exit(strict.result, 1)
    server.script = ["invalid_json", "invalid_json"]
    text = run_cli("--no-cache", cwd=repo, env=model_env(server, tmp_path / "c.sqlite3"))
    assert any(line.startswith("pkg/mod_000.py:") and ": failed: invalid answer" in line
               for line in text.stdout.splitlines())  # the text report lists it too
    fault_figure("invalid-json-twice", server, run)


def test_findings_outside_the_diff_are_dropped_and_counted(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    def reviewer(body: dict[str, Any]) -> str:
        answer = json.loads(server.default_reviewer(body))
        path = answer["findings"][0]["path"]
        outside = [
            {"path": "not/in/the/diff.py", "line": 11, "code": "x = 1"},
            {"path": "/etc/passwd", "line": 1, "code": "root:x:0:0"},
            {"path": "../outside.py", "line": 11, "code": "value_11 = 11"},
            {"path": path, "line": 999, "code": "this text is nowhere in the hunk"},
            {"path": path, "line": 11, "code": "value_11 = 11"},  # the removed line
            {"path": path, "line": 1, "code": "value_1 = 1"},  # in the file, not in the hunk
        ]
        for item in outside:
            item.update(severity="error", category="bug", message="outside", end_line=None)
        answer["findings"].extend(outside)
        return json.dumps(answer)

    server.reviewer = reviewer
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 1)
    assert run.stats["dropped_unanchored"] == 6 * len(server.requests)
    assert bug_lines(run) == ALL_BUGS
    assert all(f["message"] != "outside" for f in run.report["findings"])
    record_figure("outside-the-diff", findings_sent=6 * len(server.requests),
                  dropped=run.stats["dropped_unanchored"], posted_outside=0)


def test_a_huge_answer_is_read_without_trouble(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.script = [{"kind": "huge", "size": 3_000_000}] * 2
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 1)
    assert run.stats["reviewed"] == 4 and bug_lines(run) == ALL_BUGS
    assert len(run.result.stdout) < 20_000  # the padding never reaches the report


def test_a_huge_unusable_answer_is_echoed_only_in_part(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.reviewer = lambda body: "no json here " * 200_000  # 2.6 MB of prose
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 0)
    assert run.stats["failed"] == 4
    repair_sizes = [len(json.dumps(r.body)) for r in server.requests[1::2]]
    assert max(repair_sizes) < 30_000


def test_thousands_of_findings_in_one_answer_are_capped(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    def reviewer(body: dict[str, Any]) -> str:
        answer = json.loads(server.default_reviewer(body))
        answer["findings"] = answer["findings"] * 5000
        return json.dumps(answer)

    server.reviewer = reviewer
    run = review(repo, server, tmp_path)
    assert_clean_exit(run.result, 1)
    assert bug_lines(run) == ALL_BUGS
    assert len(run.report["findings"]) == 4  # duplicates folded, never a flood


# --- storms ----------------------------------------------------------------------------------


def storm_repo(git_repo: Path, **settings: Any) -> int:
    hunks = stage_bug_files(git_repo, files=100, hunks_per_file=2)
    write_config(git_repo, **{"concurrency": 8, "batch_tokens": 100, "timeout": 0.4,
                              "max_attempts": 25, "deadline": 50, **settings})
    return hunks


def test_a_storm_of_429_5xx_slow_and_garbage_still_reviews_every_hunk(
        git_repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    hunks = storm_repo(git_repo)
    server.fault_rates = {"429": 0.30, "500": 0.10, "slow": 0.05, "garbage": 0.05}
    run = review(git_repo, server, tmp_path)
    assert_clean_exit(run.result, 1)
    assert run.stats["hunks"] == hunks == 200
    assert run.stats["reviewed"] == hunks and run.stats["failed"] == 0
    expected = {(f"pkg/mod_{n:03d}.py", line) for n in range(100) for line in (11, 31)}
    assert bug_lines(run) == expected
    assert sum(server.faults.values()) >= 100  # the storm happened
    assert run.seconds < 60
    record_figure("storm", faults=sum(server.faults.values()),
                  by_kind=dict(server.faults), requests=len(server.requests), hunks=hunks,
                  reviewed=run.stats["reviewed"], failed=run.stats["failed"],
                  seconds=round(run.seconds, 2))


def test_a_storm_of_every_fault_kind_accounts_for_every_hunk(
        git_repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    hunks = storm_repo(git_repo, max_attempts=8)
    server.fault_rates = {"429": 0.15, "503": 0.10, "reset": 0.05, "slow": 0.05,
                          "garbage": 0.05, "invalid_json": 0.05, "huge": 0.03,
                          "stream_cut": 0.03, "fenced": 0.05}
    run = review(git_repo, server, tmp_path)
    assert_clean_exit(run.result, 0, 1)
    assert run.stats["hunks"] == hunks
    assert run.stats["reviewed"] >= hunks * 0.9  # invalid JSON twice in a row may fail a hunk
    failed_paths = {f["path"] for f in run.report["failed"]}
    found_paths = {path for path, _ in bug_lines(run)}
    assert failed_paths | found_paths == {f"pkg/mod_{n:03d}.py" for n in range(100)}
    assert run.seconds < 60
    record_figure("storm-all-kinds", faults=sum(server.faults.values()),
                  by_kind=dict(server.faults), requests=len(server.requests), hunks=hunks,
                  reviewed=run.stats["reviewed"], failed=run.stats["failed"],
                  seconds=round(run.seconds, 2))


# --- parameters an endpoint rejects, with many requests in flight ------------------------------


@pytest.mark.parametrize("rejected", ["response_format", "max_tokens"])
def test_a_rejected_parameter_is_dropped_for_every_request_in_flight(
        git_repo: Path, server: FaultCountingServer, tmp_path: Path, rejected: str) -> None:
    stage_bug_files(git_repo, files=24)
    write_config(git_repo, concurrency=8, batch_tokens=100)
    server.latency = 0.05  # eight requests in flight when the first 400 comes back
    if rejected == "response_format":
        server.answer_json_mode_400 = True  # a local server without JSON mode
    else:
        server.script = [{"status": 400, "message": "Unsupported parameter: 'max_tokens'; use "
                          "'max_completion_tokens' instead."}] * 8
    run = review(git_repo, server, tmp_path)
    assert run.stats["reviewed"] == 24 and run.stats["failed"] == 0
    assert len(bug_lines(run)) == 24


@pytest.mark.parametrize("fault", [404, "garbage"])
def test_a_wrong_model_or_endpoint_is_unreachable_to_strict_and_said_in_one_line(
        repo: Path, server: FaultCountingServer, tmp_path: Path, fault: object) -> None:
    """A wrong model name (404) or a base URL that serves a web page is no review at all."""
    server.script = [fault] * 40
    strict = Run(repo, server, tmp_path, "--no-cache", "--strict")
    assert_clean_exit(strict.result, 3)
    assert strict.stats["reviewed"] == 0 and strict.stats["failed"] == 4
    lenient = Run(repo, server, tmp_path, "--no-cache")
    assert_clean_exit(lenient.result, 0)  # never blocks a commit without --strict
    notice = [line for line in lenient.result.stderr.splitlines() if "model endpoint" in line]
    assert len(notice) == 1, lenient.result.stderr


def test_an_endpoint_that_never_answers_costs_about_one_timeout_not_four(
        git_repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    stage_bug_files(git_repo, files=8)
    write_config(git_repo, concurrency=4, batch_tokens=100, timeout=0.5, max_attempts=4)
    server.script = [{"kind": "slow", "seconds": 5}] * 40  # takes the request, never answers
    run = review(git_repo, server, tmp_path)
    assert_clean_exit(run.result, 0)
    assert run.stats["failed"] == 8
    # The first wave times out together; nobody tries again. Four attempts of each of the 8
    # requests would be 32 requests and about 4 s.
    assert len(server.requests) <= 6
    assert run.stats["elapsed_s"] < 2.0
    assert "did not answer within 0.5 s" in run.result.stderr


def test_ctrl_c_stops_the_review_at_once_even_with_requests_in_flight(
        git_repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    import signal

    stage_bug_files(git_repo, files=8)
    write_config(git_repo, concurrency=4, batch_tokens=100, timeout=30, max_attempts=4)
    server.script = [{"kind": "slow", "seconds": 20}] * 40
    env = {**os.environ, **model_env(server, tmp_path / "cache.sqlite3")}
    process = subprocess.Popen([str(EXE), "--no-cache"], cwd=git_repo, env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 20
    while len(server.requests) < 4 and time.monotonic() < deadline:
        time.sleep(0.05)  # the requests are in flight
    interrupted = time.monotonic()
    process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130
    assert time.monotonic() - interrupted < 3.0  # not the 20 s the answers would take
    assert "interrupted" in err and "Traceback" not in err


def test_an_explanation_cut_at_max_tokens_is_shown_but_not_cached(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    server.honour_max_tokens = True
    write_config(repo, concurrency=1, batch_tokens=100, max_tokens=5)  # ~20 characters
    env = model_env(server, tmp_path / "cache.sqlite3")
    first = run_cli("explain", cwd=repo, env=env)
    assert_clean_exit(first, 0)
    assert first.stdout.count("== pkg/mod_") == 4  # the cut explanations are shown
    sent = len(server.requests)
    again = run_cli("explain", cwd=repo, env=env)
    assert len(server.requests) == sent + 4  # none came from the cache
    assert again.stdout == first.stdout


def test_a_trickling_explanation_stream_stops_at_the_deadline(
        repo: Path, server: FaultCountingServer, tmp_path: Path) -> None:
    write_config(repo, concurrency=1, batch_tokens=100, deadline=1.5, timeout=5)
    server.stream_chunk_delay = 1.0  # each chunk in time for the read timeout, the whole not
    result, seconds = explain(repo, server, tmp_path)
    assert_clean_exit(result, 0)
    assert seconds < 4.5  # one answer of ~7 chunks at 1 s each would take 7 s
    assert "deadline" in result.stderr
