"""`aider-review describe`: the installed command, real git repositories, the fake model server."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from testing.cli import model_env, run_cli
from testing.fake_model_server import closed_port_url
from testing.repos import commit as commit_file
from testing.repos import stage

FILE_HEADER = re.compile(r"^### File: (\S+)", re.MULTILINE)


def describer(body: dict[str, Any]) -> str:
    """Answers each kind of describe request from the paths it was shown."""
    system = body["messages"][0]["content"]
    user = body["messages"][-1]["content"]
    paths = FILE_HEADER.findall(user)
    files = [{"path": p, "summary": f"Changes {p}."} for p in paths]
    if "you see a part of it" in system:
        return json.dumps({"files": files})
    if "you see each changed file" in system:
        return json.dumps({"title": f"Touch {len(paths)} files", "type": "chore",
                           "summary": "Many files."})
    return json.dumps({"title": "Add a greeting", "type": "feat",
                       "summary": "Adds `hello()`.", "files": files + [
                           {"path": "not/in/the/change.py", "summary": "made up"}]})


def test_markdown_and_json(git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit_file(git_repo, "base.py", "x = 1\n")
    stage(git_repo, "hello.py", "def hello():\n    return 'hi'\n")
    stage(git_repo, "base.py", "x = 2\n")
    model_server.reviewer = describer
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    result = run_cli("describe", cwd=git_repo, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("# Add a greeting\n\n**Type:** feat\n\nAdds `hello()`.\n")
    assert "## Walkthrough" in result.stdout and "| `hello.py` | Changes hello.py. |" in result.stdout
    assert "not/in/the/change.py" not in result.stdout  # not a file of the change
    as_json = run_cli("describe", "--format", "json", cwd=git_repo, env=env)
    data = json.loads(as_json.stdout)
    assert data == {"title": "Add a greeting", "type": "feat", "summary": "Adds `hello()`.",
                    "files": [{"path": "base.py", "summary": "Changes base.py."},
                              {"path": "hello.py", "summary": "Changes hello.py."}]}
    assert len(model_server.requests) == 1  # the second run came from the cache
    assert model_server.requests[0]["response_format"] == {"type": "json_object"}


def test_a_range_and_paths(git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    commit_file(git_repo, "a.py", "a = 1\n")
    commit_file(git_repo, "b.py", "b = 1\n")
    model_server.reviewer = describer
    data = json.loads(run_cli("describe", "--range", "HEAD~1..HEAD", "--format", "json", "b.py",
                              cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3")).stdout)
    assert [f["path"] for f in data["files"]] == ["b.py"]


def test_a_large_change_is_summarised_per_file_then_as_a_whole(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    for n in range(60):
        stage(git_repo, f"pkg/mod_{n:02}.py",
              "".join(f"value_{i} = {i} * {n}  # some padding text\n" for i in range(60)))
    model_server.reviewer = describer
    result = run_cli("describe", "--format", "json", cwd=git_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["title"] == "Touch 60 files" and data["type"] == "chore"
    assert 2 <= len(model_server.requests) <= 9  # at most 8 parts and the whole
    last = model_server.requests[-1]["messages"][-1]["content"]
    assert "### File: pkg/mod_59.py (+60 -0)" in last  # every file, by name and counts
    summarised = {f["path"] for f in data["files"]}
    assert "pkg/mod_00.py" in summarised and summarised <= {f"pkg/mod_{n:02}.py" for n in range(60)}


def test_unreachable_model_prints_nothing_and_strict_exits_3(git_repo: Path,
                                                             tmp_path: Path) -> None:
    stage(git_repo, "a.py", "a = 1\n")
    env = {"OPENAI_BASE_URL": closed_port_url(), "OPENAI_API_KEY": "sk-test-unreachable-1234",
           "AIDER_REVIEW_CACHE": str(tmp_path / "c.sqlite3")}
    result = run_cli("describe", cwd=git_repo, env=env)
    assert result.returncode == 0 and result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1 and "connect" in result.stderr
    assert run_cli("describe", "--strict", cwd=git_repo, env=env).returncode == 3


def test_secrets_never_reach_the_model_and_dry_run(git_repo: Path, model_server: Any,
                                                   tmp_path: Path) -> None:
    key = "AKIA" + "POIUYTREWQLKJHGF"
    stage(git_repo, "conf.py", f'KEY = "{key}"\n')
    model_server.reviewer = describer
    run_cli("describe", cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    text = json.dumps(model_server.requests[0].body)
    assert key not in text and "[REDACTED:" in text
    dry = run_cli("describe", "--dry-run", cwd=git_repo)
    assert dry.returncode == 0 and "nothing was sent" in dry.stdout and key not in dry.stdout


def test_invalid_format_and_no_model(git_repo: Path) -> None:
    stage(git_repo, "a.py", "a = 1\n")
    assert run_cli("describe", "--format", "sarif", "--dry-run", cwd=git_repo).returncode == 2
    result = run_cli("describe", cwd=git_repo)
    assert result.returncode == 2 and "needs a model" in result.stderr
