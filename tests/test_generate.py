"""`aider-review generate`: the installed command, real git repositories, the fake model server."""
from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path
from typing import Any

import pytest

from testing.repos import git, snapshot_repo
from testing.cli import model_env, run_cli
from testing.fake_model_server import closed_port_url
from testing.repos import commit as commit_file

CALC = "def add(a, b):\n    return a + b\n\n\ndef mul(a, b):\n    return a * b\n"


def answer(*edits: dict[str, str], summary: str = "Add sub.") -> Any:
    text = json.dumps({"summary": summary, "edits": list(edits)})
    return lambda body: text


def sent(server: Any, number: int = 0) -> str:
    return "\n".join(m["content"] for m in server.requests[number]["messages"])


@pytest.fixture
def repo(git_repo: Path) -> Path:
    commit_file(git_repo, "calc.py", CALC)
    commit_file(git_repo, "README.md", "# calc\n")
    return git_repo


def test_exact_match_prints_one_diff_and_exits_1(repo: Path, model_server: Any,
                                                 tmp_path: Path) -> None:
    model_server.reviewer = answer({"path": "calc.py", "search": "def mul(a, b):\n",
                                    "replace": "def sub(a, b):\n    return a - b\n\n\n"
                                               "def mul(a, b):\n"})
    before = snapshot_repo(repo)
    result = run_cli("generate", "add a sub function", "calc.py", "--context", "README.md",
                     cwd=repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 1, result.stderr
    assert result.stdout.startswith("diff --git a/calc.py b/calc.py\n")
    assert "+def sub(a, b):\n+    return a - b\n" in result.stdout
    assert "generate: Add sub." in result.stderr
    assert snapshot_repo(repo) == before  # nothing written without --apply
    request = sent(model_server)
    assert "Task: add a sub function" in request
    assert "### File: calc.py (editable, 6 lines)\ndef add(a, b):" in request
    assert "### File: README.md (context, read-only, 1 lines)\n# calc" in request
    check = subprocess.run(["git", "apply", "--check", "-"], cwd=repo, input=result.stdout,
                           text=True, capture_output=True, check=False)
    assert check.returncode == 0, check.stderr
    again = run_cli("generate", "add a sub function", "calc.py", "--context", "README.md",
                    cwd=repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert again.stdout == result.stdout and len(model_server.requests) == 1  # cached


def test_whitespace_tolerant_match_keeps_the_files_indentation(
        repo: Path, model_server: Any, tmp_path: Path) -> None:
    model_server.reviewer = answer({"path": "calc.py", "search": "def add(a,  b):\n  return a + b",
                                    "replace": "def add(a, b):\n  # plus\n  return a + b"})
    result = run_cli("generate", "comment add", "calc.py", cwd=repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 1, result.stderr
    assert "+    # plus\n" in result.stdout and "-def add" not in result.stdout


@pytest.mark.parametrize("search, why", [
    ("    return a", "matches 2 places"),
    ("def div(a, b):\n    return a / b\n", "matches nowhere"),
])
def test_ambiguous_or_missing_search_is_refused_naming_file_and_line(
        repo: Path, model_server: Any, tmp_path: Path, search: str, why: str) -> None:
    model_server.reviewer = answer({"path": "calc.py", "search": search, "replace": "x = 1\n"})
    before = snapshot_repo(repo)
    result = run_cli("generate", "change it", "calc.py", cwd=repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    first = search.strip().split("\n")[0]
    assert why in result.stderr and "calc.py" in result.stderr and repr(first) in result.stderr
    assert len(model_server.requests) == 2  # one repair request, with the problem in it
    assert why in model_server.requests[1]["messages"][-1]["content"]
    assert snapshot_repo(repo) == before


def test_a_repaired_answer_is_used(repo: Path, model_server: Any, tmp_path: Path) -> None:
    answers = iter([
        json.dumps({"summary": "s", "edits": [{"path": "calc.py", "search": "nope",
                                               "replace": "x"}]}),
        json.dumps({"summary": "s", "edits": [{"path": "calc.py", "search": "a * b",
                                               "replace": "b * a"}]}),
    ])
    model_server.reviewer = lambda body: next(answers)
    result = run_cli("generate", "swap", "calc.py", cwd=repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 1 and "+    return b * a" in result.stdout


def test_new_file_apply_and_undo(repo: Path, model_server: Any, tmp_path: Path) -> None:
    model_server.reviewer = answer(
        {"path": "pkg/util.py", "search": "", "replace": "def half(x):\n    return x / 2\n"},
        {"path": "calc.py", "search": "def add(a, b):\n", "replace": "def add(a: int, b: int):\n"})
    index_before = git(repo, "ls-files", "-s")
    result = run_cli("generate", "add half", "calc.py", "--apply", cwd=repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert (repo / "pkg" / "util.py").read_text() == "def half(x):\n    return x / 2\n"
    assert (repo / "calc.py").read_text().startswith("def add(a: int, b: int):\n")
    assert git(repo, "ls-files", "-s") == index_before and git(repo, "diff", "--cached") == ""
    undo = result.stderr.split("to undo: ", 1)[1].strip()
    backups = list((repo / ".git" / "aider-review" / "backups").iterdir())
    assert len(backups) == 1 and (backups[0] / "files" / "calc.py").read_text() == CALC
    subprocess.run(shlex.split(undo), check=True, cwd=repo)
    assert (repo / "calc.py").read_text() == CALC and not (repo / "pkg" / "util.py").exists()


def test_refused_paths_write_nothing(repo: Path, model_server: Any, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (repo / "link").symlink_to(outside)
    bad = [("../escape.py", "outside the repository"), (str(tmp_path / "abs.py"), "absolute"),
           ("link/evil.py", "symlink"), ("README.md", "not named"),
           (".git/hooks/pre-commit", ".git")]
    for path, why in bad:
        model_server.reviewer = answer({"path": path, "search": "", "replace": "x = 1\n"})
        result = run_cli("generate", "write", "calc.py", "--no-cache", cwd=repo,
                         env=model_env(model_server, tmp_path / "cache.sqlite3"))
        assert result.returncode == 2, (path, result.stdout, result.stderr)
        assert why in result.stderr and result.stdout == "", (path, result.stderr)
    assert list(outside.iterdir()) == [] and not (tmp_path / "abs.py").exists()
    assert not (tmp_path / "escape.py").exists()
    assert (repo / "README.md").read_text() == "# calc\n"


def test_a_result_that_does_not_compile_is_refused(repo: Path, model_server: Any,
                                                   tmp_path: Path) -> None:
    model_server.reviewer = answer({"path": "calc.py", "search": "def mul(a, b):\n",
                                    "replace": "def mul(a, b)\n"})
    result = run_cli("generate", "break it", "calc.py", "--apply", cwd=repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 2
    assert "calc.py:5: the result does not compile" in result.stderr
    assert (repo / "calc.py").read_text() == CALC


def test_continue_carries_the_previous_generation(repo: Path, model_server: Any,
                                                  tmp_path: Path) -> None:
    model_server.reviewer = answer({"path": "calc.py", "search": "def mul(a, b):\n",
                                    "replace": "def sub(a, b):\n    return a - b\n\n\n"
                                               "def mul(a, b):\n"}, summary="Added sub.")
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    first = run_cli("generate", "add sub", "calc.py", cwd=repo, env=env)
    assert first.returncode == 1
    state = json.loads((repo / ".git" / "aider-review" / "last-generation.json").read_text())
    assert state["task"] == "add sub" and state["patch"] == first.stdout
    model_server.reviewer = answer({"path": "calc.py", "search": "def add(a, b):\n",
                                    "replace": "def add(a, b):\n    \"\"\"Sum.\"\"\"\n"},
                                   summary="Docstring.")
    second = run_cli("generate", "now document add", "--continue", cwd=repo, env=env)
    assert second.returncode == 1, second.stderr
    request = sent(model_server, 1)
    assert "### Previous task: add sub" in request and "### Previous summary: Added sub." in request
    assert "+def sub(a, b):" in request  # the previous patch
    assert "### File: calc.py (editable" in request  # the file it changed, without PATH
    no_state = run_cli("generate", "x", "--continue", cwd=repo, env=env)
    assert no_state.returncode == 1  # there is a state now; a fresh repo has none:
    (repo / ".git" / "aider-review" / "last-generation.json").unlink()
    assert run_cli("generate", "x", "--continue", cwd=repo, env=env).returncode == 2


def test_secrets_in_files_task_and_previous_generation_never_reach_the_model(
        repo: Path, model_server: Any, tmp_path: Path) -> None:
    key = "AKIA" + "ZXCVBNMASDFGHJKL"
    token = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    commit_file(repo, "conf.py", f'AWS_KEY = "{key}"\n')
    model_server.reviewer = answer({"path": "conf.py", "search": "AWS_KEY",
                                    "replace": "AWS_KEY_ID"})
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    run_cli("generate", f"rename it, token {token}", "conf.py", cwd=repo, env=env)
    run_cli("generate", "again", "--continue", "--no-cache", cwd=repo, env=env)
    assert len(model_server.requests) == 2
    for request in model_server.requests:
        text = json.dumps(request.body)
        assert key not in text and token not in text
        assert "[REDACTED:" in text


def test_unreachable_model_says_so(repo: Path, tmp_path: Path) -> None:
    env = {"OPENAI_BASE_URL": closed_port_url(), "OPENAI_API_KEY": "sk-test-unreachable-1234",
           "AIDER_REVIEW_CACHE": str(tmp_path / "c.sqlite3")}
    result = run_cli("generate", "x", "calc.py", cwd=repo, env=env)
    assert result.returncode == 0 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "connect" in result.stderr
    assert run_cli("generate", "x", "calc.py", "--strict", cwd=repo, env=env).returncode == 3
    no_model = run_cli("generate", "x", "calc.py", cwd=repo)
    assert no_model.returncode == 2 and "needs a model" in no_model.stderr


def test_dry_run_shows_the_request(repo: Path) -> None:
    result = run_cli("generate", "add sub", "calc.py", "--dry-run", cwd=repo)
    assert result.returncode == 0 and "nothing was sent" in result.stdout
    assert "### File: calc.py (editable, 6 lines)" in result.stdout


def test_crlf_file_keeps_its_line_endings(git_repo: Path, model_server: Any,
                                          tmp_path: Path) -> None:
    (git_repo / "win.py").write_bytes(b"a = 1\r\nb = 2\r\n")
    model_server.reviewer = answer({"path": "win.py", "search": "b = 2\n", "replace": "b = 3\n"})
    result = run_cli("generate", "b is 3", "win.py", "--apply", cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0, result.stderr
    assert (git_repo / "win.py").read_bytes() == b"a = 1\r\nb = 3\r\n"
