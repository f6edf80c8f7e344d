"""`aider-review commit-msg`: the installed command, real git, the fake model server, and a real
`git commit` through the real pre-commit framework."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from testing.repos import git
from testing.cli import EXE, model_env, run_cli
from testing.fake_model_server import closed_port_url
from testing.repos import commit as commit_file
from testing.repos import stage

ROOT = Path(__file__).resolve().parent.parent

PRE_COMMIT = Path(sys.executable).parent / "pre-commit"
ANSWER = "Add a greeting helper\n\nThe greeting is used by the new command line."
TEMPLATE = "\n# Please enter the commit message for your changes.\n#\n# On branch main\n"


def answer_with(text: str) -> Any:
    return lambda body: text


def user_text(request: Any) -> str:
    return "\n".join(m["content"] for m in request["messages"])


@pytest.fixture
def staged_repo(git_repo: Path) -> Path:
    commit_file(git_repo, "base.py", "x = 1\n")
    stage(git_repo, "hello.py", "def hello():\n    return 'hi'\n")
    return git_repo


# --- which files are written --------------------------------------------------------------

CONTENTS = {
    "empty": "",
    "template-only": TEMPLATE,
    "written": "My own message\n" + TEMPLATE,
}


@pytest.mark.parametrize("source", ["", "template", "message", "merge", "squash", "commit"])
def test_message_file_rules_for_every_source(staged_repo: Path, model_server: Any,
                                             tmp_path: Path, source: str) -> None:
    model_server.reviewer = answer_with(ANSWER)
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    for kind, content in CONTENTS.items():
        msg = tmp_path / f"MSG_{kind}"
        msg.write_text(content)
        args = ["commit-msg", str(msg)] + ([source, "HEAD"] if source else [])
        result = run_cli(*args, cwd=staged_repo, env=env)
        assert result.returncode == 0, result.stderr
        writes = source in ("", "template") and kind != "written"
        if writes:
            below = "\n" + content.lstrip("\n") if content else ""
            assert msg.read_text() == ANSWER + "\n" + below, kind
            assert msg.read_text().startswith("Add a greeting helper\n\nThe greeting")
        else:
            assert msg.read_text() == content, (source, kind)


def test_pre_commit_source_variable_is_honoured(staged_repo: Path, model_server: Any,
                                                tmp_path: Path) -> None:
    model_server.reviewer = answer_with(ANSWER)
    msg = tmp_path / "MSG"
    msg.write_text(TEMPLATE)
    env = model_env(model_server, tmp_path / "cache.sqlite3", PRE_COMMIT_COMMIT_MSG_SOURCE="message")
    assert run_cli("commit-msg", str(msg), cwd=staged_repo, env=env).returncode == 0
    assert msg.read_text() == TEMPLATE and not model_server.requests


def test_verbose_diff_below_the_scissors_still_counts_as_empty(
        staged_repo: Path, model_server: Any, tmp_path: Path) -> None:
    model_server.reviewer = answer_with(ANSWER)
    msg = tmp_path / "MSG"
    content = (TEMPLATE + "# ------------------------ >8 ------------------------\n"
               "# Do not modify or remove the line above.\ndiff --git a/hello.py b/hello.py\n")
    msg.write_text(content)
    run_cli("commit-msg", str(msg), cwd=staged_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert msg.read_text().startswith("Add a greeting helper\n") and content in msg.read_text()


def test_without_a_file_the_message_is_printed_and_cached(staged_repo: Path, model_server: Any,
                                                          tmp_path: Path) -> None:
    model_server.reviewer = answer_with(ANSWER)
    env = model_env(model_server, tmp_path / "cache.sqlite3")
    result = run_cli("commit-msg", cwd=staged_repo, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout == ANSWER + "\n"
    request = model_server.requests[0]
    assert "response_format" not in request.body  # plain text, not JSON mode
    assert "### File: hello.py" in user_text(request) and "English" in user_text(request)
    again = run_cli("commit-msg", cwd=staged_repo, env=env)
    assert again.stdout == result.stdout and len(model_server.requests) == 1


def test_long_subject_is_cut_and_body_wrapped(staged_repo: Path, model_server: Any,
                                              tmp_path: Path) -> None:
    subject = ("Add a greeting helper that says hello to every user of the command line "
               "interface and logs it")
    body = "This " + "word " * 40 + "ends here.\n\n- a list item " + "that goes on " * 10
    model_server.reviewer = answer_with(f"```\n{subject}.\n\n{body}\n```")
    result = run_cli("commit-msg", cwd=staged_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    lines = result.stdout.splitlines()
    assert len(lines[0]) <= 72 and lines[0].startswith("Add a greeting helper that says")
    assert lines[1] == ""
    assert all(len(line) <= 72 for line in lines), lines
    assert "and logs it" in result.stdout  # what was cut from the subject opens the body
    item = next(i for i, line in enumerate(lines) if line.startswith("- a list item"))
    assert lines[item + 1].startswith("  ") and lines[item + 1][2] != " "  # hanging indent
    assert "```" not in result.stdout


def test_conventional_style_and_language(staged_repo: Path, model_server: Any,
                                         tmp_path: Path) -> None:
    (staged_repo / ".aider-review.toml").write_text(
        'commit-style = "conventional"\nlanguage = "German"\n')
    model_server.reviewer = answer_with("Feat(greeting): Begrüßung hinzufügen\n\nNeu.")
    result = run_cli("commit-msg", cwd=staged_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.stdout.splitlines()[0] == "feat(greeting): Begrüßung hinzufügen"
    system = model_server.requests[0]["messages"][0]["content"]
    assert "Conventional Commits" in system and "in German" in system


def test_conventional_style_repairs_a_subject_without_a_type(
        staged_repo: Path, model_server: Any, tmp_path: Path) -> None:
    (staged_repo / ".aider-review.toml").write_text('commit-style = "conventional"\n')
    answers = iter(["Add greeting", "feat: add greeting"])
    model_server.reviewer = lambda body: next(answers)
    result = run_cli("commit-msg", cwd=staged_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.stdout == "feat: add greeting\n", result.stderr
    assert len(model_server.requests) == 2
    assert "type(scope)" in model_server.requests[1]["messages"][-1]["content"]


def test_no_model_leaves_the_file_and_exits_0(staged_repo: Path, tmp_path: Path) -> None:
    msg = tmp_path / "MSG"
    msg.write_text(TEMPLATE)
    result = run_cli("commit-msg", str(msg), cwd=staged_repo)
    assert result.returncode == 0 and msg.read_text() == TEMPLATE
    assert len(result.stderr.strip().splitlines()) == 1 and "no model" in result.stderr
    printed = run_cli("commit-msg", cwd=staged_repo)
    assert printed.returncode == 2 and "needs a model" in printed.stderr


def test_unreachable_model_never_blocks(staged_repo: Path, tmp_path: Path) -> None:
    env = {"OPENAI_BASE_URL": closed_port_url(), "OPENAI_API_KEY": "sk-unreachable-7h1s-1s-n0t",
           "AIDER_REVIEW_CACHE": str(tmp_path / "c.sqlite3")}
    msg = tmp_path / "MSG"
    msg.write_text(TEMPLATE)
    result = run_cli("commit-msg", str(msg), "", "--strict", cwd=staged_repo, env=env)
    assert result.returncode == 0 and msg.read_text() == TEMPLATE
    assert len(result.stderr.strip().splitlines()) == 1 and "connect" in result.stderr
    assert "sk-unreachable" not in result.stderr
    printed = run_cli("commit-msg", "--strict", cwd=staged_repo, env=env)
    assert printed.returncode == 3 and printed.stdout == ""
    assert run_cli("commit-msg", cwd=staged_repo, env=env).returncode == 0


def test_a_broken_config_never_blocks_the_hook(staged_repo: Path, model_server: Any,
                                               tmp_path: Path) -> None:
    (staged_repo / ".aider-review.toml").write_text('commit-style = "poetic"\n')
    msg = tmp_path / "MSG"
    msg.write_text("")
    result = run_cli("commit-msg", str(msg), cwd=staged_repo,
                     env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.returncode == 0 and msg.read_text() == ""
    assert "commit-style" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_a_secret_in_the_staged_diff_never_reaches_the_model(
        git_repo: Path, model_server: Any, tmp_path: Path) -> None:
    secret = "AKIA" + "QWERTYUIOPASDFGH"
    stage(git_repo, "settings.py", f'AWS_ACCESS_KEY_ID = "{secret}"\n')
    model_server.reviewer = answer_with("Add settings")
    result = run_cli("commit-msg", cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.stdout == "Add settings\n"
    sent = user_text(model_server.requests[0])
    assert secret not in sent and "[REDACTED:" in sent


def test_a_huge_change_is_summarised_from_the_stat(git_repo: Path, model_server: Any,
                                                   tmp_path: Path) -> None:
    for n in range(40):
        stage(git_repo, f"pkg/module_{n}.py",
              "".join(f"value_{i} = {i} * {n}\n" for i in range(150)))
    model_server.reviewer = answer_with("Add forty modules")
    result = run_cli("commit-msg", cwd=git_repo, env=model_env(model_server, tmp_path / "cache.sqlite3"))
    assert result.stdout == "Add forty modules\n", result.stderr
    sent = user_text(model_server.requests[0])
    assert "git diff --cached --stat" in sent and "pkg/module_39.py" in sent
    assert len(sent) < 40_000  # not the 40 x 150 lines of the whole diff


def test_dry_run_prints_the_request_and_writes_nothing(staged_repo: Path, tmp_path: Path) -> None:
    msg = tmp_path / "MSG"
    msg.write_text("")
    result = run_cli("commit-msg", "--dry-run", cwd=staged_repo)
    assert result.returncode == 0 and "nothing was sent" in result.stdout
    assert "### File: hello.py" in result.stdout


# --- the hook under the real pre-commit framework ------------------------------------------

def install_hook(repo: Path) -> None:
    """A local .pre-commit-config.yaml with the manifest's aider-commit-msg hook, run with the
    aider-review of this environment, and pre-commit's prepare-commit-msg hook installed."""
    manifest = yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())
    hook = dict(next(h for h in manifest if h["id"] == "aider-commit-msg"))
    hook["entry"] = hook["entry"].replace("aider-review", str(EXE), 1)
    hook["language"] = "system"  # this environment's aider-review, not a fresh install
    hook.pop("minimum_pre_commit_version", None)
    config = {"repos": [{"repo": "local", "hooks": [hook]}]}
    (repo / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    subprocess.run([str(PRE_COMMIT), "install", "--hook-type", "prepare-commit-msg"], cwd=repo,
                   check=True, capture_output=True)


def git_commit(repo: Path, editor_appends: str, env: dict[str, str],
               snapshot: Path) -> subprocess.CompletedProcess[str]:
    """`git commit` with an editor that saves what it was given and appends a line."""
    editor = repo.parent / "editor.sh"
    editor.write_text(f'#!/bin/sh\ncp "$1" "{snapshot}"\nprintf "%s" "{editor_appends}" >> "$1"\n')
    editor.chmod(0o755)
    return subprocess.run(["git", "commit"], cwd=repo, capture_output=True, text=True,
                          env={**os.environ, **env, "GIT_EDITOR": str(editor)}, check=False,
                          timeout=300)


def test_git_commit_through_pre_commit_gets_the_models_message(
        staged_repo: Path, model_server: Any, tmp_path: Path) -> None:
    install_hook(staged_repo)
    model_server.reviewer = answer_with(ANSWER)
    snapshot = tmp_path / "given-to-editor"
    result = git_commit(staged_repo, "", model_env(model_server, tmp_path / "cache.sqlite3"), snapshot)
    assert result.returncode == 0, result.stdout + result.stderr
    assert git(staged_repo, "log", "-1", "--format=%s").strip() == "Add a greeting helper"
    assert git(staged_repo, "log", "-1", "--format=%b").strip() == ANSWER.split("\n\n", 1)[1]
    given = snapshot.read_text()
    assert given.startswith(ANSWER + "\n") and "\n# Please enter the commit message" in given
    assert "### File: hello.py" in user_text(model_server.requests[0])


def test_git_commit_without_a_model_is_untouched_and_passes(staged_repo: Path,
                                                            tmp_path: Path) -> None:
    install_hook(staged_repo)
    snapshot = tmp_path / "given-to-editor"
    result = git_commit(staged_repo, "My own message\n", {}, snapshot)
    assert result.returncode == 0, result.stdout + result.stderr
    assert git(staged_repo, "log", "-1", "--format=%s").strip() == "My own message"
    assert all(not line.strip() or line.startswith("#")
               for line in snapshot.read_text().splitlines())  # git's template, untouched
    assert "aider-commit-msg" in result.stderr and "Passed" in result.stderr
