"""Remembered review runs (cli/run_memo.py) through the installed command: a repeat of a fully
cached review prints the same report without running it again; any changed input, a failed
or unavailable model, ``--no-cache`` and ``cache clear`` make the next run a full one."""
from __future__ import annotations

import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from aider_hooks.finding import Finding
from aider_hooks.model.cache import CachedAnswer, ResponseCache
from aider_hooks.report import FailedHunk, LinkUsage, Report
from testing.cli import model_env, run_cli
from testing.fake_model_server import FakeModelServer, closed_port_url
from testing.repos import git, stage

REPLAYED = "a remembered run, replayed"


@pytest.fixture
def repo(git_repo: Path) -> Path:
    stage(git_repo, "app.py", "value = 1\n")
    git(git_repo, "commit", "-qm", "base")
    stage(git_repo, "app.py", "value = compute()  # BUG\nother = eval(text)\n")
    stage(git_repo, "notes.py", "# TODO: write this\n")
    (git_repo / ".aider-review.toml").write_text("[tool.aider-review]\nmax-attempts = 1\n")
    return git_repo


class Runner:
    def __init__(self, repo: Path, server: FakeModelServer, cache: Path) -> None:
        self.repo, self.server, self.cache = repo, server, cache
        self.env = model_env(server, cache)

    def __call__(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        result = run_cli("-v", *args, cwd=self.repo, env={**self.env, **env})
        assert "Traceback" not in result.stderr
        return result

    def remembered(self) -> int:
        with sqlite3.connect(self.cache) as conn:
            return int(conn.execute("SELECT count(*) FROM run_reports").fetchone()[0])


@pytest.fixture
def run(repo: Path, model_server: FakeModelServer, tmp_path: Path) -> Runner:
    return Runner(repo, model_server, tmp_path / "cache.sqlite3")


def _untimed(stderr: str) -> str:
    return re.sub(r"; [0-9.]+ s$", "", stderr.strip(), flags=re.M)


def _without_elapsed(stdout: str) -> dict[str, object]:
    report = json.loads(stdout)
    del report["stats"]["elapsed_s"]
    return dict(report)


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_a_repeat_of_a_fully_cached_run_prints_the_same_report_without_running(
        run: Runner, fmt: str) -> None:
    first = run("--format", fmt)
    asked = len(run.server.requests)
    assert asked and first.returncode == 1 and run.remembered() == 0  # the model was asked
    second = run("--format", fmt)
    assert REPLAYED not in second.stderr and run.remembered() == 1
    third = run("--format", fmt)
    assert REPLAYED in third.stderr
    assert len(run.server.requests) == asked
    assert third.returncode == second.returncode == 1
    if fmt == "json":
        assert _without_elapsed(third.stdout) == _without_elapsed(second.stdout)
        assert json.loads(third.stdout)["stats"]["cached"] == 2
    else:
        assert third.stdout == second.stdout and "eval on input" in third.stdout
    # The -v line says the same, but for the time and that it was a replay.
    assert _untimed(third.stderr.replace(f"; {REPLAYED}", "")) == _untimed(second.stderr)


def test_a_replay_writes_the_last_findings_that_feedback_reads(run: Runner) -> None:
    run(), run()
    last = run.repo / ".git" / "aider-review" / "last-findings.json"
    last.unlink()
    assert REPLAYED in run().stderr
    fingerprint = json.loads(last.read_text())["findings"][0]["fingerprint"]
    marked = run_cli("feedback", fingerprint, "--wrong", cwd=run.repo, env=run.env)
    assert marked.returncode == 0, marked.stderr


def _stage_more(repo: Path) -> None:
    stage(repo, "notes.py", "# TODO: write this today\n")


def _edit_config(repo: Path) -> None:
    (repo / ".aider-review.toml").write_text("[tool.aider-review]\nmax-attempts = 1\n"
                                              "min-severity = \"warning\"\n")


def _create_agents_file(repo: Path) -> None:
    (repo / "AGENTS.md").write_text("Prefer small functions.\n")


def _create_scoped_instructions(repo: Path) -> None:
    folder = repo / ".github" / "instructions"
    folder.mkdir(parents=True)
    (folder / "py.instructions.md").write_text("---\napplyTo: \"*.py\"\n---\nNo eval.\n")


def _add_baseline(repo: Path) -> None:
    (repo / ".aider-review").mkdir()
    (repo / ".aider-review" / "baseline.json").write_text('{"version": 1, "fingerprints": []}')


@pytest.mark.parametrize("change", [_stage_more, _edit_config, _create_agents_file,
                                    _create_scoped_instructions, _add_baseline])
def test_a_changed_input_runs_the_review_again(run: Runner, change: object) -> None:
    run(), run()
    assert run.remembered() == 1
    assert callable(change)
    change(run.repo)
    assert REPLAYED not in run().stderr


@pytest.mark.parametrize("args, env", [
    (("--fail-on", "warning"), {}),
    (("--format", "json"), {}),
    ((), {"AIDER_REVIEW_MODEL": "another-model"}),
    ((), {"NO_COLOR": "1"}),
])
def test_a_changed_flag_or_model_setting_runs_the_review_again(
        run: Runner, args: tuple[str, ...], env: dict[str, str]) -> None:
    run(), run()
    assert REPLAYED not in run(*args, **env).stderr


def test_a_run_with_a_failed_hunk_is_never_remembered(run: Runner) -> None:
    run.server.script = [400]  # the request fails: its hunks are listed as failed
    failed = run("--format", "json")
    assert json.loads(failed.stdout)["stats"]["failed"] >= 1
    assert run.remembered() == 0
    assert REPLAYED not in run().stderr  # the failed hunks are asked again


def test_a_run_without_the_model_is_never_remembered(run: Runner) -> None:
    down = {"OPENAI_BASE_URL": closed_port_url()}
    for _ in range(2):
        assert REPLAYED not in run(**down).stderr
    assert run.remembered() == 0


def test_no_cache_neither_reads_nor_writes_and_cache_clear_forgets(run: Runner) -> None:
    run("--no-cache"), run("--no-cache")
    assert not run.cache.exists() or run.remembered() == 0
    run(), run()
    assert REPLAYED in run().stderr
    assert REPLAYED not in run("--no-cache").stderr
    cleared = run_cli("cache", "clear", cwd=run.repo, env=run.env)
    assert cleared.returncode == 0 and run.remembered() == 0
    assert REPLAYED not in run().stderr


def test_an_answer_leaving_the_cache_takes_every_remembered_report(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite3"

    def reports() -> int:
        with sqlite3.connect(path) as conn:
            return int(conn.execute("SELECT count(*) FROM run_reports").fetchone()[0])

    with ResponseCache(path, max_bytes=10_000) as cache:
        cache.put("a", CachedAnswer("{}"))
        cache.put_run_report("run", "{}")
        assert reports() == 1
        cache.put("b", CachedAnswer("x" * 20_000))  # over the cap: "a" is evicted
        assert reports() == 0


def test_a_report_survives_its_round_trip_and_garbage_is_refused() -> None:
    report = Report(findings=[Finding("a.py", 1, 2, "error", "bug", "m", code="x = 1",
                                      confidence=0.5).with_fingerprint()],
                    failed=[FailedHunk("b.py", 3, 4, "timeout")], notices=["note"],
                    links=[LinkUsage("fast", "m", "e", price=(1.0, 2.0), requests=2)],
                    model="fast", ai_review_skipped=None)
    report.stats.cost_usd = 0.25
    assert Report.from_state(json.loads(json.dumps(report.to_state()))) == report
    for garbage in ({}, {**report.to_state(), "extra": 1}, {**report.to_state(), "stats": []}):
        with pytest.raises(ValueError):
            Report.from_state(garbage)


# What a replay does without: the whole review machinery (aider_hooks/cli/run_memo.py).
NOT_ON_THE_REPLAY_PATH = ("unidiff", "aider_hooks.diff.parse", "aider_hooks.engine",
                          "aider_hooks.redact", "aider_hooks.checks.registry",
                          "aider_hooks.tasks.prompts", "aider_hooks.tasks.review",
                          "aider_hooks.model.retry", "aider_hooks.model.cache", "openai",
                          "subprocess", "_hashlib", "aider_hooks.model.child_backend",
                          "aider_hooks.child_process", "threading",
                          # dataclasses imports it only for a class without a docstring
                          "inspect", "ast")  # (typing: tomllib loads it for a config)


def test_a_replay_loads_none_of_the_review_machinery(run: Runner) -> None:
    from tests.test_import_cost import imported_modules

    run(), run()
    modules, replay = imported_modules("--fail-on", "never", cwd=run.repo, env=run.env)
    assert replay.returncode == 0
    # Not replayed yet: these arguments differ from the runs above (-v), so this one stores.
    modules, replay = imported_modules("--fail-on", "never", cwd=run.repo, env=run.env)
    assert replay.returncode == 0 and "eval on input" in replay.stdout
    # What Python itself loads at start-up here (an editable install's finder imports typing).
    bare = subprocess.run([sys.executable, "-X", "importtime", "-c", "pass"], text=True,
                          capture_output=True, check=True).stderr
    ours = modules - {line.rsplit("|", 1)[1].strip() for line in bare.splitlines() if "|" in line}
    assert ours.isdisjoint(NOT_ON_THE_REPLAY_PATH), sorted(ours & set(NOT_ON_THE_REPLAY_PATH))


def test_a_run_that_found_a_secret_is_never_remembered(run: Runner) -> None:
    secret = "Zq8" + "vN2kLp4Rt7Wx9Yb3Hd6Jf"  # a password literal the secret check reports
    stage(run.repo, "settings.py", f'DB_PASSWORD = "{secret}"\n')
    stage(run.repo, "broken.py", f'    if password == "{secret}":\n')  # a syntax error too
    run("--format", "json")
    second = run("--format", "json")
    categories = {f["category"] for f in json.loads(second.stdout)["findings"]}
    assert {"secret", "syntax-error"} <= categories, categories
    assert run.remembered() == 0 and REPLAYED not in run("--format", "json").stderr
    assert secret not in run.cache.read_bytes().decode("latin-1")
