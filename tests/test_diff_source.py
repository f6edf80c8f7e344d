"""diff_source.py: every place a diff can come from, and decoding bytes that are not UTF-8."""
from __future__ import annotations

import io
import random
import sys
from pathlib import Path

import pytest

from aider_hooks.diff.source import DiffSource, LoadedDiff, decode_diff_bytes, load_diff
from aider_hooks.errors import GitError, InputError
from aider_hooks.diff.parse import parse_diff
from aider_hooks.settings import Settings
from testing.repos import git
from testing.git_shapes import APP_STAGED, UNSTAGED, stage_all_shapes, stage_modified_file

SIMPLE_DIFF = (
    b"diff --git a/hello.py b/hello.py\n"
    b"index 1111111..2222222 100644\n"
    b"--- a/hello.py\n"
    b"+++ b/hello.py\n"
    b"@@ -1,2 +1,3 @@\n"
    b" a = 1\n"
    b"+b = 2\n"
    b" c = 3\n"
)


def _close(loaded: LoadedDiff) -> LoadedDiff:
    loaded.close()
    return loaded


# --- staged and range ---------------------------------------------------------------------


def test_staged_diff_and_its_reader_see_the_index(git_repo: Path) -> None:
    stage_modified_file(git_repo)
    loaded = load_diff(DiffSource("staged"), cwd=git_repo)
    try:
        assert loaded.label == "staged changes"
        assert loaded.root is not None and loaded.root.resolve() == git_repo.resolve()
        assert "+    tax = subtotal * 0.2" in loaded.text and UNSTAGED not in loaded.text
        assert loaded.read_new_file("src/app.py") == APP_STAGED.encode()
    finally:
        loaded.close()


def test_paths_given_in_a_subdirectory_become_repository_relative(git_repo: Path) -> None:
    stage_all_shapes(git_repo)
    loaded = _close(load_diff(DiffSource("staged"), cwd=git_repo / "src", paths=["app.py"]))
    assert loaded.paths == ("src/app.py",)
    assert "b/src/app.py" in loaded.text and "new_module.py" not in loaded.text
    hunks = parse_diff(loaded.text, settings=Settings(), paths=loaded.paths).hunks
    assert {h.path for h in hunks} == {"src/app.py"}


def test_a_path_outside_the_repository_is_an_input_error(git_repo: Path) -> None:
    stage_modified_file(git_repo)
    with pytest.raises(InputError, match="outside the repository"):
        load_diff(DiffSource("staged"), cwd=git_repo, paths=["../elsewhere.py"])


def test_staged_outside_a_repository_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="--diff FILE"):
        load_diff(DiffSource("staged"), cwd=tmp_path)


@pytest.fixture
def history(git_repo: Path) -> tuple[Path, str]:
    """Two commits; the work tree and index then move on, so only the range's tip is right."""
    (git_repo / "app.py").write_text("x = 1\n")
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "one")
    first = git(git_repo, "rev-parse", "HEAD").strip()
    (git_repo / "app.py").write_text("x = 1\ny = 2\n")
    git(git_repo, "commit", "-q", "-am", "two")
    (git_repo / "app.py").write_text("x = 1\ny = 2\nz = 'staged later'\n")
    git(git_repo, "add", "-A")
    return git_repo, first


def test_range_reader_reads_the_right_hand_revision(history: tuple[Path, str]) -> None:
    repo, first = history
    loaded = _close(load_diff(DiffSource("range", f"{first}...HEAD"), cwd=repo))
    assert loaded.label == f"range {first}...HEAD"
    assert "+y = 2" in loaded.text and "staged later" not in loaded.text
    assert loaded.read_new_file("app.py") == b"x = 1\ny = 2\n"


def test_range_needs_a_spec_and_known_revisions(history: tuple[Path, str]) -> None:
    repo, _ = history
    with pytest.raises(InputError, match="--range needs"):
        load_diff(DiffSource("range", None), cwd=repo)
    with pytest.raises(GitError, match="'nope'"):
        load_diff(DiffSource("range", "nope...HEAD"), cwd=repo)


# --- files and standard input -------------------------------------------------------------


def test_a_diff_file_needs_no_repository(tmp_path: Path) -> None:
    patch = tmp_path / "change.patch"
    patch.write_bytes(SIMPLE_DIFF)
    loaded = load_diff(DiffSource("file", "change.patch"), cwd=tmp_path)
    assert loaded.root is None and loaded.label == "diff file change.patch"
    assert loaded.read_new_file("hello.py") is None
    hunks = parse_diff(loaded.text, settings=Settings(), read_new_file=loaded.read_new_file).hunks
    assert hunks[0].added == [(2, "b = 2")]


def test_a_diff_file_inside_a_repository_reads_the_work_tree(git_repo: Path) -> None:
    (git_repo / "hello.py").write_text("a = 1\nb = 2\nc = 3\n")
    (git_repo / "change.patch").write_bytes(SIMPLE_DIFF)
    loaded = load_diff(DiffSource("file", "change.patch"), cwd=git_repo)
    assert loaded.read_new_file("hello.py") == b"a = 1\nb = 2\nc = 3\n"
    assert loaded.read_new_file("missing.py") is None


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX hook script / symlink")
def test_the_work_tree_reader_never_leaves_the_repository(git_repo: Path, tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("outside\n")
    (git_repo / "escape").symlink_to(secret)
    (git_repo / "adir").mkdir()
    loaded = load_diff(DiffSource("stdin"), cwd=git_repo, stdin=io.BytesIO(SIMPLE_DIFF))
    for path in ("../secret.txt", str(secret), "escape", "adir", "a/../../secret.txt"):
        assert loaded.read_new_file(path) is None, path


def test_missing_or_unreadable_diff_files_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="diff file not found: nope.patch"):
        load_diff(DiffSource("file", "nope.patch"), cwd=tmp_path)
    (tmp_path / "adir").mkdir()
    with pytest.raises(InputError, match="is a directory"):
        load_diff(DiffSource("file", "adir"), cwd=tmp_path)
    with pytest.raises(InputError, match="--diff needs a file name"):
        load_diff(DiffSource("file", None), cwd=tmp_path)


def test_standard_input(tmp_path: Path) -> None:
    loaded = load_diff(DiffSource("stdin"), cwd=tmp_path, stdin=io.BytesIO(SIMPLE_DIFF))
    assert loaded.label == "standard input" and "+b = 2" in loaded.text


def test_empty_input_is_an_empty_review(tmp_path: Path) -> None:
    for data in (b"", b"\n\n  \n"):
        loaded = load_diff(DiffSource("stdin"), cwd=tmp_path, stdin=io.BytesIO(data))
        hunk_set = parse_diff(loaded.text, settings=Settings())
        assert hunk_set.hunks == [] and hunk_set.files == []


@pytest.mark.parametrize("data", [
    b"Hello, this is just some prose.\nNothing to see.\n",
    b'{"not": "a diff"}\n',
    random.Random(7).randbytes(4096),
], ids=["prose", "json", "random-bytes"])
def test_input_that_is_not_a_diff_is_refused(tmp_path: Path, data: bytes) -> None:
    with pytest.raises(InputError) as err:
        load_diff(DiffSource("stdin"), cwd=tmp_path, stdin=io.BytesIO(data))
    assert "not a unified diff" in str(err.value) and "\n" not in str(err.value)


# --- decoding -----------------------------------------------------------------------------


def test_each_line_falls_back_on_its_own() -> None:
    data = (
        "+utf-8: café\n".encode()
        + "+latin-1: café\n".encode("latin-1")
        + "+cp1252: “quoted” – dash\n".encode("cp1252")
        + b"+undefined in cp1252: \x81\x8d\n"
    )
    assert decode_diff_bytes(data).split("\n") == [
        "+utf-8: café",
        "+latin-1: café",
        "+cp1252: “quoted” – dash",
        "+undefined in cp1252: \x81\x8d",
        "",
    ]


def test_nul_bytes_are_removed() -> None:
    assert decode_diff_bytes(b"+a\x00b\n") == "+ab\n"


def test_crlf_framing_is_normalised_and_content_keeps_its_cr() -> None:
    data = SIMPLE_DIFF.replace(b"\n", b"\r\n")
    text = decode_diff_bytes(data)
    lines = text.split("\n")
    assert lines[0] == "diff --git a/hello.py b/hello.py"
    assert lines[3] == "+++ b/hello.py" and lines[4] == "@@ -1,2 +1,3 @@"
    assert lines[5:8] == [" a = 1\r", "+b = 2\r", " c = 3\r"]
    hunk = parse_diff(text, settings=Settings()).hunks[0]
    assert hunk.path == "hello.py" and hunk.added == [(2, "b = 2")]
    assert hunk.extra["line_endings"] == "crlf"


def test_a_content_line_that_looks_like_a_header_is_still_content() -> None:
    data = (b"--- a/x.sql\n+++ b/x.sql\n@@ -1,2 +1,2 @@\r\n"
            b"--- a removed comment\r\n+++ an added line\r\n \r\n")
    lines = decode_diff_bytes(data).split("\n")
    assert lines[3:6] == ["--- a removed comment\r", "+++ an added line\r", " \r"]


def test_form_feeds_and_unicode_separators_do_not_split_lines() -> None:
    data = "@@ -1 +1 @@\n-a\x0cb\n+a\u2028b\n".encode()
    assert decode_diff_bytes(data).split("\n")[1:3] == ["-a\x0cb", "+a\u2028b"]


def test_byte_order_marks_are_honoured() -> None:
    text = SIMPLE_DIFF.decode()
    assert decode_diff_bytes(b"\xef\xbb\xbf" + SIMPLE_DIFF) == text
    assert decode_diff_bytes(text.encode("utf-16")) == text  # PowerShell's `git diff > x`


def test_colour_codes_of_a_coloured_diff_are_removed() -> None:
    coloured = (b"\x1b[1mdiff --git a/hello.py b/hello.py\x1b[m\n"
                b"\x1b[1m--- a/hello.py\x1b[m\n\x1b[1m+++ b/hello.py\x1b[m\n"
                b"\x1b[36m@@ -1,2 +1,3 @@\x1b[m\n a = 1\n\x1b[32m+b = 2\x1b[m\n c = 3\n")
    text = decode_diff_bytes(coloured)
    assert "\x1b" not in text
    assert parse_diff(text, settings=Settings()).hunks[0].added == [(2, "b = 2")]


def test_escape_characters_in_content_are_kept_when_the_diff_is_not_coloured() -> None:
    data = b"@@ -1 +1 @@\n-a\n+print('\x1b[31mred\x1b[0m')\n"
    assert "\x1b[31m" in decode_diff_bytes(data)


def test_a_latin1_diff_file_parses(tmp_path: Path) -> None:
    patch = tmp_path / "legacy.patch"
    patch.write_bytes(b"--- a/legacy.txt\n+++ b/legacy.txt\n@@ -1 +1,2 @@\n alpha\n+na\xefve caf\xe9\n")
    loaded = load_diff(DiffSource("file", str(patch)), cwd=tmp_path)
    assert parse_diff(loaded.text, settings=Settings()).hunks[0].added == [(2, "naïve café")]


