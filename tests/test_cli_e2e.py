"""End to end: the installed `aider-review` command, real git repositories, a real model server."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from testing.cli import TEST_KEY, model_env, run_cli
from testing.fake_model_server import closed_port_url
from testing.repos import commit, git, snapshot_repo, stage

pytestmark = pytest.mark.slow  # the installed command, one process per check

ROOT = Path(__file__).resolve().parent.parent


# --- no model configured: built-in checks --------------------------------------------------

def test_nothing_staged_is_silent_and_succeeds(git_repo: Path) -> None:
    commit(git_repo, "a.py", "x = 1\n")
    result = run_cli(cwd=git_repo)
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr == ""


def test_conflict_marker_without_model_exits_1_and_says_how_to_configure(git_repo: Path) -> None:
    commit(git_repo, "a.py", "x = 1\n")
    stage(git_repo, "a.py", "x = 1\n<<<<<<< HEAD\ny = 2\n=======\ny = 3\n>>>>>>> other\n")
    result = run_cli(cwd=git_repo)
    assert result.returncode == 1, result.stderr
    assert "a.py:2:" in result.stdout and "error" in result.stdout
    assert "OPENAI_API_KEY" in result.stderr and "OPENAI_BASE_URL" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_example_diff_from_quick_start_shows_builtin_checks(tmp_path: Path) -> None:
    result = run_cli("--diff", str(ROOT / "examples" / "example.diff"), "--format", "json",
                     cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    found = {(f["path"], f["line"], f["category"]) for f in report["findings"]}
    assert ("app/billing.py", 7, "debugger") in found
    assert ("app/billing.py", 12, "conflict-marker") in found
    assert any(f["category"] == "secret" and f["line"] == 4 for f in report["findings"])
    assert all(f["source"] == "builtin" for f in report["findings"])
    # The secret itself is never echoed.
    assert "AKIA" not in result.stdout


def test_clean_change_without_model_exits_0(git_repo: Path) -> None:
    stage(git_repo, "ok.py", "def add(a, b):\n    return a + b\n")
    result = run_cli(cwd=git_repo)
    assert result.returncode == 0, result.stdout + result.stderr


def test_not_a_repository_is_a_one_line_error(tmp_path: Path) -> None:
    result = run_cli(cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "not a git repository" in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_config_is_a_one_line_error(git_repo: Path) -> None:
    (git_repo / "pyproject.toml").write_text('[tool.aider-review]\nconcurrency = "many"\n')
    stage(git_repo, "a.py", "x = 1\n")
    result = run_cli(cwd=git_repo)
    assert result.returncode == 2
    assert "concurrency" in result.stderr and result.stderr.count("\n") == 1
    (git_repo / "pyproject.toml").write_text('[tool.aider-review]\nno-such-key = 1\n')
    result = run_cli(cwd=git_repo)
    assert result.returncode == 2 and "no-such-key" in result.stderr


def test_unknown_revision_is_a_one_line_error(git_repo: Path) -> None:
    commit(git_repo, "a.py", "x = 1\n")
    result = run_cli("--range", "nope...HEAD", cwd=git_repo)
    assert result.returncode == 2 and "nope" in result.stderr
    assert "Traceback" not in result.stderr


def test_stdin_not_a_diff_is_rejected(tmp_path: Path) -> None:
    result = run_cli("--diff", "-", cwd=tmp_path, stdin=b"hello, this is not a diff\n")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr


# --- with a model --------------------------------------------------------------------------

def test_model_findings_land_on_exact_lines_despite_wrong_numbers(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit(git_repo, "src/app.py", "".join(f"line_{i} = {i}\n" for i in range(1, 41)))
    lines = [f"line_{i} = {i}\n" for i in range(1, 41)]
    lines[19] = "line_20 = compute()  # BUG off by one\n"
    lines[29] = "value = eval(user_input)\n"
    stage(git_repo, "src/app.py", "".join(lines))
    model_server.line_offset = 5
    model_server.hallucinate = True
    result = run_cli("--format", "json", cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    placed = {(f["path"], f["line"], f["severity"]) for f in report["findings"]}
    assert ("src/app.py", 20, "error") in placed
    assert ("src/app.py", 30, "warning") in placed
    assert report["stats"]["dropped_unanchored"] >= 1
    assert all(f["source"] == "model" for f in report["findings"])
    first_requests = len(model_server.requests)
    assert first_requests >= 1

    again = run_cli("--format", "json", cwd=git_repo,
                    env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert len(model_server.requests) == first_requests  # the rerun sent nothing
    rerun = json.loads(again.stdout)
    assert rerun["stats"]["requests"] == 0 and rerun["stats"]["cached"] >= 1
    assert rerun["findings"] == report["findings"]


def test_review_leaves_index_and_work_tree_byte_identical(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit(git_repo, "a.py", "a = 1\nb = 2\n")
    stage(git_repo, "a.py", "a = 1\nb = eval('2')  # BUG\n")
    (git_repo / "a.py").write_text("a = 1\nb = eval('2')  # BUG\nunstaged = True\n")
    before = snapshot_repo(git_repo)
    for command in (["review"], ["explain"], ["fix"]):
        run_cli(*command, cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert snapshot_repo(git_repo) == before


def test_unreachable_model_never_blocks_but_strict_exits_3(git_repo: Path, tmp_path: Path) -> None:
    stage(git_repo, "ok.py", "def add(a, b):\n    return a + b\n")
    env = {"OPENAI_BASE_URL": closed_port_url(), "OPENAI_API_KEY": "sk-unreachable-secret-123456",
           "AIDER_REVIEW_CACHE": str(tmp_path / "c.sqlite3")}
    result = run_cli(cwd=git_repo, env=env)
    assert result.returncode == 0
    assert "reach" in result.stderr.lower() or "connect" in result.stderr.lower()
    assert "sk-unreachable-secret-123456" not in result.stderr + result.stdout
    assert "Traceback" not in result.stderr
    strict = run_cli("--strict", cwd=git_repo, env=env)
    assert strict.returncode == 3


def test_wrong_key_says_so_without_echoing_it(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    stage(git_repo, "ok.py", "x = 1\n")
    model_server.script = [{"status": 401}] * 10
    env = model_env(model_server, tmp_path / "cache.sqlite3",
                    OPENAI_API_KEY="sk-wrong-key-abcdefghijklmnop")
    result = run_cli(cwd=git_repo, env=env)
    assert result.returncode == 0
    assert "OPENAI_API_KEY" in result.stderr
    assert "sk-wrong-key-abcdefghijklmnop" not in result.stderr + result.stdout


def test_explain_streams_plain_text(git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    stage(git_repo, "a.py", "def f():\n    return 1\n")
    result = run_cli("explain", cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("\n== a.py: lines 1-2 ==\nThis change")
    assert any(r["body"].get("stream") for r in model_server.requests)
    cached = run_cli("explain", cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert cached.stdout == result.stdout  # from the cache, printed the same way


def test_fix_prints_a_patch_and_apply_touches_only_the_work_tree(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit(git_repo, "calc.py", "import ast\n\n\ndef parse(text):\n    return text\n")
    stage(git_repo, "calc.py", "import ast\n\n\ndef parse(text):\n    return eval(text)\n")
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    shown = run_cli("fix", cwd=git_repo, env=env)
    assert shown.returncode == 1, shown.stderr
    assert "-    return eval(text)" in shown.stdout
    assert "+    return ast.literal_eval(text)" in shown.stdout
    index_before = (git_repo / ".git" / "index").read_bytes()
    applied = run_cli("fix", "--apply", cwd=git_repo, env=env)
    assert applied.returncode == 0, applied.stderr
    assert "ast.literal_eval(text)" in (git_repo / "calc.py").read_text()
    assert (git_repo / ".git" / "index").read_bytes() == index_before
    staged = git(git_repo, "show", ":calc.py")
    assert "return eval(text)" in staged  # the index still holds what the user staged
    assert "apply -R" in applied.stderr


@pytest.mark.parametrize("fmt", ["json", "sarif"])
def test_nothing_staged_still_gives_a_report_when_one_is_asked_for(
        git_repo: Path, tmp_path: Path, fmt: str) -> None:
    commit(git_repo, "a.py", "x = 1\n")
    shown = run_cli("--format", fmt, cwd=git_repo)
    assert shown.returncode == 0, shown.stderr
    report = json.loads(shown.stdout)
    assert (report["stats"]["hunks"] if fmt == "json" else report["runs"][0]["results"]) in (0, [])
    # A report file left by an earlier run is replaced, not left looking current.
    stale = tmp_path / "report.json"
    stale.write_text('{"findings": ["old"]}')
    assert run_cli("--format", "json", "-o", str(stale), cwd=git_repo).returncode == 0
    assert json.loads(stale.read_text())["findings"] == []
    assert run_cli(cwd=git_repo).stdout == ""  # the hook's own case still prints nothing


def test_verbose_says_where_the_review_went_and_what_it_cost(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    stage(git_repo, "a.py", "x = 1  # BUG\n")
    result = run_cli("-v", cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    line = next(l for l in result.stderr.splitlines() if "request(s)" in l)
    assert model_server.base_url in line and "1 hunk(s): 1 reviewed" in line
    assert TEST_KEY not in result.stderr


@pytest.mark.parametrize("encoding", ["latin-1", "utf-16"])
def test_a_dotenv_in_another_encoding_is_read_not_fatal(git_repo: Path, encoding: str) -> None:
    (git_repo / ".env").write_bytes("# café\nAIDER_REVIEW_MODEL=from-dotenv\n".encode(encoding))
    stage(git_repo, "a.py", "breakpoint()\n")
    result = run_cli("--format", "json", cwd=git_repo)
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert json.loads(result.stdout)["findings"][0]["category"] == "debugger"


def test_dry_run_sends_nothing_and_shows_redacted_prompt(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    stage(git_repo, "settings.py", f'GITHUB_TOKEN = "{token}"\nDEBUG = True\n')
    result = run_cli("--dry-run", cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert model_server.requests == []
    assert "tokens" in result.stdout and "[REDACTED:" in result.stdout
    assert token not in result.stdout


def test_dry_run_into_a_file_is_what_it_prints(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    # The dry run is written a request at a time: a file gets every piece, in order.
    (git_repo / ".aider-review.toml").write_text("batch-tokens = 100\n")
    for n in range(3):
        stage(git_repo, f"m{n}.py", "".join(f"value_{n}_{i} = 'café {i}'\n" for i in range(40)))
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    printed = run_cli("--dry-run", cwd=git_repo, env=env)
    written = run_cli("--dry-run", "--output", str(tmp_path / "dry.txt"), cwd=git_repo, env=env)
    assert printed.returncode == written.returncode == 0, printed.stderr + written.stderr
    assert printed.stdout.count("=== request ") >= 3 and written.stdout == ""
    assert (tmp_path / "dry.txt").read_text(encoding="utf-8") == printed.stdout
    assert model_server.requests == []


def test_secrets_never_reach_the_model(git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    token = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"
    stage(git_repo, "deploy.py", f'TOKEN = "{token}"\nprint("deploy")\n')
    run_cli(cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert model_server.requests, "the model was asked"
    sent = json.dumps([r["body"] for r in model_server.requests])
    assert token not in sent and "[REDACTED:" in sent


def test_paths_restrict_the_review(git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    stage(git_repo, "one.py", "x = 1  # BUG\n")
    stage(git_repo, "two.py", "y = 2  # BUG\n")
    result = run_cli("--format", "json", "one.py", cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    paths = {f["path"] for f in json.loads(result.stdout)["findings"]}
    assert paths == {"one.py"}


def test_a_bang_glob_in_the_config_reviews_a_vendored_fork(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    stage(git_repo, "vendor/ours/patched.py", "x = 1  # BUG\n")
    stage(git_repo, "vendor/theirs/lib.py", "y = 2  # BUG\n")
    env = model_env(model_server, tmp_path / "cache.sqlite3")

    def reviewed_paths() -> set[str]:
        result = run_cli("--format", "json", "--no-cache", cwd=git_repo, env=env)
        return {f["path"] for f in json.loads(result.stdout)["findings"]}

    assert reviewed_paths() == set()  # vendor/ is skipped by default
    (git_repo / ".aider-review.toml").write_text(
        '[tool.aider-review]\nexclude = ["!vendor/ours/"]\n')
    assert reviewed_paths() == {"vendor/ours/patched.py"}


@pytest.mark.parametrize("fmt", ["text", "json", "sarif", "github", "markdown"])
def test_every_format_renders(git_repo: Path, fmt: str) -> None:
    stage(git_repo, "a.py", "breakpoint()\n")
    result = run_cli("--format", fmt, cwd=git_repo)
    assert result.returncode == 1, result.stderr
    assert "a.py" in result.stdout


def test_every_staged_shape_gets_findings_on_exact_lines_even_with_wrong_numbers(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    """Issue 2's acceptance: every shape, numbers off by several lines, exact anchoring."""
    from testing.fake_model_server import diff_lines
    from testing.git_shapes import stage_all_shapes

    shapes = stage_all_shapes(git_repo)

    def flag_every_distinct_added_line(body: dict[str, Any]) -> str:
        seen: dict[tuple[str, str], int] = {}
        for path, line, kind, text in diff_lines(body):
            if kind == "+" and text.strip():
                seen[(path, text)] = -1 if (path, text) in seen else line
        findings = [
            {"path": path, "line": line + (5 if line % 2 else -4), "code": text,
             "severity": "warning", "category": "review", "message": f"look at {text.strip()}"}
            for (path, text), line in seen.items() if line > 0
        ]
        return json.dumps({"findings": findings})

    model_server.reviewer = flag_every_distinct_added_line
    result = run_cli("--format", "json", "--fail-on", "never", cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    placed = {(f["path"], f["line"]) for f in report["findings"] if f["source"] == "model"}

    expected = set()
    for shape in shapes.values():
        if not shape.reviewable:
            continue
        texts = [text for _, text in shape.added]
        expected |= {(shape.path, line) for line, text in shape.added
                     if text.strip() and texts.count(text) == 1}
    assert expected, "the shapes stage added lines"
    assert expected <= placed, f"missing: {sorted(expected - placed)}"
    assert placed <= expected | {(p, ln) for p, ln in placed
                                 if not any(s.path == p for s in shapes.values())}
    assert report["stats"]["failed"] == 0
    # Unreviewable shapes (deleted, binary, symlink, lock, mode-only) never reach the model.
    sent = json.dumps([r["body"] for r in model_server.requests])
    for shape in shapes.values():
        if not shape.reviewable and shape.status != "renamed":
            assert f"### File: {shape.path}\\n" not in sent


def test_cache_command_path_stats_and_clear(git_repo: Path, model_server: Any,
                                            tmp_path: Path) -> None:
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    cache_file = env["AIDER_REVIEW_CACHE"]
    shown = run_cli("cache", "path", cwd=git_repo, env=env)
    assert shown.returncode == 0 and shown.stdout.strip() == cache_file
    empty = run_cli("cache", "stats", cwd=git_repo, env=env)
    assert empty.returncode == 0 and "entries: 0" in empty.stdout

    stage(git_repo, "a.py", "x = 1  # BUG\n")
    run_cli(cwd=git_repo, env=env)
    stats = run_cli("cache", "stats", cwd=git_repo, env=env)
    assert "entries: 1" in stats.stdout and cache_file in stats.stdout
    cleared = run_cli("cache", "clear", cwd=git_repo, env=env)
    assert cleared.returncode == 0 and "removed 1" in cleared.stdout
    asked = len(model_server.requests)
    run_cli(cwd=git_repo, env=env)
    assert len(model_server.requests) == asked + 1  # after clear, the model is asked again


def test_default_cache_lives_in_the_user_cache_dir(git_repo: Path,
                                                   isolated_environment: Path) -> None:
    shown = run_cli("cache", "path", cwd=git_repo)
    assert shown.stdout.strip().startswith(str(isolated_environment / ".cache"))


def test_options_before_the_command_and_paths_that_match_nothing(git_repo: Path) -> None:
    stage(git_repo, "a.py", "breakpoint()\n")
    result = run_cli("-q", "--format", "json", "fix", cwd=git_repo)  # fix, not a file "fix"
    assert result.returncode == 2 and "`fix` needs a model" in result.stderr
    missing = run_cli("nope.py", cwd=git_repo)
    assert missing.returncode == 0
    assert "nothing to review: no change in nope.py" in missing.stderr


def test_a_fix_for_a_latin1_file_is_a_patch_git_can_apply(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    before = "import ast\n\n\ndef parse(text):\n    # caf\xe9 au lait\n    return text\n"
    commit(git_repo, "calc.py", "x = 1\n")
    (git_repo / "calc.py").write_bytes(before.encode("latin-1"))
    git(git_repo, "add", "calc.py")
    (git_repo / "calc.py").write_bytes(before.replace("return text", "return eval(text)")
                                       .encode("latin-1"))
    git(git_repo, "add", "calc.py")
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    shown = run_cli("fix", cwd=git_repo, env=env, stdin=b"", binary=True)
    assert shown.returncode == 1, shown.stderr
    assert b"caf\xe9" in shown.stdout  # the file's own byte, as context
    patch = tmp_path / "fix.patch"
    written = run_cli("fix", "-o", str(patch), cwd=git_repo, env=env)
    assert written.returncode == 1 and "Traceback" not in written.stderr, written.stderr
    for candidate in (patch.read_bytes(), shown.stdout):
        check = subprocess.run(["git", "apply", "--check", "-"], cwd=git_repo, input=candidate,
                               capture_output=True, check=False)
        assert check.returncode == 0, check.stderr


def test_the_cache_command_uses_the_file_reviews_here_use(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    (git_repo / ".aider-review.toml").write_text(
        '[tool.aider-review]\ncache-path = ".cache/review.sqlite3"\n')
    stage(git_repo, "src/a.py", "x = 1  # BUG\n")
    env = model_env(model_server, tmp_path / "unused.sqlite3")
    del env["AIDER_REVIEW_CACHE"]
    expected = git_repo / ".cache" / "review.sqlite3"
    assert run_cli(cwd=git_repo / "src", env=env).returncode == 1  # from a subdirectory
    assert expected.is_file()  # relative to the config file, not to where git ran
    shown = run_cli("cache", "path", cwd=git_repo / "src", env=env)
    assert Path(shown.stdout.strip()).resolve() == expected.resolve()
    stats = run_cli("cache", "stats", cwd=git_repo, env=env)
    assert "entries: 1" in stats.stdout
    assert run_cli("cache", "clear", cwd=git_repo, env=env).returncode == 0
    assert "entries: 0" in run_cli("cache", "stats", cwd=git_repo, env=env).stdout


def test_explain_writes_to_output_when_asked(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    stage(git_repo, "a.py", "x = 1\n")
    target = tmp_path / "explained.txt"
    result = run_cli("explain", "-o", str(target), cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and "== a.py" in target.read_text()


def test_fix_apply_handles_a_file_name_with_a_tab(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    name = "tab\there.py"
    commit(git_repo, name, "import ast\n\n\ndef parse(text):\n    return text\n")
    stage(git_repo, name, "import ast\n\n\ndef parse(text):\n    return eval(text)\n")
    applied = run_cli("fix", "--apply", cwd=git_repo,
                      env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert applied.returncode == 0, applied.stderr
    assert "ast.literal_eval(text)" in (git_repo / name).read_text()


def test_a_path_argument_with_a_backslash_is_a_file_name_on_posix(git_repo: Path) -> None:
    stage(git_repo, "back\\slash.py", "breakpoint()\n")
    result = run_cli("--format", "json", "back\\slash.py", cwd=git_repo)  # as pre-commit passes it
    assert result.returncode == 1, result.stderr
    assert json.loads(result.stdout)["findings"][0]["path"] == "back\\slash.py"


def test_output_dash_is_stdout_and_a_missing_directory_fails_before_any_request(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    stage(git_repo, "a.py", "x = 1  # BUG\n")
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    dash = run_cli("--format", "json", "-o", "-", cwd=git_repo, env=env)
    assert json.loads(dash.stdout)["findings"] and not (git_repo / "-").exists()
    sent = len(model_server.requests)
    missing = run_cli("-o", str(tmp_path / "no" / "such" / "r.txt"), "--no-cache", cwd=git_repo,
                      env=env)
    assert missing.returncode == 2 and "no such directory" in missing.stderr
    assert len(model_server.requests) == sent  # nothing was paid for
