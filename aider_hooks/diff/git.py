"""All git access, as small read-only functions over plain ``subprocess``.

This module is on the per-commit path, so it imports nothing heavier than ``subprocess``
(GitPython alone costs ~80 ms to import). Every command is read-only: we never add, stash or
refresh the index, and run with ``--no-optional-locks`` so that even ``git diff`` leaves the
index file byte-identical.

Output must be parseable whatever the user's gitconfig says, so every diff is run with
explicit prefixes, no colour, no external diff driver and no textconv, and paths are printed
unquoted (``core.quotepath=false``); the parser still decodes C-quoted names, which git uses
for names with quotes, backslashes or control characters.

Environment, when run as a git hook: git exports ``GIT_INDEX_FILE`` (and sometimes
``GIT_DIR``/``GIT_WORK_TREE``). We keep them, because during ``git commit -a`` or
``git commit PATH`` ``GIT_INDEX_FILE`` names the temporary index that holds what is being
committed, which is exactly what must be reviewed. Relative values (git passes
``.git/index`` for a plain commit) are made absolute against the current directory, so they
stay right when we run git from the repository root.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from aider_hooks.diff.spawn import git_env as git_env  # re-exported: every git of ours uses it
from aider_hooks.diff.spawn import run_captured as run_captured
from aider_hooks.errors import GitError, InputError

# Not ``typing.TYPE_CHECKING``: importing typing (and dataclasses) would cost the no-op hook
# several milliseconds; mypy treats any TYPE_CHECKING constant the same way.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import subprocess
    import threading
    from collections.abc import Callable
    from typing import IO

    OnOutput = Callable[[bytes], None]  # sees each piece of a git command's output

# Options that make git's output independent of the user's configuration.
_GLOBAL_OPTIONS = (
    "--no-optional-locks",  # never write the index, not even a stat refresh
    "--literal-pathspecs",  # a file named "[ab].py" is that file, not a glob
    "-c", "core.quotepath=false",
    "-c", "color.ui=never",
    "-c", "diff.noprefix=false",
    "-c", "diff.mnemonicPrefix=false",
    "-c", "diff.submodule=short",
)
DIFF_OPTIONS = (
    "--no-color",
    "--no-ext-diff",
    "--no-textconv",
    "--src-prefix=a/",
    "--dst-prefix=b/",
    "-M",  # rename detection: a renamed file is reviewed as an edit, not a new file
    "--unified=3",  # the same hunks whatever diff.context says, so cache keys are stable
    "--submodule=short",
)
# Keep each command line well under every platform's argument limit (Windows: 32 KiB).
_MAX_PATHSPEC_CHARS = 16_000

_GIT_MISSING = "git is not installed or not on PATH: install git, or review a saved diff with --diff FILE"


class GitRun:
    """What one git command did (the fields of ``subprocess.CompletedProcess`` we read)."""

    __slots__ = ("returncode", "stdout", "stderr")

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode = returncode
        self.stdout = stdout
        self.stderr = stderr


def _git(
    cwd: Path,
    *args: str,
    ok_codes: Sequence[int] = (0,),
    what: str | None = None,
    on_output: OnOutput | None = None,
) -> GitRun:
    """Run one read-only git command; failures become ``GitError``/``InputError``.
    ``on_output`` sees each piece of its output as git writes it."""
    command = ["git", *_GLOBAL_OPTIONS, *args]
    try:
        result = GitRun(*run_captured(command, git_env(), cwd, on_output))
    except FileNotFoundError:
        if not Path(cwd).is_dir():
            raise InputError(f"directory not found: {cwd}") from None
        raise InputError(_GIT_MISSING) from None
    except OSError as err:
        raise GitError(f"cannot run git: {err.strerror or err}") from None
    if result.returncode not in ok_codes:
        raise GitError(f"git {what or args[0]} failed: {_first_error_line(result.stderr)}")
    return result


def _first_error_line(stderr: bytes) -> str:
    """git's own explanation, one line, without the "fatal: " noise."""
    for raw in stderr.decode("utf-8", errors="replace").splitlines():
        line = raw.strip()
        for prefix in ("fatal: ", "error: "):
            if line.startswith(prefix):
                line = line[len(prefix):]
        if line:
            return line
    return "no error message (exit status unknown)"


def find_repo_root(cwd: Path | str) -> Path:
    """The top of the work tree that contains ``cwd``."""
    cwd = Path(cwd)
    if not cwd.is_dir():
        raise InputError(f"directory not found: {cwd}")
    result = _git(cwd, "rev-parse", "--show-toplevel", ok_codes=(0, 128, 1))
    if result.returncode == 0 and result.stdout.strip():
        return Path(os.fsdecode(result.stdout.rstrip(b"\r\n")))
    raise _not_a_work_tree(cwd, result.stderr)


def _not_a_work_tree(cwd: Path, stderr: bytes) -> InputError:
    message = _first_error_line(stderr)
    if "dubious ownership" in message:
        # git names the repository: "... dubious ownership in repository at '/path'".
        where = message.rsplit(" at ", 1)[-1].strip("'\"") if " at " in message else str(cwd)
        return GitError(
            f"git refuses {where}: it is owned by another user; if you trust it, run "
            f"`git config --global --add safe.directory {where}`"
        )
    inside_git_dir = _git(cwd, "rev-parse", "--is-inside-git-dir", ok_codes=(0, 128, 1))
    if inside_git_dir.returncode == 0:
        return InputError(
            f"{cwd} is a bare repository or a .git directory, with no work tree: run "
            "aider-review inside a checkout, or use --diff FILE"
        )
    return InputError(
        f"not a git repository (or any parent): {cwd}: run aider-review inside a repository, "
        "or use --diff FILE"
    )


def has_staged_changes(root: Path) -> bool:
    """True when the index differs from HEAD (or holds anything, before the first commit)."""
    result = _git(
        root, "diff", "--cached", "--quiet", "--no-ext-diff", "--no-textconv",
        ok_codes=(0, 1), what="diff --cached",
    )
    return result.returncode == 1


def staged_diff(root: Path, paths: Sequence[str] = (), *,
                on_output: OnOutput | None = None) -> bytes:
    """What ``git commit`` would record: the index against HEAD.

    Before the first commit git compares the index with the empty tree, so every staged file
    shows up as added. ``on_output``: see ``_diff_in_batches``.
    """
    return _diff_in_batches(root, ["diff", "--cached", *DIFF_OPTIONS], paths,
                            on_output=on_output)


class RevRange:
    """A parsed ``--range``: ``A...B`` (changes on B since it forked from A), ``A..B``
    (``git diff A B``) or ``A`` (short for ``A..HEAD``). An empty side means HEAD."""

    __slots__ = ("left", "right", "symmetric")

    def __init__(self, left: str, right: str, symmetric: bool) -> None:
        self.left = left
        self.right = right
        self.symmetric = symmetric

    def __repr__(self) -> str:
        return f"RevRange({self.left!r}, {self.right!r}, symmetric={self.symmetric})"


def parse_rev_range(rev_range: str) -> RevRange:
    spec = rev_range.strip()
    if not spec:
        raise InputError("empty revision range: give one like main...HEAD")
    if "..." in spec:
        left, _, right = spec.partition("...")
        symmetric = True
    elif ".." in spec:
        left, _, right = spec.partition("..")
        symmetric = False
    else:
        left, right, symmetric = spec, "HEAD", False
    left, right = left or "HEAD", right or "HEAD"
    for rev in (left, right):
        # A revision that looks like an option would be read as one (e.g. --output=FILE).
        if rev.startswith("-") or any(c.isspace() for c in rev):
            raise InputError(f"invalid revision {rev!r} in range {rev_range!r}")
    return RevRange(left=left, right=right, symmetric=symmetric)


def resolve_commit(root: Path, rev: str) -> str:
    """The full commit id ``rev`` names, or a GitError that names it."""
    if rev.startswith("-"):
        raise InputError(f"invalid revision {rev!r}")
    result = _git(root, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}", ok_codes=(0, 1, 128))
    sha = result.stdout.decode("ascii", errors="replace").strip()
    if result.returncode != 0 or not sha:
        raise GitError(
            f"unknown revision {rev!r}: check the name, or fetch it first "
            "(in CI, check out with full history, e.g. fetch-depth: 0)"
        )
    return sha


def range_diff(root: Path, rev_range: str, paths: Sequence[str] = (), *,
               on_output: OnOutput | None = None) -> bytes:
    """The diff of a revision range; see ``RevRange`` for the accepted forms."""
    parsed = parse_rev_range(rev_range)
    left = resolve_commit(root, parsed.left)
    right = resolve_commit(root, parsed.right)
    revs = [f"{left}...{right}"] if parsed.symmetric else [left, right]
    return _diff_in_batches(root, ["diff", *DIFF_OPTIONS, *revs], paths, on_output=on_output)


def staged_paths(root: Path) -> set[str]:
    """Every path the index changes against HEAD, old and new names of a rename both."""
    result = _git(root, "diff", "--cached", "--name-only", "--no-renames", "-z",
                  "--no-ext-diff", "--no-textconv", what="diff --cached")
    return {os.fsdecode(name) for name in result.stdout.split(b"\0") if name}


def empty_tree(root: Path) -> str:
    """The id of the empty tree in this repository's hash (SHA-1 or SHA-256)."""
    result = _git(root, "hash-object", "-t", "tree", "--stdin", what="hash-object")
    return result.stdout.decode("ascii", errors="replace").strip()


def whole_files_diff(root: Path, paths: Sequence[str]) -> bytes:
    """The work-tree content of the tracked files ``paths`` as if each were wholly added: the
    empty tree against the work tree. (What ``pre-commit run --all-files`` / ``--files`` ask
    for: nothing is staged there, and the hook must still look at the files.)"""
    if not paths:
        return b""
    return _diff_in_batches(root, ["diff", *DIFF_OPTIONS, "--no-renames", empty_tree(root)],
                            paths, renames=False)


def worktree_diff(root: Path, paths: Sequence[str] = (), *,
                  on_output: OnOutput | None = None) -> bytes:
    """Unstaged changes: the work tree against the index (``git diff``)."""
    return _diff_in_batches(root, ["diff", *DIFF_OPTIONS], paths, on_output=on_output)


def merge_base_exists(root: Path, left: str, right: str) -> bool:
    """Whether the two revisions share history (``A...B`` needs a merge base)."""
    if left.startswith("-") or right.startswith("-"):
        return False
    result = _git(root, "merge-base", left, right, ok_codes=(0, 1, 128), what="merge-base")
    return result.returncode == 0


def _diff_in_batches(root: Path, diff_args: list[str], paths: Sequence[str], *,
                     renames: bool = True, on_output: OnOutput | None = None) -> bytes:
    """Run the diff once, or once per batch of pathspecs when there are very many of them
    (pre-commit can pass thousands of file names; one command line would be too long).
    ``on_output`` sees the diff piece by piece as git writes it (the review starts work
    that a large diff needs before git has finished).

    A pathspec hides the other side of a rename: ``git diff -M -- new.py`` shows new.py as
    added, whole. So the old name of each rename (or copy) whose new name is wanted is added
    to the pathspecs, and the rename stays a rename (a pure one has nothing to review)."""
    if not paths:
        return _git(root, *diff_args, what="diff", on_output=on_output).stdout
    if renames:
        paths = [*paths, *_rename_sources(root, diff_args, paths)]
    chunks = [_git(root, *diff_args, "--", *batch, what="diff", on_output=on_output).stdout
              for batch in _batches(paths)]
    return b"".join(chunks)


def _rename_sources(root: Path, diff_args: list[str], paths: Sequence[str]) -> list[str]:
    """Old names of the renames and copies in the diff whose new name ``paths`` selects."""
    from aider_hooks.diff.paths import PathFilter

    listing = _git(root, *diff_args, "--name-status", "-z", what="diff").stdout
    fields = [os.fsdecode(f) for f in listing.split(b"\0")]
    wanted = PathFilter(paths)
    sources: list[str] = []
    at = 0
    while at < len(fields) and fields[at]:
        status = fields[at]
        if status[:1] in ("R", "C") and at + 2 < len(fields):
            old, new = fields[at + 1], fields[at + 2]
            if wanted(new) and not wanted(old):
                sources.append(old)
            at += 3
        else:
            at += 2
    return sources


def _batches(paths: Sequence[str]) -> list[list[str]]:
    batches: list[list[str]] = [[]]
    size = 0
    for path in paths:
        if batches[-1] and size + len(path) + 1 > _MAX_PATHSPEC_CHARS:
            batches.append([])
            size = 0
        batches[-1].append(path)
        size += len(path) + 1
    return batches


def head_sha(root: Path) -> str | None:
    """The commit HEAD points at, or None before the first commit."""
    result = _git(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", ok_codes=(0, 1, 128))
    sha = result.stdout.decode("ascii", errors="replace").strip()
    return sha if result.returncode == 0 and sha else None


def is_safe_repo_path(path: str) -> bool:
    """A repository-relative path we may hand to ``git cat-file`` or join to the work tree.

    Paths come from diffs, which may be untrusted (``--diff FILE``): refuse anything that could
    point outside the repository or be read as revision syntax.
    """
    if not path or path.startswith(("/", "\\")) or "\n" in path or "\0" in path:
        return False
    parts = path.replace("\\", "/").split("/")
    drive_letter = os.name == "nt" and len(path) >= 2 and path[1] == ":"  # "C:x" on Windows
    return ".." not in parts and not drive_letter


def read_staged_blob(root: Path, path: str) -> bytes | None:
    """The staged content of ``path`` (stage 0 of the index), or None if it is not staged."""
    return _cat_file_blob(root, f":0:{path}", path)


def read_blob(root: Path, rev: str, path: str) -> bytes | None:
    """The content of ``path`` at revision ``rev``, or None if it does not exist there."""
    if rev.startswith("-"):
        return None
    return _cat_file_blob(root, f"{rev}:{path}", path)


def _cat_file_blob(root: Path, object_name: str, path: str) -> bytes | None:
    if not is_safe_repo_path(path):
        return None
    # ":0:path" names stage 0 explicitly, so a path like "1:x" is not read as stage 1.
    kind = _git(root, "cat-file", "-t", object_name, ok_codes=(0, 1, 128), what="cat-file")
    if kind.returncode != 0 or kind.stdout.strip() != b"blob":
        return None
    return _git(root, "cat-file", "blob", object_name, what="cat-file").stdout


class BlobReader:
    """Reads many blobs through one ``git cat-file --batch`` process.

    A review reads one blob per changed file (context lines, built-in checks); one process
    per file would cost seconds on a 5,000-file diff. ``rev`` None reads the index (what is
    staged), otherwise that revision. Safe to call from several threads. The process is
    started on first use and ends with ``close()`` or when the reader is garbage-collected.
    """

    def __init__(self, root: Path, rev: str | None = None) -> None:
        from _thread import allocate_lock  # threading.Lock itself, without importing threading

        self.root = root
        self.rev = rev
        self._lock: threading.Lock = allocate_lock()
        self._process: subprocess.Popen[bytes] | None = None
        self._broken = False

    def __call__(self, path: str) -> bytes | None:
        if not is_safe_repo_path(path):
            return None
        name = f":0:{path}" if self.rev is None else f"{self.rev}:{path}"
        with self._lock:
            if not self._broken:
                try:
                    return self._read_batch(name)
                except (OSError, ValueError):
                    self._broken = True  # fall back to one command per file below
                    self._stop()
        return _cat_file_blob(self.root, name, path)

    def _read_batch(self, name: str) -> bytes | None:
        process = self._start()
        stdin, stdout = _pipes(process)
        stdin.write(name.encode("utf-8") + b"\n")
        stdin.flush()
        header = stdout.readline()
        if not header:
            raise OSError("git cat-file --batch ended early")
        fields = header.split()
        if len(fields) != 3:  # "<name> missing" / "<name> ambiguous"
            return None
        size = int(fields[2])
        data = stdout.read(size)
        stdout.read(1)  # the newline after each object
        if len(data) != size:
            raise OSError("git cat-file --batch ended early")
        return data if fields[1] == b"blob" else None

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None:
            import subprocess

            try:
                self._process = subprocess.Popen(
                    ["git", *_GLOBAL_OPTIONS, "cat-file", "--batch"], cwd=self.root,
                    env=git_env(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                    stderr=subprocess.DEVNULL,
                )
            except FileNotFoundError:
                raise InputError(_GIT_MISSING) from None
            import weakref

            weakref.finalize(self, _stop_process, self._process)
        return self._process

    def _stop(self) -> None:
        if self._process is not None:
            _stop_process(self._process)
            self._process = None

    def close(self) -> None:
        with self._lock:
            self._stop()

    def __enter__(self) -> BlobReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pipes(process: subprocess.Popen[bytes]) -> tuple[IO[bytes], IO[bytes]]:
    if process.stdin is None or process.stdout is None:
        raise OSError("git cat-file --batch has no pipes")
    return process.stdin, process.stdout


def _stop_process(process: subprocess.Popen[bytes]) -> None:
    """Closing stdin makes ``cat-file --batch`` exit on its own."""
    import subprocess

    for pipe in (process.stdin, process.stdout):
        try:
            if pipe is not None:
                pipe.close()
        except OSError:
            pass
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# Off the per-commit path ---------------------------------------------------------------------
# The functions below run once per pull request or per `fix --apply`, where GitPython's import
# cost does not matter and its object database reads are clearer than parsing plumbing output.
# (``git_dir`` asks git itself: GitPython's ``Repo`` ignores ``GIT_DIR``/``GIT_WORK_TREE``.)


def commits_present(root: Path, shas: Sequence[str]) -> bool:
    """True when every commit is in the local repository (reading objects runs no PR code)."""
    import git as gitpython  # GitPython

    try:
        repo = gitpython.Repo(root)
    except (gitpython.InvalidGitRepositoryError, gitpython.NoSuchPathError):
        return False
    try:
        # repo.commit(sha) is lazy and accepts any 40-hex name; ask the object database.
        return all(repo.odb.info(bytes.fromhex(sha)).type == b"commit" for sha in shas)
    except ValueError:  # not hex, or gitdb's BadObject: the object is missing
        return False
    finally:
        repo.close()


def git_dir(root: Path) -> Path:
    """The repository's git directory (``.git``, a worktree's own folder, or ``$GIT_DIR``)."""
    if not os.environ.get("GIT_DIR"):
        plain = Path(root) / ".git"
        if plain.is_dir():  # the usual checkout: no git process for it (every review asks)
            return plain.absolute()
    result = _git(root, "rev-parse", "--absolute-git-dir", ok_codes=(0, 128))
    if result.returncode != 0 or not result.stdout.strip():
        raise InputError(f"not in a git repository ({_first_error_line(result.stderr)}): "
                         "fix --apply keeps its backup in the repository's git directory")
    return Path(os.fsdecode(result.stdout.rstrip(b"\r\n")))
