"""Hostile and broken inputs through the installed CLI. Each one ends with a clear one-line
message where something is wrong, an exit code docs/cli.md allows (0 nothing to report,
1 findings, 2 input error), and never a traceback."""
from __future__ import annotations

import json
import os
import random
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from testing.repos import commit, git, stage
from testing.fake_model_server import FakeModelServer
from testing.cli import model_env, run_cli
from testing.reliability_support import assert_clean_exit, json_report, record_figure, write_config

pytestmark = pytest.mark.slow  # the installed command on thousands of files and huge diffs


@pytest.fixture
def server() -> Iterator[FakeModelServer]:
    with FakeModelServer() as fake:
        yield fake
        assert fake.errors == []


def one_line_error(result: subprocess.CompletedProcess[str], *words: str) -> None:
    assert_clean_exit(result, 2)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("aider-review: error: "), lines[0]
    for word in words:
        assert word in lines[0], (word, lines[0])
    assert result.stdout == ""
    record_figure("hostile-input", outcome="one-line error", exit=2)


def handled(result: subprocess.CompletedProcess[str], *codes: int) -> None:
    assert_clean_exit(result, *codes)
    record_figure("hostile-input", outcome="handled", exit=result.returncode)


# --- diffs given as files or on standard input ----------------------------------------------

BREAKPOINT_DIFF = ("diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,3 @@\n a = 1\n"
                   "+breakpoint()\n b = 2\n")


def test_empty_diff_is_nothing_to_review(tmp_path: Path) -> None:
    (tmp_path / "empty.diff").write_bytes(b"")
    for result in (run_cli("--diff", "empty.diff", cwd=tmp_path),
                   run_cli("--diff", "-", cwd=tmp_path, stdin=b""),
                   run_cli("--diff", "-", cwd=tmp_path, stdin=b"\n\n  \n")):
        handled(result, 0)
        assert "no findings" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("data", [
    b"hello, this is not a diff\n",
    b"<html><body>502 Bad Gateway</body></html>",
    b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16,
    random.Random(7).randbytes(65_536),
    b"\xff\xfe" + "not a diff either\n".encode("utf-16-le"),
], ids=["prose", "html", "png", "random-bytes", "utf16-prose"])
def test_not_a_diff_is_one_line(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "input.diff").write_bytes(data)
    one_line_error(run_cli("--diff", "input.diff", cwd=tmp_path), "not a unified diff")
    one_line_error(run_cli("--diff", "-", cwd=tmp_path, stdin=data), "not a unified diff")


@pytest.mark.parametrize("text", [
    "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,5 +1,6 @@\n a\n+b\n",
    "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,3 @@\n a\n+b\n+c\n+d\n+e\n",
    "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,3 @@\n a\n?what\n b\n",
    "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,3 @@\n",
], ids=["cut-short", "too-long", "bad-line", "header-only"])
def test_truncated_or_corrupt_diff_is_one_line(tmp_path: Path, text: str) -> None:
    (tmp_path / "bad.diff").write_text(text)
    one_line_error(run_cli("--diff", "bad.diff", cwd=tmp_path), "truncated or corrupt")


def test_crlf_diff_is_read_like_any_other(tmp_path: Path, server: FakeModelServer) -> None:
    data = BREAKPOINT_DIFF.replace("\n", "\r\n").encode()
    result = run_cli("--diff", "-", "--format", "json", cwd=tmp_path, stdin=data)
    handled(result, 1)
    (finding,) = json_report(result)["findings"]
    assert (finding["path"], finding["line"], finding["category"]) == ("x.py", 2, "debugger")


def test_nul_bytes_in_a_diff_do_not_reach_the_output(tmp_path: Path) -> None:
    data = BREAKPOINT_DIFF.replace("breakpoint()", "break\x00point()").encode()
    data += b"diff --git a/y.py b/y.py\n--- a/y.py\n+++ b/y.py\n@@ -1 +1 @@\n-x\n+\x00\x00\x00\n"
    result = run_cli("--diff", "-", cwd=tmp_path, stdin=data)
    handled(result, 0, 1)
    assert "\x00" not in result.stdout + result.stderr


def test_diff_file_that_is_missing_or_a_directory_is_one_line(tmp_path: Path) -> None:
    one_line_error(run_cli("--diff", "missing.diff", cwd=tmp_path), "not found")
    (tmp_path / "folder").mkdir()
    one_line_error(run_cli("--diff", "folder", cwd=tmp_path), "directory")


# --- sizes ---------------------------------------------------------------------------------


def test_a_50000_line_file(git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    lines = [f"value_{n} = {n}\n" for n in range(50_000)]
    lines[42_000] = "breakpoint()\n"
    stage(git_repo, "big.py", "".join(lines))
    started = time.monotonic()
    offline = run_cli("--offline", "--format", "json", cwd=git_repo)
    handled(offline, 1)
    report = json_report(offline)
    assert [(f["path"], f["line"]) for f in report["findings"]] == [("big.py", 42_001)]
    assert report["stats"]["hunks"] == 250  # split at max-hunk-lines = 200
    dry = run_cli("--dry-run", cwd=git_repo, env=model_env(server, tmp_path / "c.sqlite3"))
    handled(dry, 0)
    # Line 42001 starts the 211th part: its header gives the number, the line is unique.
    assert "\n@@ 42001-42200 @@\n+breakpoint()\n" in dry.stdout and server.requests == []
    assert time.monotonic() - started < 30
    record_figure("big-file", lines=50_000, hunks=report["stats"]["hunks"])


def test_5000_files_staged_and_passed_as_paths(git_repo: Path) -> None:
    for number in range(5000):
        folder = git_repo / f"pkg{number // 500}"
        folder.mkdir(exist_ok=True)
        (folder / f"m{number}.py").write_text(f"value = {number}\n")
    (git_repo / "pkg9" / "m4999.py").write_text("breakpoint()\n")
    git(git_repo, "add", "-A")
    paths = [f"pkg{n // 500}/m{n}.py" for n in range(5000)]
    started = time.monotonic()
    result = run_cli("--offline", "--format", "json", *paths, cwd=git_repo)  # what pre-commit does
    handled(result, 1)
    report = json_report(result)
    assert report["stats"]["files"] == 5000 and report["stats"]["hunks"] == 5000
    assert [(f["path"], f["line"]) for f in report["findings"]] == [("pkg9/m4999.py", 1)]
    dry = run_cli("--dry-run", cwd=git_repo, env={"OPENAI_BASE_URL": "http://127.0.0.1:9/v1"})
    handled(dry, 0)
    assert "5000 hunk" not in dry.stderr and "request(s)" in dry.stdout
    assert time.monotonic() - started < 60
    record_figure("many-files", files=5000, hunks=report["stats"]["hunks"])


# --- file names --------------------------------------------------------------------------

ODD_NAMES = ["my dir/my file.py", 'say "hi".py', "it's.py", "new\nline.py", "tab\tname.py",
             "données/café.py", "日本語/ファイル.py", "back\\slash.py", "-leading-dash.py",
             "esc\x1b[31mred.py", "emoji 🐍.py", "[brackets]*.py"]


def test_odd_file_names_are_reviewed_and_shown_safely(
        git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    for name in ODD_NAMES:
        stage(git_repo, name, "value = compute()  # BUG\n")
    env = model_env(server, tmp_path / "c.sqlite3")
    write_config(git_repo)
    result = run_cli("--format", "json", cwd=git_repo, env=env)
    handled(result, 1)
    report = json_report(result)
    assert {f["path"] for f in report["findings"]} == set(ODD_NAMES)
    assert report["stats"]["reviewed"] == len(ODD_NAMES)
    for fmt in ("text", "github", "markdown", "sarif"):
        shown = run_cli("--format", fmt, cwd=git_repo, env=env)
        handled(shown, 1)
        assert "\x1b" not in shown.stdout  # no terminal control from a file name
        if fmt in ("text", "github"):
            # One line per finding: a newline in a name cannot fake a line of the report.
            starts = [ln for ln in shown.stdout.splitlines() if ln.startswith("line.py")]
            assert starts == []
    # A PATH argument with any of these characters selects exactly that file.
    only = run_cli("--format", "json", "new\nline.py", cwd=git_repo, env=env)
    assert {f["path"] for f in json_report(only)["findings"]} == {"new\nline.py"}
    record_figure("odd-names", names=len(ODD_NAMES))


# --- kinds of change that have nothing to review ------------------------------------------------


def no_requests_and(result: subprocess.CompletedProcess[str], server: FakeModelServer,
                    secret: str | None = None) -> dict[str, Any]:
    handled(result, 0)
    report = json_report(result)
    assert report["findings"] == []
    if secret is not None:
        assert all(secret not in json.dumps(r.body) for r in server.requests)
    return report


def test_symlinks_are_not_followed(git_repo: Path, server: FakeModelServer,
                                   tmp_path: Path) -> None:
    outside = tmp_path / "outside-secret.txt"
    outside.write_text("breakpoint()  # TARGET-CONTENT-7f3e\n")
    os.symlink(outside, git_repo / "link-out")
    os.symlink("link-out", git_repo / "link-to-link")
    git(git_repo, "add", "-A")
    write_config(git_repo)
    env = model_env(server, tmp_path / "c.sqlite3")
    report = no_requests_and(run_cli("--format", "json", cwd=git_repo, env=env), server,
                             "TARGET-CONTENT-7f3e")
    assert report["stats"]["hunks"] == 0
    assert server.requests == []


def test_submodule_is_skipped(git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    sub = tmp_path / "sub"
    sub.mkdir()
    git(sub, "init", "-q")
    commit(sub, "s.py", "breakpoint()\n")
    commit(git_repo, "a.py", "x = 1\n")
    git(git_repo, "-c", "protocol.file.allow=always", "submodule", "add", "-q", str(sub), "vendor_sub")
    write_config(git_repo)
    result = run_cli("--format", "json", cwd=git_repo, env=model_env(server, tmp_path / "c"))
    report = no_requests_and(result, server, "breakpoint")
    assert report["stats"]["files"] <= 1  # .gitmodules at most; never the submodule's files


def test_mode_only_change(git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    commit(git_repo, "run.sh", "#!/bin/sh\necho hi\n")
    git(git_repo, "update-index", "--chmod=+x", "run.sh")
    write_config(git_repo)
    result = run_cli("--format", "json", cwd=git_repo, env=model_env(server, tmp_path / "c"))
    assert no_requests_and(result, server)["stats"]["hunks"] == 0
    assert server.requests == []


def test_binary_file(git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    payload = b"\x00\x01BINARY-PAYLOAD-91ab\xff" * 400
    stage(git_repo, "blob.bin", payload)
    stage(git_repo, "image.png", b"\x89PNG\r\n\x1a\n" + payload)
    write_config(git_repo)
    result = run_cli("--format", "json", cwd=git_repo, env=model_env(server, tmp_path / "c"))
    report = no_requests_and(result, server, "BINARY-PAYLOAD-91ab")
    assert report["stats"]["hunks"] == 0 and server.requests == []


# --- repository states -------------------------------------------------------------------


def test_no_head_yet(git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    stage(git_repo, "first.py", "value = compute()  # BUG\n")
    write_config(git_repo)
    result = run_cli("--format", "json", cwd=git_repo, env=model_env(server, tmp_path / "c"))
    handled(result, 1)
    assert [f["line"] for f in json_report(result)["findings"]] == [1]
    one_line_error(run_cli("--range", "HEAD~1...HEAD", cwd=git_repo), "HEAD")


def test_detached_head(git_repo: Path, server: FakeModelServer, tmp_path: Path) -> None:
    commit(git_repo, "a.py", "x = 1\n")
    commit(git_repo, "a.py", "x = 2\n")
    git(git_repo, "checkout", "-q", "--detach", "HEAD~1")
    stage(git_repo, "a.py", "x = compute()  # BUG\n")
    write_config(git_repo)
    env = model_env(server, tmp_path / "c")
    handled(run_cli(cwd=git_repo, env=env), 1)
    handled(run_cli("--range", "HEAD...main", cwd=git_repo, env=env), 0)


def test_merge_in_progress_with_unmerged_paths(git_repo: Path, server: FakeModelServer,
                                               tmp_path: Path) -> None:
    commit(git_repo, "a.py", "x = 1\n")
    git(git_repo, "checkout", "-qb", "other")
    commit(git_repo, "a.py", "x = 2\n")
    git(git_repo, "checkout", "-q", "main")
    commit(git_repo, "a.py", "x = 3\n")
    merge = subprocess.run(["git", "merge", "-q", "other"], cwd=git_repo, capture_output=True,
                           check=False)
    assert merge.returncode != 0  # a conflict, as wanted
    write_config(git_repo)
    env = model_env(server, tmp_path / "c")
    only_conflict = run_cli(cwd=git_repo, env=env)
    handled(only_conflict, 0)
    assert "a.py" in only_conflict.stderr and "merge conflict" in only_conflict.stderr
    assert len(only_conflict.stderr.strip().splitlines()) == 1
    stage(git_repo, "b.py", "value = compute()  # BUG\n")  # resolved work staged alongside
    mixed = run_cli("--format", "json", cwd=git_repo, env=env)
    handled(mixed, 1)
    assert {f["path"] for f in json_report(mixed)["findings"]} == {"b.py"}
    assert "a.py" in mixed.stderr


def test_not_a_git_repository(tmp_path: Path) -> None:
    for command in (["review"], ["explain", "--offline"], ["fix", "--dry-run"],
                    ["review", "--range", "main...HEAD"]):
        one_line_error(run_cli(*command, cwd=tmp_path), "not a git repository")


def test_bare_repository_and_damaged_index(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    one_line_error(run_cli(cwd=bare), "bare")
    repo = tmp_path / "damaged"
    repo.mkdir()
    git(repo, "init", "-q")
    (repo / "a.py").write_text("x = 1\n")
    git(repo, "add", "a.py")
    (repo / ".git" / "index").write_bytes(random.Random(3).randbytes(200))
    one_line_error(run_cli(cwd=repo), "git")


def test_bad_arguments_are_one_line(git_repo: Path) -> None:
    commit(git_repo, "a.py", "x = 1\n")
    one_line_error(run_cli("--range", "no-such-branch...HEAD", cwd=git_repo), "no-such-branch")
    one_line_error(run_cli("--range", "", cwd=git_repo))
    stage(git_repo, "a.py", "x = 2\n")
    one_line_error(run_cli("../outside.py", cwd=git_repo), "outside the repository")
    for args in (["--format", "yaml"], ["--concurrency", "0"], ["--fail-on", "sometimes"]):
        result = run_cli(*args, cwd=git_repo)
        assert_clean_exit(result, 2)
        assert "Traceback" not in result.stderr
