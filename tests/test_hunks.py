"""hunks.py: real git diffs of every shape, filters, splitting, context and bad input."""
from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from aider_hooks.diff import git as g
from aider_hooks.diff.headers import quote_git_path, unquote_git_path
from aider_hooks.diff.source import DiffSource, decode_diff_bytes, load_diff
from aider_hooks.errors import InputError
from aider_hooks.hunk import Hunk
from aider_hooks.diff.parse import DiffParse, HunkSet, parse_diff
from aider_hooks.diff.paths import default_exclusion, path_matches
from aider_hooks.settings import Settings
from testing.repos import commit, git, stage
from testing.git_shapes import (
    APP_ENCLOSING,
    QUOTED_PATH,
    SHAPES,
    UNSTAGED,
    StagedShape,
    commit_base,
    stage_all_shapes,
    stage_first_commit,
    stage_shape,
)

SETTINGS = Settings()


def _review_staged(repo: Path, settings: Settings = SETTINGS, paths: tuple[str, ...] = ()) -> HunkSet:
    loaded = load_diff(DiffSource("staged"), cwd=repo, paths=paths)
    try:
        return parse_diff(loaded.text, settings=settings, read_new_file=loaded.read_new_file,
                          paths=loaded.paths)
    finally:
        loaded.close()


def _everything_shown(hunk: Hunk) -> str:
    parts = [ln.text for ln in hunk.lines]
    parts += [text for _, text in hunk.context_before + hunk.context_after]
    return "\n".join(parts + [hunk.enclosing or "", hunk.section_header])


def _check_shape(hunk_set: HunkSet, shape: StagedShape) -> None:
    files = [f for f in hunk_set.files if f.path == shape.path]
    assert len(files) == 1, f"{shape.name}: {[f.path for f in hunk_set.files]}"
    changed = files[0]
    assert changed.status == shape.status
    assert changed.old_path == shape.old_path
    if not shape.reviewable:
        assert changed.skipped_reason is not None and changed.hunks == []
        assert all(h.path != shape.path for h in hunk_set.hunks)
        return
    assert changed.skipped_reason is None
    added = [pair for hunk in changed.hunks for pair in hunk.added]
    assert added == list(shape.added)
    for hunk in changed.hunks:
        assert hunk.path == shape.path and hunk.old_path == shape.old_path
        assert hunk.is_new_file == (shape.status == "added")
        assert UNSTAGED not in _everything_shown(hunk)
        assert all("\r" not in ln.text for ln in hunk.lines)


@pytest.mark.parametrize("shape", [s.name for s in SHAPES])
def test_each_staged_shape_alone(git_repo: Path, shape: str) -> None:
    staged = stage_shape(git_repo, shape)
    _check_shape(_review_staged(git_repo), staged)


def test_all_shapes_staged_together(git_repo: Path) -> None:
    shapes = stage_all_shapes(git_repo)
    hunk_set = _review_staged(git_repo)
    for shape in shapes.values():
        _check_shape(hunk_set, shape)
    assert {f.path for f in hunk_set.files} == {s.path for s in shapes.values()}
    reasons = {f.path: f.skipped_reason for f in hunk_set.skipped_files}
    assert reasons == {
        "obsolete.txt": "deleted file",
        "assets/logo.png": "binary file",
        "scripts/run.sh": "no content change",
        "latest": "symlink",
        "package-lock.json": "lock file",
    }
    # The deletion's, the symlink's and the lock file's hunks are counted, not reviewed, and
    # the binary file counts as one (it has no hunk in the diff, and is not reviewed either).
    assert hunk_set.skipped_hunks == 4
    assert next(f for f in hunk_set.files if f.path == "assets/logo.png").is_binary


def test_first_commit_without_head(git_repo: Path) -> None:
    staged = stage_first_commit(git_repo)
    hunk_set = _review_staged(git_repo)
    _check_shape(hunk_set, staged)
    hunk = hunk_set.hunks[0]
    assert (hunk.old_start, hunk.old_length, hunk.new_start, hunk.new_length) == (0, 0, 1, 2)


def test_context_comes_from_the_staged_blob(git_repo: Path) -> None:
    shapes = stage_all_shapes(git_repo)
    staged = shapes["modified_file"].staged_text
    assert staged is not None
    staged_lines = staged.split("\n")
    hunks = [h for h in _review_staged(git_repo, replace(SETTINGS, context_lines=3)).hunks
             if h.path == "src/app.py"]
    assert len(hunks) == 2
    for hunk in hunks:
        assert len(hunk.context_before) == 3 and len(hunk.context_after) == 3
        for number, text in hunk.context_before + hunk.context_after:
            assert staged_lines[number - 1] == text
        assert hunk.context_before[-1][0] == hunk.first_line - 1
        assert hunk.context_after[0][0] == hunk.last_line + 1
    assert [h.enclosing for h in hunks] == [APP_ENCLOSING[7], APP_ENCLOSING[19]]


def test_context_lines_setting(git_repo: Path) -> None:
    stage_shape(git_repo, "rename_with_edit")
    none = _review_staged(git_repo, replace(SETTINGS, context_lines=0)).hunks[0]
    assert none.context_before == () and none.context_after == ()
    many = _review_staged(git_repo, replace(SETTINGS, context_lines=10)).hunks[0]
    assert [n for n, _ in many.context_before] == list(range(1, 7))  # clipped at line 1
    assert [n for n, _ in many.context_after] == list(range(14, 21))  # clipped at the end


def test_a_file_that_does_not_match_the_diff_gives_no_context() -> None:
    diff = ("--- a/app.py\n+++ b/app.py\n@@ -4,3 +4,4 @@ class Cart:\n"
            "     def count(self):\n-        return 0\n+        n = 1\n+        return n\n \n")
    moved_on = b"".join(b"line %d\n" % n for n in range(1, 30))
    hunk = parse_diff(diff, settings=SETTINGS, read_new_file=lambda _: moved_on).hunks[0]
    assert hunk.context_before == () and hunk.context_after == ()
    # Without the file, the enclosing def comes from the hunk itself.
    assert hunk.enclosing == "def count(self):"


def test_enclosing_falls_back_to_git_section_header() -> None:
    diff = ("--- a/app.py\n+++ b/app.py\n@@ -10,3 +10,3 @@ def total(price, qty):\n"
            "     a = 1\n-    b = 2\n+    b = 3\n     c = 4\n")
    assert parse_diff(diff, settings=SETTINGS).hunks[0].enclosing == "def total(price, qty):"
    not_python = diff.replace("app.py", "app.js")
    assert parse_diff(not_python, settings=SETTINGS).hunks[0].enclosing is None


def test_enclosing_understands_nesting_strings_and_brackets() -> None:
    source = (
        "class Outer:\n"  # 1
        "    def method(self,\n"  # 2
        "x=1):\n"  # 3: a continuation line, not a dedent
        '        doc = """\n'  # 4
        "def not_a_def():\n"  # 5: inside a string
        '"""\n'  # 6
        "        value = [\n"  # 7
        "1]\n"  # 8
        "        return value\n"  # 9
        "\n"  # 10
        "    async def other(self):\n"  # 11
        "        pass\n"  # 12
        "def top():\n"  # 13
        "    pass\n"  # 14
    )
    lines = source.split("\n")

    def hunk_at(number: int) -> Hunk:
        old = lines[number - 1]
        diff = (f"--- a/m.py\n+++ b/m.py\n@@ -{number},1 +{number},1 @@\n"
                f"-{old}\n+{old}\n")
        return parse_diff(diff, settings=SETTINGS,
                          read_new_file=lambda _: source.encode()).hunks[0]

    assert hunk_at(9).enclosing == "def method(self,"
    assert hunk_at(12).enclosing == "async def other(self):"
    assert hunk_at(11).enclosing == "class Outer:"
    assert hunk_at(14).enclosing == "def top():"
    assert hunk_at(13).enclosing is None


# --- paths ------------------------------------------------------------------------------


def test_git_octal_quoted_paths_are_decoded() -> None:
    assert unquote_git_path('"caf\\303\\251.txt"') == "café.txt"
    assert unquote_git_path('"odd \\"quoted\\"\\tname.txt"') == 'odd "quoted"\tname.txt'
    assert unquote_git_path("plain name.txt") == "plain name.txt"
    diff = ('diff --git "a/caf\\303\\251.txt" "b/caf\\303\\251.txt"\n'
            "index 1111111..2222222 100644\n"
            '--- "a/caf\\303\\251.txt"\n+++ "b/caf\\303\\251.txt"\n'
            "@@ -1 +1 @@\n-a\n+b\n")
    hunk_set = parse_diff(diff, settings=SETTINGS)
    assert hunk_set.files[0].path == "café.txt" and hunk_set.hunks[0].path == "café.txt"


def test_a_quoted_name_from_real_git(git_repo: Path) -> None:
    stage_shape(git_repo, "quoted_name")
    hunk_set = _review_staged(git_repo)
    assert [f.path for f in hunk_set.files] == [QUOTED_PATH]
    with g.BlobReader(git_repo) as reader:
        assert reader(QUOTED_PATH) == b"hello\n"


def test_renamed_file_with_spaces_keeps_both_names() -> None:
    diff = ("diff --git a/old name.txt b/new name.txt\nsimilarity index 90%\n"
            "rename from old name.txt\nrename to new name.txt\n"
            "--- a/old name.txt\t\n+++ b/new name.txt\t\n@@ -1 +1 @@\n-a\n+b\n")
    changed = parse_diff(diff, settings=SETTINGS).files[0]
    assert (changed.path, changed.old_path, changed.status) == ("new name.txt", "old name.txt", "renamed")


def test_pure_rename_copy_and_mode_change_have_nothing_to_review() -> None:
    diff = ("diff --git a/a.py b/b.py\nsimilarity index 100%\nrename from a.py\nrename to b.py\n"
            "diff --git a/c.py b/d.py\nsimilarity index 80%\ncopy from c.py\ncopy to d.py\n"
            "--- a/c.py\n+++ b/d.py\n@@ -1 +1 @@\n-x\n+y\n"
            "diff --git a/run.sh b/run.sh\nold mode 100644\nnew mode 100755\n")
    files = parse_diff(diff, settings=SETTINGS).files
    assert [(f.path, f.old_path, f.status, f.skipped_reason) for f in files] == [
        ("b.py", "a.py", "renamed", "no content change"),
        ("d.py", "c.py", "added", None),
        ("run.sh", None, "modified", "no content change"),
    ]


def test_binary_patches_never_reach_the_hunks() -> None:
    diff = ("diff --git a/img.png b/img.png\nindex 1111111..2222222 100644\n"
            "GIT binary patch\nliteral 5\nMcmZ?wbhEH\n\nliteral 0\nKcmV+b0RR6000031\n\n"
            "diff --git a/x.py b/x.py\n--- a/x.py\n+++ b/x.py\n@@ -1 +1 @@\n-a\n+b\n"
            "Binary files /dev/null and b/new.bin differ\n")
    hunk_set = parse_diff(diff, settings=SETTINGS)
    binaries = {f.path: f.status for f in hunk_set.files if f.is_binary}
    assert binaries == {"img.png": "modified", "new.bin": "added"}
    assert [h.path for h in hunk_set.hunks] == ["x.py"]


def test_a_plain_gnu_diff_with_timestamps() -> None:
    diff = ("--- old/app.py\t2024-01-01 10:00:00.000000000 +0100\n"
            "+++ new/app.py\t2024-01-02 10:00:00.000000000 +0100\n"
            "@@ -1,2 +1,2 @@\n a\n-b\n+c\n")
    hunk = parse_diff(diff, settings=SETTINGS).hunks[0]
    assert hunk.path == "new/app.py" and hunk.added == [(2, "c")]


def test_no_newline_at_end_of_file_is_not_a_line() -> None:
    diff = "--- a/x.txt\n+++ b/x.txt\n@@ -1 +1 @@\n-old\n\\ No newline at end of file\n+new\n\\ No newline at end of file\n"
    hunk = parse_diff(diff, settings=SETTINGS).hunks[0]
    assert [(ln.kind, ln.text) for ln in hunk.lines] == [("-", "old"), ("+", "new")]
    assert hunk.extra["no_newline_at_end"] == "true"


# --- filters ----------------------------------------------------------------------------


def _one_line_diff(path: str) -> str:
    return f"diff --git a/{path} b/{path}\n--- a/{path}\n+++ b/{path}\n@@ -1 +1 @@\n-a\n+b\n"


@pytest.mark.parametrize("path, reason", [
    ("package-lock.json", "lock file"), ("web/yarn.lock", "lock file"),
    ("pnpm-lock.yaml", "lock file"), ("poetry.lock", "lock file"), ("Cargo.lock", "lock file"),
    ("uv.lock", "lock file"), ("Pipfile.lock", "lock file"), ("composer.lock", "lock file"),
    ("Gemfile.lock", "lock file"), ("go.sum", "lock file"), ("flake.lock", "lock file"),
    ("static/app.min.js", "generated file"), ("static/app.min.css", "generated file"),
    ("static/app.js.map", "generated file"), ("api/user_pb2.py", "generated file"),
    ("api/user.pb.go", "generated file"), ("src/generated/client.py", "generated file"),
    ("vendor/lib.go", "vendored code"), ("a/third_party/x.c", "vendored code"),
    ("web/node_modules/left-pad/index.js", "vendored code"),
    ("src/app.py", None), ("src/vendors.py", None), ("generated.py", None),
])
def test_default_exclusions(path: str, reason: str | None) -> None:
    assert default_exclusion(path) == reason
    changed = parse_diff(_one_line_diff(path), settings=SETTINGS)
    assert changed.files[0].skipped_reason == reason
    assert changed.skipped_hunks == (1 if reason else 0)


def test_include_and_exclude_globs() -> None:
    paths = ["src/app.py", "src/sub/deep.py", "docs/guide.md", "tests/test_app.py", "setup.cfg"]
    diff = "".join(_one_line_diff(p) for p in paths)

    def reviewed(include: tuple[str, ...] = (), exclude: tuple[str, ...] = ()) -> list[str]:
        settings = replace(SETTINGS, include=include, exclude=exclude)
        return [h.path for h in parse_diff(diff, settings=settings).hunks]

    assert reviewed() == paths
    assert reviewed(include=("*.py",)) == ["src/app.py", "src/sub/deep.py", "tests/test_app.py"]
    assert reviewed(include=("src/*.py",)) == ["src/app.py", "src/sub/deep.py"]
    assert reviewed(include=("src/",)) == ["src/app.py", "src/sub/deep.py"]
    assert reviewed(exclude=("tests/", "*.md")) == ["src/app.py", "src/sub/deep.py", "setup.cfg"]
    assert reviewed(exclude=("deep.py",)) == [p for p in paths if p != "src/sub/deep.py"]
    assert reviewed(exclude=("sub",)) == [p for p in paths if p != "src/sub/deep.py"]
    assert reviewed(include=("*.py",), exclude=("test_*",)) == ["src/app.py", "src/sub/deep.py"]
    reasons = {f.path: f.skipped_reason
               for f in parse_diff(diff, settings=replace(SETTINGS, include=("*.py",),
                                                          exclude=("test_*",))).files}
    assert reasons["docs/guide.md"] == "not in settings include"
    assert reasons["tests/test_app.py"] == "excluded by settings"


def test_a_bang_glob_takes_back_what_the_built_in_skips_or_an_earlier_glob_left_out() -> None:
    paths = ["vendor/ours/lib.py", "vendor/theirs/lib.py", "docs/guide.md", "docs/api/ref.md",
             "poetry.lock", "src/app.py"]
    diff = "".join(_one_line_diff(p) for p in paths)

    def reasons(*exclude: str) -> dict[str, str | None]:
        files = parse_diff(diff, settings=replace(SETTINGS, exclude=exclude)).files
        return {f.path: f.skipped_reason for f in files}

    assert reasons()["vendor/ours/lib.py"] == "vendored code"
    assert reasons("!vendor/ours/") == {
        "vendor/ours/lib.py": None, "vendor/theirs/lib.py": "vendored code",
        "docs/guide.md": None, "docs/api/ref.md": None, "poetry.lock": "lock file",
        "src/app.py": None}
    docs = reasons("docs/", "!docs/api/")
    assert docs["docs/guide.md"] == "excluded by settings" and docs["docs/api/ref.md"] is None
    # The last matching glob wins: a later exclude undoes an earlier take-back.
    assert reasons("!poetry.lock")["poetry.lock"] is None
    assert reasons("!poetry.lock", "*.lock")["poetry.lock"] == "excluded by settings"


def test_path_matches() -> None:
    assert path_matches("a/b/c.py", "*.py") and path_matches("a/b/c.py", "c.py")
    assert path_matches("a/b/c.py", "/a/") and path_matches("a/b/c.py", "./a/b/*")
    assert not path_matches("a/b/c.py", "c.py/") and not path_matches("a/b/c.py", "")
    assert not path_matches("a/b/c.py", "*.PY")  # case-sensitive on every platform


def test_paths_argument_keeps_only_those_files() -> None:
    diff = "".join(_one_line_diff(p) for p in ("a.py", "src/b.py", "src/c.py", "d.py"))
    diff += ("diff --git a/old.py b/moved.py\nsimilarity index 90%\nrename from old.py\n"
             "rename to moved.py\n--- a/old.py\n+++ b/moved.py\n@@ -1 +1 @@\n-a\n+b\n")
    result = parse_diff(diff, settings=SETTINGS, paths=["a.py", "./src/", "old.py"])
    assert [f.path for f in result.files] == ["a.py", "src/b.py", "src/c.py", "moved.py"]
    assert result.skipped_hunks == 0  # left out entirely, not skipped


# --- splitting --------------------------------------------------------------------------


def _big_change() -> tuple[str, str]:
    old = "".join(f"line {n}\n" for n in range(1, 601))
    new_lines = []
    for n in range(1, 601):
        if n % 3 == 0:
            new_lines.append(f"changed {n}\n")
        elif n % 7 == 0:
            continue
        else:
            new_lines.append(f"line {n}\n")
        if n % 50 == 0:
            new_lines += ["\n", f"inserted after {n}\n"]
    return old, "".join(new_lines)


def test_long_hunks_are_split_into_valid_parts(git_repo: Path) -> None:
    commit_base(git_repo, ())
    old, new = _big_change()
    (git_repo / "big.txt").write_text(old)
    git(git_repo, "add", "-A")
    git(git_repo, "commit", "-q", "-m", "old")
    (git_repo / "big.txt").write_text(new)
    git(git_repo, "add", "-A")

    whole = _review_staged(git_repo, replace(SETTINGS, max_hunk_lines=100_000)).hunks
    assert len(whole) == 1 and whole[0].part == 0
    parts = _review_staged(git_repo, replace(SETTINGS, max_hunk_lines=100)).hunks
    assert len(parts) > 5
    assert [h.part for h in parts] == list(range(1, len(parts) + 1))
    assert all(len(h.lines) <= 100 for h in parts)
    assert all(h.extra["parts"] == str(len(parts)) for h in parts)
    assert [ln for h in parts for ln in h.lines] == list(whole[0].lines)
    new_lines = new.split("\n")
    for hunk in parts:
        assert hunk.new_length == len(hunk.new_side)
        assert hunk.old_length == sum(1 for ln in hunk.lines if ln.kind != "+")
        for number, text in hunk.new_side:
            assert new_lines[number - 1] == text
        for number, text in hunk.context_before + hunk.context_after:
            assert new_lines[number - 1] == text

    # The parts, put back together as a patch, apply to the old file with git itself.
    patch = "--- a/big.txt\n+++ b/big.txt\n" + "".join(h.diff_text() for h in parts)
    git(git_repo, "checkout", "-q", "HEAD", "--", "big.txt")
    result = subprocess.run(["git", "apply", "--unidiff-zero", "-"], cwd=git_repo,
                            input=patch.encode(), capture_output=True, check=False)
    assert result.returncode == 0, result.stderr.decode()
    assert (git_repo / "big.txt").read_text() == new


def test_a_removal_only_part_names_the_line_before_it() -> None:
    removed = "".join(f"-gone {n}\n" for n in range(1, 31))
    diff = f"--- a/x.txt\n+++ b/x.txt\n@@ -1,32 +1,2 @@\n keep\n{removed} end\n"
    parts = parse_diff(diff, settings=replace(SETTINGS, max_hunk_lines=10)).hunks
    assert len(parts) == 4
    assert (parts[1].new_start, parts[1].new_length) == (1, 0)
    assert (parts[1].old_start, parts[1].old_length) == (11, 10)
    assert (parts[-1].new_start, parts[-1].new_length) == (2, 1)


# --- bad input, and speed ---------------------------------------------------------------


def test_a_truncated_diff_is_a_one_line_error_without_its_content() -> None:
    diff = "--- a/x.py\n+++ b/x.py\n@@ -1,5 +1,6 @@\n a\n+API_KEY = 'sk-live-abcdef123456'\n"
    with pytest.raises(InputError) as err:
        parse_diff(diff, settings=SETTINGS)
    message = str(err.value)
    assert "truncated or corrupt" in message and "\n" not in message
    assert "sk-live" not in message


def test_a_corrupt_hunk_line_is_reported_without_its_content() -> None:
    diff = "--- a/x.py\n+++ b/x.py\n@@ -1,2 +1,2 @@\n a\n*password=hunter2\n b\n"
    with pytest.raises(InputError) as err:
        parse_diff(diff, settings=SETTINGS)
    assert "hunter2" not in str(err.value)


def _git_file(name: str, hunk: str) -> str:
    return (f"diff --git a/{name} b/{name}\nindex 1111111..2222222 100644\n"
            f"--- a/{name}\n+++ b/{name}\n{hunk}")


def test_a_hunk_cut_short_by_the_next_file_says_what_the_whole_diff_says() -> None:
    # Files are parsed one git section at a time; a section that fails is the whole diff's
    # error, not the section's ("Hunk diff line expected", not "Hunk is shorter").
    diff = (_git_file("a.py", "@@ -1,2 +1,3 @@\n a\n+b\n")
            + _git_file("b.py", "@@ -1,2 +1,2 @@\n x\n-y\n+z\n"))
    with pytest.raises(InputError) as err:
        parse_diff(diff, settings=SETTINGS)
    assert "(Hunk diff line expected)" in str(err.value)


def test_files_parsed_section_by_section_are_the_files_of_the_whole_diff() -> None:
    preamble = "From 123 Mon Sep 17 00:00:00 2001\nSubject: diff --git in a mail\n\n"
    diff = preamble + "".join(
        _git_file(f"m{i}.py", f"@@ -1,3 +1,4 @@ def f{i}():\n a\n b\n+c{i}\n d\n")
        for i in range(3))
    hunks = parse_diff(diff, settings=SETTINGS).hunks
    assert [(h.path, h.section_header, h.added) for h in hunks] == [
        (f"m{i}.py", f"def f{i}():", [(3, f"c{i}")]) for i in range(3)]


def test_context_lines_are_the_diff_lines_own_text_not_a_copy() -> None:
    # A huge diff's memory: a line shown as context of one hunk and as a diff line of the next
    # is one string, not two.
    staged = "".join(f"line {n}\n" for n in range(1, 21))
    diff = ("--- a/x.txt\n+++ b/x.txt\n@@ -2,3 +2,3 @@\n line 2\n-old 3\n+line 3\n line 4\n"
            "@@ -8,3 +8,3 @@\n line 8\n-old 9\n+line 9\n line 10\n")
    first, second = parse_diff(diff, settings=replace(SETTINGS, context_lines=4),
                               read_new_file=lambda _: staged.encode()).hunks
    shown_after = dict(first.context_after)
    assert shown_after[8] == "line 8" and shown_after[8] is second.lines[0].text


def test_text_that_is_not_a_diff_is_refused() -> None:
    with pytest.raises(InputError, match="not a unified diff"):
        parse_diff("just some words\n", settings=SETTINGS)
    assert parse_diff("", settings=SETTINGS) == HunkSet(files=[], hunks=[], skipped_hunks=0)


def test_unmerged_paths_of_a_conflicted_merge_are_not_an_error() -> None:
    assert parse_diff("* Unmerged path f.py\n", settings=SETTINGS).hunks == []
    with_staged = "* Unmerged path f.py\n" + _one_line_diff("g.py")
    assert [h.path for h in parse_diff(with_staged, settings=SETTINGS).hunks] == ["g.py"]


@pytest.mark.slow
def test_a_hundred_thousand_line_diff_parses_quickly() -> None:
    n = 100_000
    body = "".join(f"+value_{i} = {i}\n" for i in range(n))
    data = f"diff --git a/big.py b/big.py\nnew file mode 100644\n--- /dev/null\n+++ b/big.py\n@@ -0,0 +1,{n} @@\n{body}"
    blob = "".join(f"value_{i} = {i}\n" for i in range(n)).encode()
    start = time.perf_counter()
    hunk_set = parse_diff(decode_diff_bytes(data.encode()),
                          settings=replace(SETTINGS, context_lines=3), read_new_file=lambda _: blob)
    elapsed = time.perf_counter() - start
    assert sum(len(h.added) for h in hunk_set.hunks) == n
    assert hunk_set.hunks[1].context_before[-1] == (200, "value_199 = 199")
    assert elapsed < 3.0, f"{elapsed:.2f}s"


@pytest.mark.slow
def test_a_five_thousand_file_diff_parses_quickly() -> None:
    diff = "".join(
        f"diff --git a/pkg/m{i}.py b/pkg/m{i}.py\nindex 1111111..2222222 100644\n"
        f"--- a/pkg/m{i}.py\n+++ b/pkg/m{i}.py\n@@ -1,3 +1,4 @@\n a\n b\n+c\n d\n"
        for i in range(5000)
    )
    start = time.perf_counter()
    hunk_set = parse_diff(diff, settings=SETTINGS, read_new_file=lambda _: b"a\nb\nc\nd\n")
    elapsed = time.perf_counter() - start
    assert len(hunk_set.files) == 5000 and len(hunk_set.hunks) == 5000
    assert elapsed < 3.0, f"{elapsed:.2f}s"


@pytest.mark.parametrize("name", ["a/plain.py", "a/tab\there.py", 'a/q"uote.py', "a/back\\slash.py",
                                  "a/sp ace.py", "a/café.py", "a/bell\x07\x01"])
def test_quote_git_path_is_the_inverse_of_unquote(name: str) -> None:
    quoted = quote_git_path(name)
    assert unquote_git_path(quoted) == name
    assert quoted.startswith('"') == any(c in '"\\' or ord(c) < 0x20 for c in name)


CALLER_OLD = "\n".join([
    "class Shape:",
    "    def area(self, scale):",
    "        return scale",
    "",
    "def resize(value, factor,",
    "           limit):",
    "    return min(value * factor, limit)",
    "",
    *(f"step_{i} = {i}" for i in range(10)),
    "size = resize(step_1, 2, 10)",
    "done = True",
    "",
])


def test_a_changed_call_brings_the_def_it_calls_from_outside_the_hunk(git_repo: Path) -> None:
    commit(git_repo, "shapes.py", CALLER_OLD)
    new = CALLER_OLD.replace("size = resize(step_1, 2, 10)",
                             "size = resize(step_1, 2) + Shape().area(3) + len([])")
    stage(git_repo, "shapes.py", new)
    [hunk] = _review_staged(git_repo).hunks

    # git's context starts at line 15; the def of resize (two lines, up to its colon) and of
    # area come along, a builtin (len) and the unchanged lines' calls do not.
    assert hunk.context_before == ((2, "    def area(self, scale):"),
                                   (5, "def resize(value, factor,"), (6, "           limit):"))
    assert hunk.context_after == ()
    assert hunk.first_line == 16


def test_a_def_the_hunk_shows_or_the_file_defines_twice_is_not_repeated(git_repo: Path) -> None:
    text = "def twice(a):\n    return a\n\ndef twice(a, b):\n    return b\n\nx = 1\n"
    commit(git_repo, "dup.py", text)
    stage(git_repo, "dup.py",
          text.replace("x = 1", "x = twice(1)\ndef here(v):\n    return here(v)"))
    [hunk] = _review_staged(git_repo).hunks
    assert hunk.context_before == () and hunk.context_after == ()


def _three_files(prefix: str) -> str:
    return "".join(f"diff --git a/{prefix}{i}.py b/{prefix}{i}.py\n--- a/{prefix}{i}.py\n"
                   f"+++ b/{prefix}{i}.py\n@@ -1 +1 @@\n-x = {i}\n+x = {i + 1}\n"
                   for i in range(3))


def test_a_diff_is_parsed_as_far_as_its_hunks_are_asked_for() -> None:
    """The engine starts on the first hunks of a huge change while the rest is unparsed:
    taking one hunk parses one file, and the hunks come out as parse_diff gives them."""
    text = _three_files("a") + _three_files("b")
    parse = DiffParse(text, settings=Settings())
    hunks = parse.iter_hunks()
    assert next(hunks).path == "a0.py"
    assert [f.path for f in parse.files] == ["a0.py"] and not parse.done
    assert parse.has_hunks() and len(parse.files) == 1
    rest = list(hunks)
    assert parse.done
    assert [h.path for h in rest] == ["a1.py", "a2.py", "b0.py", "b1.py", "b2.py"]
    assert parse.finish() == parse_diff(text, settings=Settings())


def test_a_diff_corrupt_part_way_fails_where_parsing_reaches_it() -> None:
    """The files before the damage are parsed; the error is the one parse_diff gives."""
    corrupt = "diff --git a/z.py b/z.py\n--- a/z.py\n+++ b/z.py\n@@ -1,5 +1,5 @@\n-x = 1\n+x = 2\n"
    text = _three_files("a") + corrupt + _three_files("b")
    parse = DiffParse(text, settings=Settings())
    seen: list[str] = []
    with pytest.raises(InputError, match="truncated or corrupt") as error:
        seen.extend(h.path for h in parse.iter_hunks())
    assert seen == ["a0.py", "a1.py", "a2.py"]
    with pytest.raises(InputError, match="truncated or corrupt"):
        parse.finish()  # never a HunkSet of the part before the damage
    with pytest.raises(InputError) as whole:
        parse_diff(text, settings=Settings())
    assert str(whole.value) == str(error.value)
