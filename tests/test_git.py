"""git.py against real repositories in temp dirs: what is read, and that nothing is written."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from aider_hooks.diff import git as g
from aider_hooks.errors import GitError, InputError
from testing.repos import git
from testing.git_shapes import (
    APP_STAGED,
    UNSTAGED,
    commit_base,
    index_digest,
    stage_all_shapes,
    stage_first_commit,
    stage_modified_file,
)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def _commit(repo: Path, files: dict[str, str], message: str = "c") -> str:
    for name, text in files.items():
        _write(repo / name, text)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD").strip()


# --- finding the repository ---------------------------------------------------------------


def test_repo_root_is_found_from_a_subdirectory(git_repo: Path) -> None:
    sub = git_repo / "a" / "b"
    sub.mkdir(parents=True)
    assert g.find_repo_root(sub).resolve() == git_repo.resolve()


def test_outside_a_repository_says_what_to_do(tmp_path: Path) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    with pytest.raises(InputError) as err:
        g.find_repo_root(plain)
    message = str(err.value)
    assert "not a git repository" in message and "--diff FILE" in message
    assert "\n" not in message


def test_a_bare_repository_is_refused_with_a_reason(tmp_path: Path) -> None:
    bare = tmp_path / "bare.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    with pytest.raises(InputError, match="bare repository"):
        g.find_repo_root(bare)


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0, reason="needs root to chown")
def test_a_repository_owned_by_someone_else_names_the_fix(git_repo: Path) -> None:
    for path in [git_repo, *git_repo.rglob("*")]:
        os.chown(path, 65534, 65534, follow_symlinks=False)
    with pytest.raises(GitError) as err:
        g.find_repo_root(git_repo)
    assert f"safe.directory {git_repo}" in str(err.value)


def test_a_missing_directory_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="directory not found"):
        g.find_repo_root(tmp_path / "nope")


def test_git_missing_from_path_is_a_one_line_input_error(
    git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    with pytest.raises(InputError) as err:
        g.find_repo_root(git_repo)
    assert str(err.value).startswith("git is not installed or not on PATH")
    with pytest.raises(InputError, match="not on PATH"):
        g.BlobReader(git_repo)("README.md")


# --- staged changes -----------------------------------------------------------------------


def test_has_staged_changes_follows_the_index_not_the_work_tree(git_repo: Path) -> None:
    assert g.has_staged_changes(git_repo) is False  # empty, no HEAD
    _write(git_repo / "a.txt", "one\n")
    assert g.has_staged_changes(git_repo) is False  # untracked is not staged
    git(git_repo, "add", "a.txt")
    assert g.has_staged_changes(git_repo) is True  # staged before the first commit
    git(git_repo, "commit", "-q", "-m", "first")
    assert g.has_staged_changes(git_repo) is False
    _write(git_repo / "a.txt", "two\n")
    assert g.has_staged_changes(git_repo) is False  # unstaged edit only
    git(git_repo, "add", "a.txt")
    assert g.has_staged_changes(git_repo) is True


def test_staged_diff_before_the_first_commit_shows_new_files(git_repo: Path) -> None:
    stage_first_commit(git_repo)
    assert g.head_sha(git_repo) is None
    diff = g.staged_diff(git_repo).decode(errors="replace")
    assert "new file mode" in diff and "+++ b/hello.py" in diff
    assert "+print('first')" in diff
    assert UNSTAGED not in diff


def test_staged_diff_holds_only_staged_content(git_repo: Path) -> None:
    stage_modified_file(git_repo)
    diff = g.staged_diff(git_repo).decode(errors="replace")
    assert "+    tax = subtotal * 0.2" in diff
    assert UNSTAGED not in diff


def test_staged_diff_is_limited_to_the_given_paths(git_repo: Path) -> None:
    stage_all_shapes(git_repo)
    diff = g.staged_diff(git_repo, ["src/app.py", "my dir"]).decode(errors="replace")
    assert "b/src/app.py" in diff and "b/my dir/my file.txt" in diff
    assert "windows.txt" not in diff and "legacy.txt" not in diff


def test_paths_are_literal_not_globs(git_repo: Path) -> None:
    commit_base(git_repo, ())
    _write(git_repo / "[ab].py", "x = 1\n")
    _write(git_repo / "a.py", "y = 2\n")
    git(git_repo, "add", "-A")
    diff = g.staged_diff(git_repo, ["[ab].py"]).decode(errors="replace")
    assert "b/[ab].py" in diff and "b/a.py" not in diff


def test_thousands_of_paths_are_sent_in_batches(git_repo: Path) -> None:
    commit_base(git_repo, ())
    names = [f"dir/{'long_name_' * 4}{n:04d}.txt" for n in range(600)]  # ~30 KB of pathspecs
    for name in names[:3] + names[-3:]:
        _write(git_repo / name, "x\n")
    git(git_repo, "add", "-A")
    diff = g.staged_diff(git_repo, names).decode(errors="replace")
    assert diff.count("diff --git") == 6


def test_renames_are_detected(git_repo: Path) -> None:
    shapes = stage_all_shapes(git_repo)
    assert shapes["rename_with_edit"].old_path == "docs/guide.md"
    diff = g.staged_diff(git_repo).decode(errors="replace")
    assert "rename from docs/guide.md" in diff and "rename to docs/handbook.md" in diff


def test_non_ascii_paths_are_not_octal_quoted(git_repo: Path) -> None:
    stage_all_shapes(git_repo)
    diff = g.staged_diff(git_repo).decode("utf-8", errors="replace")
    assert "+++ b/données/café.py" in diff


# --- revision ranges ----------------------------------------------------------------------


@pytest.fixture
def branched_repo(git_repo: Path) -> tuple[Path, str, str]:
    """main: base -> main-only; feature (checked out): base -> feature-only."""
    base = _commit(git_repo, {"shared.txt": "base\n"}, "base")
    git(git_repo, "checkout", "-q", "-b", "feature")
    feature = _commit(git_repo, {"feature.txt": "feature work\n"}, "feature")
    git(git_repo, "checkout", "-q", "main")
    _commit(git_repo, {"main.txt": "main work\n"}, "main")
    git(git_repo, "checkout", "-q", "feature")
    return git_repo, base, feature


def test_three_dot_range_is_the_branch_since_it_forked(branched_repo: tuple[Path, str, str]) -> None:
    repo, _, _ = branched_repo
    diff = g.range_diff(repo, "main...feature").decode(errors="replace")
    assert "+feature work" in diff and "main.txt" not in diff


def test_two_dot_range_compares_the_two_tips(branched_repo: tuple[Path, str, str]) -> None:
    repo, _, _ = branched_repo
    diff = g.range_diff(repo, "main..feature").decode(errors="replace")
    assert "+feature work" in diff and "-main work" in diff


def test_a_single_revision_means_from_there_to_head(branched_repo: tuple[Path, str, str]) -> None:
    repo, base, _ = branched_repo
    assert g.range_diff(repo, base) == g.range_diff(repo, f"{base}..HEAD")
    assert g.range_diff(repo, f"{base}..") == g.range_diff(repo, f"{base}..HEAD")
    assert "+feature work" in g.range_diff(repo, base).decode(errors="replace")


def test_unknown_revision_names_it(branched_repo: tuple[Path, str, str]) -> None:
    repo, _, _ = branched_repo
    with pytest.raises(GitError) as err:
        g.range_diff(repo, "main...no-such-branch")
    assert "'no-such-branch'" in str(err.value) and "\n" not in str(err.value)


def test_a_revision_that_looks_like_an_option_is_refused(branched_repo: tuple[Path, str, str]) -> None:
    repo, _, _ = branched_repo
    with pytest.raises(InputError, match="invalid revision"):
        g.range_diff(repo, "--output=/tmp/x..HEAD")
    with pytest.raises(InputError, match="empty revision range"):
        g.range_diff(repo, "  ")


# --- reading blobs ------------------------------------------------------------------------


def test_staged_blob_is_the_index_version_not_the_work_tree(git_repo: Path) -> None:
    stage_modified_file(git_repo)
    assert g.read_staged_blob(git_repo, "src/app.py") == APP_STAGED.encode()
    assert UNSTAGED in (git_repo / "src" / "app.py").read_text()
    assert g.read_staged_blob(git_repo, "no/such/file.py") is None


def test_blob_reads_refuse_paths_that_leave_the_repository(git_repo: Path) -> None:
    stage_modified_file(git_repo)
    for bad in ("../outside.txt", "/etc/passwd", "src/../../x", "", "a\nb"):
        assert g.read_staged_blob(git_repo, bad) is None
        assert g.BlobReader(git_repo)(bad) is None


def test_a_path_that_looks_like_a_stage_number_is_read_as_a_path(git_repo: Path) -> None:
    commit_base(git_repo, ())
    _write(git_repo / "1:odd.txt", "odd\n")
    git(git_repo, "add", "-A")
    assert g.read_staged_blob(git_repo, "1:odd.txt") == b"odd\n"
    with g.BlobReader(git_repo) as reader:
        assert reader("1:odd.txt") == b"odd\n"


def test_read_blob_at_a_revision(branched_repo: tuple[Path, str, str]) -> None:
    repo, base, feature = branched_repo
    assert g.read_blob(repo, feature, "feature.txt") == b"feature work\n"
    assert g.read_blob(repo, base, "feature.txt") is None
    assert g.read_blob(repo, base, "shared.txt") == b"base\n"


def test_blob_reader_reads_many_files_through_one_process(git_repo: Path) -> None:
    shapes = stage_all_shapes(git_repo)
    with g.BlobReader(git_repo) as reader:
        for shape in shapes.values():
            if shape.status != "deleted" and shape.staged_text is not None:
                data = reader(shape.path)
                assert data is not None and UNSTAGED.encode() not in data
        assert reader("src") is None  # a directory is not a blob
        assert reader("obsolete.txt") is None  # deleted from the index
        assert reader("assets/logo.png") is not None  # binary content is still a blob
        assert reader("src/app.py") == APP_STAGED.encode()  # again, after many others


def test_head_sha(git_repo: Path) -> None:
    assert g.head_sha(git_repo) is None
    sha = _commit(git_repo, {"a": "a\n"})
    assert g.head_sha(git_repo) == sha


# --- never writing, and surviving the user's configuration --------------------------------


def test_the_index_is_byte_identical_after_every_read(git_repo: Path) -> None:
    stage_all_shapes(git_repo)
    base = git(git_repo, "rev-parse", "HEAD").strip()
    # Make the index's stat information stale, so that any command that refreshes it would
    # want to write it back.
    for path in ("README.md", "src/app.py", "legacy.txt"):
        os.utime(git_repo / path, (1_000_000_000, 1_000_000_000))
    before = index_digest(git_repo)
    mtime = os.stat(git_repo / ".git" / "index").st_mtime_ns

    g.find_repo_root(git_repo)
    g.has_staged_changes(git_repo)
    g.staged_diff(git_repo)
    g.staged_diff(git_repo, ["src/app.py"])
    g.range_diff(git_repo, f"{base}..HEAD")
    g.read_staged_blob(git_repo, "src/app.py")
    with g.BlobReader(git_repo) as reader:
        reader("src/app.py")

    assert index_digest(git_repo) == before
    assert os.stat(git_repo / ".git" / "index").st_mtime_ns == mtime
    assert not (git_repo / ".git" / "index.lock").exists()
    # The check means something: a plain `git status` does rewrite this index.
    git(git_repo, "status", "--porcelain")
    assert index_digest(git_repo) != before


def _hostile_config(home: Path, repo: Path) -> None:
    external = home / "external-diff.sh"
    external.write_text("#!/bin/sh\necho 'EXTERNAL DIFF RAN'\n")
    external.chmod(external.stat().st_mode | stat.S_IEXEC)
    (home / ".gitconfig").write_text(
        "[init]\n\tdefaultBranch = main\n"
        "[diff]\n\tnoprefix = true\n\tmnemonicPrefix = true\n\tcontext = 0\n"
        f"\texternal = {external}\n\trenames = false\n\tsubmodule = log\n\trelative = true\n"
        "[color]\n\tui = always\n\tdiff = always\n"
        "[core]\n\tquotepath = true\n"
        "[diff \"shout\"]\n\ttextconv = tr a-z A-Z\n"
    )
    (repo / ".git" / "info").mkdir(exist_ok=True)
    (repo / ".git" / "info" / "attributes").write_text("*.txt diff=shout\n")


def test_user_gitconfig_cannot_change_the_diff(
    git_repo: Path, isolated_environment: Path
) -> None:
    stage_all_shapes(git_repo)
    clean = g.staged_diff(git_repo)
    _hostile_config(isolated_environment, git_repo)
    plain = subprocess.run(["git", "diff", "--cached"], cwd=git_repo, capture_output=True,
                           check=True).stdout
    assert b"EXTERNAL DIFF RAN" in plain  # the configuration really is hostile
    hostile = g.staged_diff(git_repo)
    assert hostile == clean
    text = hostile.decode(errors="replace")
    assert "EXTERNAL DIFF RAN" not in text and "\x1b[" not in text
    assert "+++ b/legacy.txt" in text and "+naïve café".encode("latin-1") in hostile
    assert "rename from docs/guide.md" in text
    assert g.has_staged_changes(git_repo) is True


# --- GIT_INDEX_FILE: what a commit hook must review ---------------------------------------


def test_an_alternate_index_named_by_git_index_file_is_honoured(
    git_repo: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _commit(git_repo, {"a.txt": "one\n", "b.txt": "bee\n"})
    _write(git_repo / "a.txt", "one\nin the main index\n")
    git(git_repo, "add", "a.txt")
    alternate = git_repo / ".git" / "alt-index"
    env = {**os.environ, "GIT_INDEX_FILE": str(alternate)}
    subprocess.run(["git", "read-tree", "HEAD"], cwd=git_repo, env=env, check=True)
    _write(git_repo / "b.txt", "bee\nonly in the alternate index\n")
    subprocess.run(["git", "add", "b.txt"], cwd=git_repo, env=env, check=True)
    _write(git_repo / "b.txt", "bee\n")

    monkeypatch.chdir(git_repo)
    monkeypatch.setenv("GIT_INDEX_FILE", ".git/alt-index")  # relative, as git passes it
    assert g.git_env()["GIT_INDEX_FILE"] == str(alternate.resolve())
    diff = g.staged_diff(git_repo).decode(errors="replace")
    assert "+only in the alternate index" in diff and "in the main index" not in diff
    assert g.read_staged_blob(git_repo, "b.txt") == b"bee\nonly in the alternate index\n"
    with g.BlobReader(git_repo) as reader:
        assert reader("a.txt") == b"one\n"


HOOK_PROGRAM = """
import os, sys
from pathlib import Path
from aider_hooks.diff import git
root = git.find_repo_root(Path.cwd())
Path(sys.argv[1]).write_bytes(git.staged_diff(root))
"""


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX hook script / symlink")
@pytest.mark.parametrize("commit_args", [["-a"], ["--", "a.txt"]], ids=["commit -a", "commit PATH"])
def test_a_pre_commit_hook_reviews_what_is_being_committed(
    git_repo: Path, tmp_path: Path, commit_args: list[str]
) -> None:
    _commit(git_repo, {"a.txt": "one\n", "b.txt": "bee\n"})
    program = tmp_path / "hook_program.py"
    program.write_text(HOOK_PROGRAM)
    captured = tmp_path / "captured.diff"
    hook = git_repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{program}" "{captured}"\n')
    hook.chmod(0o755)
    _write(git_repo / "a.txt", "one\nnot staged beforehand\n")  # only `commit -a/PATH` takes it

    git(git_repo, "commit", "-q", "-m", "hooked", *commit_args)

    diff = captured.read_text()
    assert "+not staged beforehand" in diff and "+++ b/a.txt" in diff


def test_commits_present_reads_the_object_database(git_repo: Path) -> None:
    from aider_hooks.diff.git import commits_present, git_dir

    (git_repo / "a.txt").write_text("a\n")
    subprocess.run(["git", "add", "a.txt"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "a"], cwd=git_repo, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=git_repo, capture_output=True,
                          text=True, check=True).stdout.strip()
    assert commits_present(git_repo, [head])
    assert not commits_present(git_repo, [head, "0" * 40])
    assert not commits_present(git_repo.parent, [head])  # not a repository
    assert git_dir(git_repo) == git_repo / ".git"


def test_git_dir_follows_git_dir_and_worktrees_and_says_when_there_is_none(
        git_repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from aider_hooks.errors import InputError
    from aider_hooks.diff.git import git_dir

    (git_repo / "a.txt").write_text("a\n")
    subprocess.run(["git", "add", "a.txt"], cwd=git_repo, check=True)
    subprocess.run(["git", "commit", "-qm", "a"], cwd=git_repo, check=True)
    worktree = tmp_path / "wt"
    subprocess.run(["git", "worktree", "add", "-q", str(worktree)], cwd=git_repo, check=True)
    assert git_dir(worktree).parent == (git_repo / ".git" / "worktrees").resolve()
    # The dotfiles pattern: a bare repository with GIT_DIR and GIT_WORK_TREE set.
    bare, home = tmp_path / "dotfiles.git", tmp_path / "home"
    home.mkdir()
    subprocess.run(["git", "init", "-q", "--bare", str(bare)], check=True)
    monkeypatch.setenv("GIT_DIR", str(bare))
    monkeypatch.setenv("GIT_WORK_TREE", str(home))
    assert git_dir(home) == bare.resolve()
    monkeypatch.delenv("GIT_DIR")
    monkeypatch.delenv("GIT_WORK_TREE")
    outside = tmp_path / "plain"
    outside.mkdir()
    with pytest.raises(InputError, match="not in a git repository"):
        git_dir(outside)
