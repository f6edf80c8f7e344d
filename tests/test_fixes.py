"""fix: suggestions become a patch that real `git apply` accepts; --apply never touches the index."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from aider_hooks.errors import InputError
from aider_hooks.finding import Finding
from aider_hooks.tasks.patches import apply_patch, build_patch
from testing.repos import git


def finding(line: int, code: str, suggestion: str | None, *, end: int | None = None,
            path: str = "f.py") -> Finding:
    return Finding(path=path, line=line, end_line=end or line, severity="warning",
                   category="bug", message="m", suggestion=suggestion, code=code)


def applies(repo: Path, patch: str) -> bool:
    done = subprocess.run(["git", "apply", "--check", "-"], cwd=repo, input=patch.encode(),
                          capture_output=True, check=False)
    return done.returncode == 0


def repo_with(git_repo: Path, data: bytes, name: str = "f.py") -> Path:
    (git_repo / name).write_bytes(data)
    git(git_repo, "add", name)
    git(git_repo, "commit", "-qm", "base")
    return git_repo


@pytest.mark.parametrize("data", [
    b"a = 1\nb = eval(x)\nc = 3\n",
    b"a = 1\nb = eval(x)\nc = 3",  # no newline at the end of the file
    b"a = 1\r\nb = eval(x)\r\nc = 3\r\n",  # CRLF
    b"b = eval(x)",  # a one-line file without a final newline
])
def test_patch_applies_with_git_and_changes_only_the_suggested_line(
        git_repo: Path, data: bytes) -> None:
    repo = repo_with(git_repo, data)
    line = data.split(b"\n").index(next(l for l in data.split(b"\n") if b"eval" in l)) + 1
    patch = build_patch([finding(line, "b = eval(x)", "b = literal_eval(x)")],
                        lambda p: data)
    assert applies(repo, patch), patch
    apply_patch(repo, patch)
    expected = data.replace(b"b = eval(x)", b"b = literal_eval(x)")
    assert (repo / "f.py").read_bytes() == expected


def test_multi_line_replacement_and_two_fixes_in_one_file(git_repo: Path) -> None:
    data = b"".join(b"line%d\n" % i for i in range(1, 31))
    repo = repo_with(git_repo, data)
    fixes = [finding(3, "line3", "three\nthree-b", end=4),
             finding(20, "line20", "twenty")]
    patch = build_patch(fixes, lambda p: data)
    apply_patch(repo, patch)
    text = (repo / "f.py").read_text().splitlines()
    assert text[2:5] == ["three", "three-b", "line5"]
    assert text[19] == "twenty" and len(text) == 30


def test_overlapping_or_stale_suggestions_are_left_out() -> None:
    data = b"a\nb\nc\n"
    patch = build_patch([finding(1, "a", "A", end=2), finding(2, "b", "B"),
                         finding(3, "not what line 3 says", "C")], lambda p: data)
    assert "+A" in patch and "+B" not in patch and "+C" not in patch
    assert build_patch([finding(1, "a", None)], lambda p: data) == ""


def test_apply_refuses_a_patch_that_does_not_fit_and_changes_nothing(git_repo: Path) -> None:
    repo = repo_with(git_repo, b"a = 1\nb = eval(x)\n")
    patch = build_patch([finding(2, "b = eval(x)", "b = 2")], lambda p: b"a = 1\nb = eval(x)\n")
    (repo / "f.py").write_bytes(b"completely\ndifferent\n")
    index_before = (repo / ".git" / "index").read_bytes()
    with pytest.raises(InputError, match="nothing was changed"):
        apply_patch(repo, patch)
    assert (repo / "f.py").read_bytes() == b"completely\ndifferent\n"
    assert (repo / ".git" / "index").read_bytes() == index_before


def test_apply_keeps_a_backup_that_undoes_it(git_repo: Path) -> None:
    original = b"a = 1\nb = eval(x)\n"
    repo = repo_with(git_repo, original)
    patch = build_patch([finding(2, "b = eval(x)", "b = 2")], lambda p: original)
    index_before = (repo / ".git" / "index").read_bytes()
    backup = apply_patch(repo, patch)
    assert (repo / "f.py").read_bytes() == b"a = 1\nb = 2\n"
    assert (repo / ".git" / "index").read_bytes() == index_before  # the index is untouched
    assert (backup / "files" / "f.py").read_bytes() == original
    subprocess.run(["git", "apply", "-R", str(backup / "fix.patch")], cwd=repo, check=True)
    assert (repo / "f.py").read_bytes() == original
