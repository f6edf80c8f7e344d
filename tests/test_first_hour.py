"""A new user's first hour: each surprise met by hand, through the installed command, real git
repositories and the fake model server on 127.0.0.1."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from testing.repos import git
from testing.cli import model_env, run_cli
from testing.repos import commit as commit_file

FIFTY_LINES = "".join(f"x_{i} = {i}\n" for i in range(50))


# --- renames and binary files ------------------------------------------------------------------

def test_a_pure_rename_is_not_sent_when_its_path_is_passed(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit_file(git_repo, "a.py", FIFTY_LINES)
    git(git_repo, "mv", "a.py", "b.py")
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    # As pre-commit runs it: the new name only.
    result = run_cli("--format", "json", "b.py", cwd=git_repo, env=env)
    assert result.returncode == 0, result.stderr
    assert model_server.requests == []  # not the whole file as if it were new
    assert json.loads(result.stdout)["stats"]["hunks"] == 0


def test_a_renamed_and_edited_file_sends_only_the_edit(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit_file(git_repo, "a.py", FIFTY_LINES)
    git(git_repo, "mv", "a.py", "b.py")
    (git_repo / "b.py").write_text(FIFTY_LINES.replace("x_25 = 25", "x_25 = 26"))
    git(git_repo, "add", "b.py")
    result = run_cli("--format", "json", "b.py", cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert len(model_server.requests) == 1
    prompt = model_server.requests[0]["messages"][-1]["content"]
    assert "x_25 = 26" in prompt and "x_1 = 1\n" not in prompt and "x_49" not in prompt


def test_a_binary_file_counts_as_skipped(git_repo: Path) -> None:
    commit_file(git_repo, "a.py", "x = 1\n")
    (git_repo / "logo.png").write_bytes(b"\x89PNG\x00\x01\x02")
    git(git_repo, "add", "logo.png")
    result = run_cli("-v", "logo.png", cwd=git_repo)
    assert result.returncode == 0, result.stderr
    assert "1 skipped" in result.stderr, result.stderr


# --- a hung endpoint -------------------------------------------------------------------------

def test_an_endpoint_that_never_answers_costs_one_timeout_for_a_one_hunk_commit(
        git_repo: Path, tmp_path: Path) -> None:
    import socket

    (git_repo / ".aider-review.toml").write_text("timeout = 1.5\nmax-attempts = 4\n")
    (git_repo / "a.py").write_text("x = 1\n")
    git(git_repo, "add", "a.py")
    with socket.socket() as listener:  # takes every connection, never says a word
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        env = {"OPENAI_BASE_URL": f"http://127.0.0.1:{listener.getsockname()[1]}/v1",
               "OPENAI_API_KEY": "sk-test", "AIDER_REVIEW_CACHE": str(tmp_path / "c.sqlite3")}
        result = run_cli("--format", "json", cwd=git_repo, env=env)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)["stats"]
    # One attempt, then the breaker: not max-attempts (4) timeouts, nor 3 with their waits.
    assert stats["requests"] == 1 and stats["failed"] == 1
    assert stats["elapsed_s"] < 5.0, stats  # before: 3 timeouts and 2 retry waits, ~7.5 s
    assert "did not answer within 1.5 s" in result.stderr


# --- explain and fix when the model never saw a hunk -------------------------------------------

def _unreachable(tmp_path: Path) -> dict[str, str]:
    from testing.fake_model_server import closed_port_url

    return {"OPENAI_BASE_URL": closed_port_url(), "OPENAI_API_KEY": "sk-test",
            "AIDER_REVIEW_CACHE": str(tmp_path / "c.sqlite3")}


def test_explain_and_fix_with_an_unreachable_model_say_so_once(
        git_repo: Path, tmp_path: Path) -> None:
    commit_file(git_repo, "a.py", "x = 1\n")
    for name in ("a.py", "b.py", "c.py"):
        (git_repo / name).write_text(f"value = eval('{name}')\n")
    git(git_repo, "add", ".")
    env = _unreachable(tmp_path)
    for command in ("explain", "fix"):
        result = run_cli(command, cwd=git_repo, env=env)
        assert result.returncode == 0, result.stderr
        assert result.stdout == ""
        assert result.stderr.count("cannot connect") == 1, result.stderr  # said once
        assert result.stderr.count("failed:") == 3  # each hunk the model never saw, named
        assert "no fixes to suggest" not in result.stderr
        strict = run_cli(command, "--strict", cwd=git_repo, env=env)
        assert strict.returncode == 3, strict.stderr


def test_explain_and_fix_refuse_a_report_format(git_repo: Path, tmp_path: Path,
                                                model_server: Any) -> None:
    (git_repo / "a.py").write_text("value = eval('1')\n")
    git(git_repo, "add", "a.py")
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    for command in ("explain", "fix"):
        out = tmp_path / f"{command}.sarif"
        result = run_cli(command, "--format", "sarif", "-o", str(out), cwd=git_repo, env=env)
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.splitlines()) == 1 and "--format" in result.stderr
        assert not out.exists()  # never prose in a SARIF file
    assert model_server.requests == []  # refused before anything was sent
    # A format in the config file is meant for review: explain and fix still run.
    (git_repo / ".aider-review.toml").write_text('format = "json"\n')
    result = run_cli("explain", cwd=git_repo, env=env)
    assert result.returncode == 0, result.stderr
    assert "== a.py" in result.stdout


# --- configuration mistakes ---------------------------------------------------------------------

def test_a_base_url_that_is_not_http_is_a_one_line_configuration_error(git_repo: Path) -> None:
    (git_repo / "a.py").write_text("x = 1\n")
    git(git_repo, "add", "a.py")
    for url in ("localhost:11434/v1", "ftp://host/v1"):
        result = run_cli("--base-url", url, cwd=git_repo)
        assert result.returncode == 2, result.stdout + result.stderr
        assert result.stdout == "" and len(result.stderr.splitlines()) == 1
        assert "http(s) URL" in result.stderr


def test_negative_sizes_are_rejected(git_repo: Path) -> None:
    (git_repo / "a.py").write_text("x = 1\n")
    git(git_repo, "add", "a.py")
    for key in ("max-file-bytes", "batch-tokens", "max-tokens", "backoff-base"):
        (git_repo / ".aider-review.toml").write_text(f"{key} = -1\n")
        result = run_cli(cwd=git_repo)
        assert result.returncode == 2, (key, result.stdout + result.stderr)
        assert key in result.stderr and len(result.stderr.splitlines()) == 1


def test_an_unknown_key_suggests_the_closest_known_one(git_repo: Path) -> None:
    (git_repo / ".aider-review.toml").write_text('exclud = ["docs/**"]\n')
    (git_repo / "a.py").write_text("x = 1\n")
    git(git_repo, "add", "a.py")
    result = run_cli(cwd=git_repo)
    assert result.returncode == 2
    assert "did you mean 'exclude'?" in result.stderr


def test_a_cache_option_on_a_file_that_is_not_a_cache_leaves_its_mode(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    notes.chmod(0o644)
    (git_repo / "a.py").write_text("x = 1\n")
    git(git_repo, "add", "a.py")
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    result = run_cli("--cache", str(notes), cwd=git_repo, env=env)
    assert result.returncode == 0, result.stderr
    assert "not a cache file" in result.stderr
    assert notes.stat().st_mode & 0o777 == 0o644 and notes.read_text() == "my notes\n"


def test_cache_path_takes_a_config_file_and_help_explains_the_actions(
        git_repo: Path, tmp_path: Path) -> None:
    config = tmp_path / "ci.toml"
    config.write_text('cache-path = "answers.sqlite3"\n')
    result = run_cli("cache", "path", "--config", str(config), cwd=git_repo)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == str(tmp_path / "answers.sqlite3")
    usage = run_cli("cache", "--help", cwd=git_repo)
    for action in ("stats", "clear", "path"):
        assert f"  {action}  " in usage.stdout


# --- findings ---------------------------------------------------------------------------------

def test_a_model_finding_that_repeats_a_builtin_one_is_one_finding(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit_file(git_repo, "a.py", "def f():\n    return 1\n")

    def reviewer(body: dict[str, Any]) -> str:
        return json.dumps({"findings": [
            {"path": "a.py", "line": 2, "end_line": 2, "code": "breakpoint()",
             "severity": "warning", "category": "debugging",
             "message": "Leftover breakpoint() stops the program", "suggestion": "    pass"},
            {"path": "a.py", "line": 2, "end_line": 2, "code": "breakpoint()",
             "severity": "info", "category": "style", "message": "Another matter"}]})

    model_server.reviewer = reviewer
    (git_repo / "a.py").write_text("def f():\n    breakpoint()\n    return 1\n")
    git(git_repo, "add", "a.py")
    result = run_cli("--format", "json", cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 1, result.stderr
    findings = json.loads(result.stdout)["findings"]
    on_line = [(f["source"], f["category"], f["severity"]) for f in findings if f["line"] == 2]
    # One finding for the breakpoint (the built-in one, with the model's suggestion); the
    # model's unrelated finding on that line stays.
    assert sorted(on_line) == [("builtin", "debugger", "error"), ("model", "style", "info")]
    merged = next(f for f in findings if f["source"] == "builtin")
    assert merged["suggestion"] == "    pass"


def test_markdown_shows_suggestions(git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit_file(git_repo, "a.py", "x = 1\n")
    (git_repo / "a.py").write_text("x = eval('1')\n")
    git(git_repo, "add", "a.py")
    result = run_cli("--format", "markdown", cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert "### Suggestions (1 finding)" in result.stdout
    assert "\n    + x = ast.literal_eval('1')\n" in result.stdout


# --- what is printed ----------------------------------------------------------------------------

def test_quiet_prints_findings_only(git_repo: Path) -> None:
    commit_file(git_repo, "a.py", "x = 1\n")
    (git_repo / "a.py").write_text("x = 1\nbreakpoint()\n")
    git(git_repo, "add", "a.py")
    result = run_cli("-q", cwd=git_repo)
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "a.py:2: error: leftover debugger (breakpoint()): remove it before committing [debugger]"]
    assert result.stderr == ""
    (git_repo / "a.py").write_text("x = 2\n")
    git(git_repo, "add", "a.py")
    clean = run_cli("-q", cwd=git_repo)
    assert clean.returncode == 0 and clean.stdout == "" and clean.stderr == ""


def test_nothing_to_send_is_not_called_built_in_checks_only(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit_file(git_repo, "a.py", FIFTY_LINES)
    git(git_repo, "mv", "a.py", "b.py")  # a pure rename: nothing to send
    result = run_cli("-v", cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert "built-in checks only" not in result.stdout + result.stderr
    assert f"model gpt-4o-mini at {model_server.base_url} (nothing sent)" in result.stderr


def test_nothing_staged_with_verbose_says_so_and_how_to_review_something_else(
        git_repo: Path) -> None:
    commit_file(git_repo, "a.py", "x = 1\n")
    (git_repo / "a.py").write_text("x = 2\n")  # an unstaged edit
    quiet = run_cli(cwd=git_repo)
    assert quiet.returncode == 0 and quiet.stdout == "" and quiet.stderr == ""
    result = run_cli("-v", cwd=git_repo)
    assert result.returncode == 0 and result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "nothing staged" in result.stderr and "--worktree" in result.stderr


# --- fix --apply -----------------------------------------------------------------------------

def test_fix_apply_refused_by_unstaged_edits_names_them_and_the_way_on(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit_file(git_repo, "a.py", "x = 1\ny = 2\n")
    commit_file(git_repo, "c.py", "z = 1\n")
    (git_repo / "a.py").write_text('x = eval("1")\ny = 2\n')
    (git_repo / "c.py").write_text('z = eval("3")\n')
    git(git_repo, "add", ".")
    (git_repo / "a.py").write_text('x = eval("1")  # my unstaged edit\ny = 2\n')
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    result = run_cli("fix", "--apply", cwd=git_repo, env=env)
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert "a.py has unstaged edits" in result.stderr
    assert "aider-review fix --apply c.py" in result.stderr
    assert (git_repo / "c.py").read_text() == 'z = eval("3")\n'  # nothing was changed
    limited = run_cli("fix", "--apply", "c.py", cwd=git_repo, env=env)
    assert limited.returncode == 0, limited.stderr
    assert "literal_eval" in (git_repo / "c.py").read_text()


def test_a_failure_reason_is_written_out_once(git_repo: Path, tmp_path: Path) -> None:
    (git_repo / "big.py").write_text("".join(f"v_{i} = {i}\n" for i in range(650)))
    git(git_repo, "add", "big.py")  # one hunk, split into 4 parts of at most 200 lines
    result = run_cli("-q", cwd=git_repo, env=_unreachable(tmp_path))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 4 and all(": failed: " in line for line in lines)
    assert sum("cannot connect" in line for line in lines) == 1
    assert lines[1].endswith(": failed: as above")
