"""Where the diff comes from: the index, a revision range, a file or standard input.

``load_diff`` returns the diff as text together with ``read_new_file``, which reads the new
side of a changed file (for context lines and built-in checks):

- staged: the STAGED blob (``git cat-file``), never the work tree, so unstaged edits are
  never reviewed;
- range: the blob at the right-hand revision;
- worktree (unstaged changes, the work tree against the index) and files (the PATHs' whole
  work-tree content, as if each file were added; what ``pre-commit run --all-files`` asks
  of the hook): the work-tree file;
- file / stdin: the work-tree file, when the current directory is inside a repository and the
  file is a regular file inside it; otherwise nothing (``None``). ``hunks.parse_diff`` only
  uses a file for context when its lines match the diff, so a work tree that has moved on
  since the diff was made simply gives no context.

Decoding never fails: see ``decode_diff_bytes``.
"""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from aider_hooks.diff import git
from aider_hooks.errors import InputError

# Not ``typing.TYPE_CHECKING``: a replayed review (cli/run_memo.py) loads this module, and
# importing typing costs ~3 ms of it (mypy treats any TYPE_CHECKING constant alike).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import BinaryIO, Literal

    SourceKind = Literal["staged", "range", "file", "stdin", "worktree", "files"]

ReadNewFile = Callable[[str], bytes | None]

# A line that only a unified diff (git, GNU diff, hg, svn) would contain.
# Patterns, compiled (and cached by ``re``) on first use: a staged git diff needs none of them,
# and compiling all four costs a review's start-up about a millisecond.
_DIFF_MARKER = r"(?m)^(?:diff |--- |\+\+\+ |@@ -|Binary files |GIT binary patch)"
_HUNK_HEADER = r"^@@ -\d+(?:,(\d+))? \+\d+(?:,(\d+))? @@"
_COLOURED_DIFF = rb"(?m)^(?:\x1b\[[0-9;]*m)+(?:diff |@@ |--- |\+\+\+ )"
_ANSI_SGR = rb"\x1b\[[0-9;]*m"


@dataclass(frozen=True)
class DiffSource:
    """``kind`` is staged (the default), range (``spec`` = ``A...B``), file (``spec`` = path),
    stdin, worktree (unstaged changes) or files (the PATHs' whole content)."""

    kind: SourceKind = "staged"
    spec: str | None = None


def _read_nothing(path: str) -> bytes | None:
    return None


@dataclass(frozen=True)
class LoadedDiff:
    """A diff to review, with where it came from and how to read its new files."""
    text: str
    root: Path | None  # the repository, when there is one
    read_new_file: ReadNewFile = field(compare=False)
    label: str  # for messages: "staged changes", "range main...HEAD", "diff file x.patch"
    # The PATH arguments made relative to ``root`` (what ``parse_diff(paths=...)`` needs when
    # the user ran aider-review from a subdirectory).
    paths: tuple[str, ...] = ()
    # Whole files shown as added (source "files"), not changes: the model sees them only
    # with ``review-all-files = true``.
    whole_files: bool = False
    # Made by git here (not read from a file or stdin): well-formed, so it may be parsed
    # while its first hunks are already being reviewed.
    from_git: bool = False

    def changed_file_count(self) -> int:
        """How many files the diff names (its ``diff --git`` lines; a plain diff counts 0),
        without parsing it."""
        return self.text.count("\ndiff --git ") + self.text.startswith("diff --git ")

    def close(self) -> None:
        """Stop the ``git cat-file`` process behind ``read_new_file``, if any."""
        close = getattr(self.read_new_file, "close", None)
        if callable(close):
            close()


def load_diff(
    source: DiffSource,
    *,
    cwd: Path | str,
    paths: Sequence[str] = (),
    stdin: BinaryIO | None = None,
    root: Path | None = None,
    staged: bytes | None = None,
    on_output: Callable[[bytes], None] | None = None,
) -> LoadedDiff:
    """Read the diff ``source`` names. ``stdin`` replaces ``sys.stdin.buffer`` (tests).

    ``root`` is the repository root when the caller has already looked it up (one git
    process fewer); otherwise it is found from ``cwd``. ``staged`` is the output of
    ``git.staged_diff(root)`` (no paths) when the caller has already read it.
    ``on_output`` sees the changes git writes (staged, range, work tree) piece by piece.
    """
    cwd = Path(cwd)
    if source.kind == "staged":
        root = root or git.find_repo_root(cwd)
        rel = repo_relative_paths(paths, cwd=cwd, root=root)
        if staged is None or rel:
            staged = git.staged_diff(root, rel, on_output=on_output)
        text = decode_diff_bytes(staged)
        return LoadedDiff(text, root, git.BlobReader(root), "staged changes", rel, from_git=True)
    if source.kind == "range":
        if not source.spec:
            raise InputError("--range needs a revision range, e.g. --range main...HEAD")
        root = root or git.find_repo_root(cwd)
        rel = repo_relative_paths(paths, cwd=cwd, root=root)
        right = git.resolve_commit(root, git.parse_rev_range(source.spec).right)
        text = decode_diff_bytes(git.range_diff(root, source.spec, rel, on_output=on_output))
        return LoadedDiff(text, root, git.BlobReader(root, right), f"range {source.spec}", rel,
                          from_git=True)
    if source.kind in ("worktree", "files"):
        root = root or git.find_repo_root(cwd)
        rel = repo_relative_paths(paths, cwd=cwd, root=root)
        if source.kind == "files":
            text = decode_diff_bytes(git.whole_files_diff(root, rel))
            return LoadedDiff(text, root, WorkTreeReader(root), "whole files", rel,
                              whole_files=True, from_git=True)
        text = decode_diff_bytes(git.worktree_diff(root, rel, on_output=on_output))
        return LoadedDiff(text, root, WorkTreeReader(root), "unstaged changes", rel,
                          from_git=True)
    if source.kind == "file":
        if not source.spec:
            raise InputError("--diff needs a file name, or - for standard input")
        return _loaded_from_bytes(_read_diff_file(cwd / source.spec, source.spec),
                                  cwd, paths, f"diff file {source.spec}", root)
    if source.kind == "stdin":
        return _loaded_from_bytes(_read_stdin(stdin), cwd, paths, "standard input", root)
    raise InputError(f"unknown diff source {source.kind!r}")


def _loaded_from_bytes(data: bytes, cwd: Path, paths: Sequence[str], label: str,
                       known_root: Path | None) -> LoadedDiff:
    text = decode_diff_bytes(data)
    if text.strip() and not re.search(_DIFF_MARKER, text):
        raise InputError(
            f"input is not a unified diff ({label}): expected lines such as 'diff --git', "
            "'---', '+++' and '@@'; make one with `git diff > FILE`"
        )
    root = known_root or _optional_repo_root(cwd)
    rel = repo_relative_paths(paths, cwd=cwd, root=root)
    reader: ReadNewFile = WorkTreeReader(root) if root is not None else _read_nothing
    return LoadedDiff(text, root, reader, label, rel)


def _optional_repo_root(cwd: Path) -> Path | None:
    """A saved diff needs no repository; we only use one, when present, for context lines."""
    try:
        return git.find_repo_root(cwd)
    except InputError:
        return None


def _read_diff_file(path: Path, spec: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"diff file not found: {spec}") from None
    except IsADirectoryError:
        raise InputError(f"{spec} is a directory, not a diff file") from None
    except OSError as err:
        raise InputError(f"cannot read diff file {spec}: {err.strerror or err}") from None


def _read_stdin(stdin: BinaryIO | None) -> bytes:
    if stdin is None:
        if sys.stdin is None:
            raise InputError("--diff - reads standard input, but there is none: pipe a diff in")
        if sys.stdin.isatty():
            raise InputError(
                "--diff - reads a diff from standard input, which is a terminal: pipe one in, "
                "e.g. git diff | aider-review --diff -"
            )
        stdin = sys.stdin.buffer
    try:
        return stdin.read()
    except OSError as err:
        raise InputError(f"cannot read standard input: {err.strerror or err}") from None


def repo_relative_paths(paths: Sequence[str], *, cwd: Path, root: Path | None) -> tuple[str, ...]:
    """PATH arguments (relative to ``cwd``) as forward-slash paths relative to ``root``."""
    if root is None:
        return tuple(_clean_relative(p) for p in paths)
    real_root = os.path.realpath(root)
    result = []
    for path in paths:
        absolute = os.path.realpath(os.path.join(cwd, path))
        relative = os.path.relpath(absolute, real_root)
        if relative == os.curdir:
            continue  # the whole repository: no restriction from this argument
        if relative.startswith(os.pardir + os.sep) or relative == os.pardir:
            raise InputError(f"{path} is outside the repository {root}")
        result.append(relative.replace(os.sep, "/"))
    return tuple(result)


def _clean_relative(path: str) -> str:
    cleaned = path.replace("\\", "/")
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    return cleaned


class WorkTreeReader:
    """Reads new-side files from the work tree, for diffs that come from a file or stdin.

    Only regular files inside the repository are read: a diff is untrusted input, and a path
    such as ``b/../../home/me/.ssh/id_rsa`` or a symlink out of the tree must not pull a
    file into a prompt.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.realpath(root))

    def __call__(self, path: str) -> bytes | None:
        if not git.is_safe_repo_path(path):
            return None
        real = Path(os.path.realpath(self.root / path))
        if self.root not in real.parents or not real.is_file():
            return None
        try:
            return real.read_bytes()
        except OSError:
            return None


# --- decoding ---------------------------------------------------------------------------


def decode_diff_bytes(data: bytes) -> str:
    """Diff bytes as text, whatever their encoding; never raises.

    - Each line is decoded on its own: UTF-8 first, else cp1252, else latin-1 (which cannot
      fail). A diff can mix encodings, one per file; one bad file must not garble the rest.
    - A byte-order mark at the start is honoured (PowerShell writes ``git diff > x`` as
      UTF-16) and dropped. NUL bytes are removed.
    - A coloured diff (``git diff --color``) has its colour codes removed.
    - Line endings: a CRLF diff (e.g. a patch saved on Windows) has the "\\r" removed from its
      framing lines (headers, ``@@`` lines, markers) so they parse. Content lines (``+``,
      ``-``, context) keep their "\\r": it belongs to the reviewed file's CRLF line ending,
      and ``hunks.parse_diff`` strips it from ``DiffLine.text`` (noting it on the hunk).
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        data = data.decode("utf-16", errors="replace").encode("utf-8")
    elif data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    if b"\x1b[" in data and re.search(_COLOURED_DIFF, data):
        data = re.sub(_ANSI_SGR, b"", data)
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    if b"\r" not in data:
        try:
            return data.decode("utf-8")  # the usual case, without a list of every line
        except UnicodeDecodeError:
            pass
    lines = decode_lines(data)
    if any("\r" in line for line in lines):
        lines = _strip_cr_from_framing(lines)
    return "\n".join(lines)


def decode_lines(data: bytes) -> list[str]:
    """``data`` split on "\\n" only (never on form feeds or U+2028, as ``splitlines`` would),
    each line decoded as in ``decode_diff_bytes``, NUL bytes removed. Like ``str.split``, a
    final newline gives a last ``""``, so ``"\\n".join`` of the result is the whole text."""
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    try:
        return data.decode("utf-8").split("\n")
    except UnicodeDecodeError:
        return [decode_line(raw) for raw in data.split(b"\n")]


def decode_line(raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        pass
    try:
        return raw.decode("cp1252")
    except UnicodeDecodeError:
        return raw.decode("latin-1")


def decode_file_lines(data: bytes) -> list[str]:
    """A file's lines, decoded like diff lines, without line endings ("\\n" or "\\r\\n")."""
    return list(iter_file_lines(data))


def iter_file_lines(data: bytes) -> Iterator[str]:
    """``decode_file_lines``, a line at a time: a caller that keeps only some lines (or
    lines equal to ones it holds already) never has every line of a huge file at once."""
    if b"\x00" in data:
        data = data.replace(b"\x00", b"")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        lines = decode_lines(data)  # line by line, each in the encoding it decodes in
        if lines and lines[-1] == "":
            lines.pop()
        yield from (line[:-1] if line.endswith("\r") else line for line in lines)
        return
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        if end < 0:
            end = size
        line = text[start:end]
        yield line[:-1] if line.endswith("\r") else line
        start = end + 1


def _strip_cr_from_framing(lines: list[str]) -> list[str]:
    """Drop a trailing "\\r" from every line that is not hunk content.

    Which lines are content is known only by counting, as a parser does: after
    ``@@ -a,b +c,d @@`` come exactly b old and d new lines.
    """
    result: list[str] = []
    old_left = new_left = 0
    for line in lines:
        if old_left > 0 or new_left > 0:
            first = line[:1]
            if first in (" ", "", "\r"):
                old_left, new_left = max(old_left - 1, 0), max(new_left - 1, 0)
                result.append(line)
                continue
            if first == "-" and old_left > 0:
                old_left -= 1
                result.append(line)
                continue
            if first == "+" and new_left > 0:
                new_left -= 1
                result.append(line)
                continue
            if first != "\\":
                old_left = new_left = 0  # malformed hunk: let the parser report it
        framing = line[:-1] if line.endswith("\r") else line
        header = re.match(_HUNK_HEADER, framing)
        if header:
            old_left = int(header.group(1) or 1)
            new_left = int(header.group(2) or 1)
        result.append(framing)
    return result
