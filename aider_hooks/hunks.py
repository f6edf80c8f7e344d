"""From diff text to the list of hunks to review.

``parse_diff`` parses with ``unidiff``, decides per file whether it is reviewed (deleted,
binary, lock, generated and vendored files are not; ``include``/``exclude`` settings and the
PATH arguments narrow it further), splits very long hunks into parts and adds context: a few
lines around each hunk from the new file, and for Python the enclosing ``def``/``class``.

Context comes only from ``read_new_file`` (for staged changes, the staged blob), and only when
that file agrees with the diff: every new-side line of every hunk must match. A file that has
moved on since the diff was made gives no context rather than wrong context.

Split hunks: ``Hunk.part`` is 0 for a hunk that was not split and 1..n for the parts of one
that was (``Hunk.extra["parts"]`` = n); each part is a valid hunk on its own, with its own
starts and lengths. Other ``extra`` keys: ``line_endings`` = ``"crlf"`` (the "\\r" was
stripped from ``DiffLine.text``) and ``no_newline_at_end`` = ``"true"``.

Everything is linear in the size of the diff and of the changed files.
"""
from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from aider_hooks.diff_source import decode_file_lines
from aider_hooks.errors import InputError
from aider_hooks.hunk import DiffLine, Hunk
from aider_hooks.settings import Settings

if TYPE_CHECKING:
    from unidiff.patch import PatchedFile, PatchSet

FileStatus = Literal["added", "modified", "deleted", "renamed"]
ReadNewFile = Callable[[str], bytes | None]

DEV_NULL = "/dev/null"
PYTHON_SUFFIXES = (".py", ".pyi", ".pyw")

# Files nobody reviews by hand. A user's ``exclude`` globs add to these (or, with ``!``,
# take paths back: see ``exclusion``).
LOCK_FILES = frozenset({
    "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "poetry.lock",
    "Cargo.lock", "uv.lock", "Pipfile.lock", "composer.lock", "Gemfile.lock", "go.sum",
    "packages.lock.json", "bun.lock",
})
LOCK_GLOBS = ("*.lock",)
GENERATED_GLOBS = ("*.min.js", "*.min.css", "*.map", "*_pb2.py", "*_pb2.pyi", "*_pb2_grpc.py",
                   "*.pb.go")
GENERATED_DIRS = frozenset({"generated"})
VENDORED_DIRS = frozenset({"vendor", "third_party", "node_modules"})

# Skip reasons, as shown to the user.
SKIP_DELETED = "deleted file"
SKIP_BINARY = "binary file"
SKIP_SYMLINK = "symlink"
SKIP_SUBMODULE = "submodule"
SKIP_NO_CHANGE = "no content change"
SKIP_LOCK = "lock file"
SKIP_GENERATED = "generated file"
SKIP_VENDORED = "vendored code"
SKIP_EXCLUDED = "excluded by settings"
SKIP_NOT_INCLUDED = "not in settings include"


@dataclass(frozen=True)
class ChangedFile:
    path: str  # path in the new version (for a deleted file, the old path)
    old_path: str | None  # set for renames and copies
    status: FileStatus  # a copy is "added" with old_path set
    is_binary: bool = False
    skipped_reason: str | None = None  # why it is not reviewed; None when it is
    hunks: list[Hunk] = field(default_factory=list)  # empty for skipped files


@dataclass(frozen=True)
class HunkSet:
    files: list[ChangedFile]
    hunks: list[Hunk]  # every hunk to review, in diff order (parts of split hunks included)
    skipped_hunks: int  # hunks of files that are not reviewed (deleted, excluded, ...)

    @property
    def reviewed_files(self) -> list[ChangedFile]:
        return [f for f in self.files if f.skipped_reason is None and f.hunks]

    @property
    def skipped_files(self) -> list[ChangedFile]:
        return [f for f in self.files if f.skipped_reason is not None]


def parse_diff(
    text: str,
    *,
    settings: Settings,
    read_new_file: ReadNewFile | None = None,
    paths: Sequence[str] = (),
) -> HunkSet:
    """The hunks of ``text`` worth reviewing. ``paths`` (repository-relative files or
    directories), when given, keeps only those files; other files are left out entirely."""
    if not text.strip():
        return HunkSet(files=[], hunks=[], skipped_hunks=0)
    patch = _parse_patch(text)
    wanted = _PathFilter(paths)
    files: list[ChangedFile] = []
    hunks: list[Hunk] = []
    skipped_hunks = 0
    for patched in patch:
        info = _file_info(patched)
        if not wanted(info.path) and not (info.old_path and wanted(info.old_path)):
            continue
        reason = _skip_reason(info, patched, settings)
        if reason is not None:
            skipped_hunks += len(patched)
            files.append(ChangedFile(info.path, info.old_path, info.status, info.is_binary, reason))
            continue
        file_hunks = _file_hunks(patched, info, settings, read_new_file)
        files.append(ChangedFile(info.path, info.old_path, info.status, False, None, file_hunks))
        hunks.extend(file_hunks)
    return HunkSet(files=files, hunks=hunks, skipped_hunks=skipped_hunks)


def _parse_patch(text: str) -> PatchSet:
    from unidiff.patch import PatchSet  # ~10 ms; only when there is something to parse
    from unidiff.errors import UnidiffParseError

    try:
        patch = PatchSet(_disambiguate_git_headers(text))
    except (UnidiffParseError, ValueError, IndexError, AssertionError) as err:
        # unidiff's messages quote the offending line, which may hold a secret: keep only
        # the kind of problem ("Hunk is shorter than expected").
        problem = str(err).split(":", 1)[0].strip() or type(err).__name__
        raise InputError(
            f"the diff is truncated or corrupt ({problem}): regenerate it with `git diff`"
        ) from None
    if not patch and not _only_unmerged_paths(text):
        raise InputError(
            "input is not a unified diff: expected lines such as 'diff --git', '---', '+++' "
            "and '@@'; make one with `git diff > FILE`"
        )
    return patch


_AMBIGUOUS_HEADER = re.compile(r'^diff --git .*? "?b/.*? "?b/', re.MULTILINE)


def _only_unmerged_paths(text: str) -> bool:
    """``git diff --cached`` during a conflicted merge lists "* Unmerged path X" lines: not a
    diff, but not an error either."""
    return all(line.startswith("* Unmerged path ") for line in text.splitlines() if line.strip())


def _disambiguate_git_headers(text: str) -> str:
    """Quote the names of ``diff --git`` headers that unidiff would split in the wrong place.

    unidiff splits ``diff --git a/X b/Y`` at the last " b/", so a path such as
    ``plan b/notes.txt`` is cut wrongly and the parse fails. For those rare headers (and
    their ``---``/``+++`` lines) we write the names C-quoted, spaces as ``\\040``, which
    unidiff splits correctly and ``unquote_git_path`` reads back.
    """
    if not _AMBIGUOUS_HEADER.search(text):
        return text
    lines = text.split("\n")
    for index, line in enumerate(lines):
        if line.startswith("diff --git ") and line.count(" b/") + line.count(' "b/') > 1:
            _quote_header_names(lines, index)
    return "\n".join(lines)


def _quote_header_names(lines: list[str], index: int) -> None:
    end = index + 1
    names: dict[str, str] = {}
    while end < len(lines) and not lines[end].startswith(("diff --git ", "@@ ")):
        line = lines[end].rstrip("\r")
        for key in ("rename from ", "rename to ", "copy from ", "copy to ", "--- ", "+++ "):
            if line.startswith(key):
                names[key.strip()] = unquote_git_path(line[len(key):].rstrip("\t"))
        end += 1
    old = names.get("rename from") or names.get("copy from")
    new = names.get("rename to") or names.get("copy to")
    minus, plus = names.get("---", ""), names.get("+++", "")
    old = old or (minus[2:] if minus.startswith("a/") else None)
    new = new or (plus[2:] if plus.startswith("b/") else None)
    if old is None or new is None:
        same = _same_name_on_both_sides(lines[index][len("diff --git "):])
        old, new = old or same, new or same
    if old is None or new is None:
        return  # cannot tell: leave it to unidiff
    lines[index] = f"diff --git {_c_quote('a/' + old)} {_c_quote('b/' + new)}"
    for number in range(index + 1, end):
        line = lines[number]
        if line.startswith("--- ") and not line.startswith("--- " + DEV_NULL):
            lines[number] = "--- " + _c_quote("a/" + old)
        elif line.startswith("+++ ") and not line.startswith("+++ " + DEV_NULL):
            lines[number] = "+++ " + _c_quote("b/" + new)


def _same_name_on_both_sides(rest: str) -> str | None:
    """X from ``a/X b/X`` (an unquoted header of a file that was not renamed)."""
    half = (len(rest) - 5) // 2
    name = rest[2:2 + half]
    return name if rest == f"a/{name} b/{name}" else None


def _c_quote(name: str) -> str:
    escaped = name.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t")
    return '"' + escaped.replace(" ", "\\040") + '"'


# --- which file, and whether to review it -----------------------------------------------


class FileInfo(NamedTuple):
    path: str
    old_path: str | None
    status: FileStatus
    is_binary: bool


def _file_info(patched: PatchedFile) -> FileInfo:
    moves = _move_lines(patched.patch_info or ())
    source = _diff_name(patched.source_file)
    target = _diff_name(patched.target_file)
    source, target = _strip_prefixes(source, target)
    binary = bool(patched.is_binary_file)
    if "rename to" in moves:
        return FileInfo(moves["rename to"], moves.get("rename from", source), "renamed", binary)
    if "copy to" in moves:
        return FileInfo(moves["copy to"], moves.get("copy from", source), "added", binary)
    if source is None and target is not None:
        return FileInfo(target, None, "added", binary)
    if target is None and source is not None:
        return FileInfo(source, None, "deleted", binary)
    return FileInfo(target or source or "", None, "modified", binary)


def _move_lines(patch_info: Iterable[str]) -> dict[str, str]:
    """``rename from``/``rename to``/``copy from``/``copy to`` of a git header (unprefixed)."""
    moves: dict[str, str] = {}
    for line in patch_info:
        if line.startswith(("rename ", "copy ")):
            for key in ("rename from", "rename to", "copy from", "copy to"):
                if line.startswith(key + " "):
                    moves[key] = unquote_git_path(line[len(key) + 1:].rstrip("\r\n"))
        elif line.startswith("@@") or line.startswith("--- "):
            break
    return moves


def _diff_name(name: str | None) -> str | None:
    if not name or name == DEV_NULL:
        return None
    return unquote_git_path(name.rstrip("\r\n"))


_SOURCE_PREFIXES = ("a/", "c/", "i/", "o/", "1/")
_TARGET_PREFIXES = ("b/", "w/", "i/", "o/", "2/")


def _strip_prefixes(source: str | None, target: str | None) -> tuple[str | None, str | None]:
    """Remove git's ``a/``/``b/`` (or mnemonic ``c/``, ``i/``, ``w/``...) prefixes."""
    if source is not None and target is not None:
        if source == target:
            return source, target  # a --no-prefix diff: nothing to strip
        if source[:2] in _SOURCE_PREFIXES and target[:2] in _TARGET_PREFIXES:
            return source[2:], target[2:]
        return source, target
    if source is not None and source.startswith("a/"):
        return source[2:], None
    if target is not None and target.startswith("b/"):
        return None, target[2:]
    return source, target


_C_ESCAPES = {"a": 7, "b": 8, "t": 9, "n": 10, "v": 11, "f": 12, "r": 13, '"': 34, "\\": 92}


def unquote_git_path(name: str) -> str:
    """Undo git's C-style quoting: ``"caf\\303\\251 \\"x\\".txt"`` -> ``café "x".txt``.

    git quotes a path that holds quotes, backslashes, control characters or (unless
    ``core.quotepath=false``) non-ASCII bytes, writing those bytes as octal escapes.
    """
    if len(name) < 2 or not (name.startswith('"') and name.endswith('"')):
        return name
    body = name[1:-1]
    out = bytearray()
    i = 0
    while i < len(body):
        char = body[i]
        if char != "\\" or i + 1 == len(body):
            out += char.encode("utf-8")
            i += 1
            continue
        nxt = body[i + 1]
        octal = body[i + 1:i + 4]
        if len(octal) == 3 and all(c in "01234567" for c in octal):
            out.append(int(octal, 8) & 0xFF)
            i += 4
        elif nxt in _C_ESCAPES:
            out.append(_C_ESCAPES[nxt])
            i += 2
        else:
            out += ("\\" + nxt).encode("utf-8")
            i += 2
    try:
        return out.decode("utf-8")
    except UnicodeDecodeError:
        return out.decode("latin-1")


def _skip_reason(info: FileInfo, patched: PatchedFile, settings: Settings) -> str | None:
    if info.status == "deleted":
        return SKIP_DELETED  # nothing on the new side to review
    if info.is_binary:
        return SKIP_BINARY  # never in a prompt
    if patched.is_symlink:
        return SKIP_SYMLINK
    if patched.is_submodule:
        return SKIP_SUBMODULE
    excluded = exclusion(info.path, settings)
    if excluded is not None:
        return excluded
    if not len(patched):
        return SKIP_NO_CHANGE  # mode change, pure rename, empty new file
    return None


def exclusion(path: str, settings: Settings) -> str | None:
    """Why ``path`` is not reviewed, by the ``include``/``exclude`` settings and the built-in
    skips (lock, generated, vendored), or None.

    ``exclude`` globs apply in order after the built-in skips, and one that starts with ``!``
    takes paths back in, as in ``.gitignore``: the last glob that matches decides.
    ``exclude = ["!vendor/our-fork/"]`` reviews a vendored fork; ``["docs/", "!docs/api/"]``
    skips the docs except the API docs.
    """
    if settings.include and not any(path_matches(path, g) for g in settings.include):
        return SKIP_NOT_INCLUDED
    reason = default_exclusion(path)
    for glob in settings.exclude:
        taken_back = glob.startswith("!")
        if path_matches(path, glob[1:] if taken_back else glob):
            reason = None if taken_back else SKIP_EXCLUDED
    return reason


def default_exclusion(path: str) -> str | None:
    """Why ``path`` is never reviewed by default (lock, generated, vendored), or None."""
    parts = path.split("/")
    name, directories = parts[-1], parts[:-1]
    if name in LOCK_FILES or any(fnmatch.fnmatchcase(name, g) for g in LOCK_GLOBS):
        return SKIP_LOCK
    if any(d in VENDORED_DIRS for d in directories):
        return SKIP_VENDORED
    if any(fnmatch.fnmatchcase(name, g) for g in GENERATED_GLOBS):
        return SKIP_GENERATED
    if any(d in GENERATED_DIRS for d in directories):
        return SKIP_GENERATED
    return None


def path_matches(path: str, pattern: str) -> bool:
    """fnmatch ``pattern`` against the path, its file name, and each of its directories.

    ``*`` also crosses ``/`` (``src/*.py`` matches ``src/a/b.py``); a pattern ending in ``/``
    matches directories only (``docs/`` matches everything under any ``docs`` directory);
    a leading ``/`` or ``./`` is ignored.
    """
    pattern = pattern.strip()
    while pattern.startswith(("./", "/")):
        pattern = pattern[1:] if pattern.startswith("/") else pattern[2:]
    directory_only = pattern.endswith("/")
    pattern = pattern.rstrip("/")
    if not pattern:
        return False
    parts = path.split("/")
    candidates: list[str] = []
    if not directory_only:
        candidates += [path, parts[-1]]
    for i in range(1, len(parts)):
        candidates += ["/".join(parts[:i]), parts[i - 1]]
    return any(fnmatch.fnmatchcase(c, pattern) for c in candidates)


class _PathFilter:
    """The PATH arguments: exact files, or directories that contain the file."""

    def __init__(self, paths: Sequence[str]) -> None:
        cleaned = {_clean_path(p) for p in paths}
        self.everything = not paths or "" in cleaned
        self.paths = cleaned

    def __call__(self, path: str) -> bool:
        if self.everything or path in self.paths:
            return True
        parts = path.split("/")
        return any("/".join(parts[:i]) in self.paths for i in range(1, len(parts)))


def _clean_path(path: str) -> str:
    cleaned = path.replace("\\", "/")
    while cleaned.startswith("./"):
        cleaned = cleaned[2:]
    cleaned = cleaned.rstrip("/")
    return "" if cleaned == "." else cleaned


# --- building hunks ---------------------------------------------------------------------


@dataclass
class _RawHunk:
    lines: list[DiffLine]
    section_header: str
    crlf: bool
    no_newline_at_end: bool  # the new side's last line has no newline
    next_old: int  # number of the first old-side line at or after the hunk
    next_new: int


class _Span(NamedTuple):
    old_start: int
    old_length: int
    new_start: int
    new_length: int


def _file_hunks(
    patched: PatchedFile, info: FileInfo, settings: Settings, read_new_file: ReadNewFile | None
) -> list[Hunk]:
    raw = [_raw_hunk(h) for h in patched]
    is_python = info.path.endswith(PYTHON_SUFFIXES)
    file_lines = None
    if read_new_file is not None and (settings.context_lines > 0 or is_python):
        file_lines = _matching_file_lines(read_new_file(info.path), raw)
    defs = _DefIndex(file_lines) if is_python and file_lines is not None else None
    hunks: list[Hunk] = []
    for hunk in raw:
        parts = split_lines(hunk.lines, settings.max_hunk_lines)
        next_old, next_new = hunk.next_old, hunk.next_new
        for number, part in enumerate(parts, start=1 if len(parts) > 1 else 0):
            old_length = sum(1 for ln in part if ln.kind != "+")
            new_length = sum(1 for ln in part if ln.kind != "-")
            # With no line on a side, a unified diff names the line *before* the change.
            span = _Span(next_old if old_length else next_old - 1, old_length,
                         next_new if new_length else next_new - 1, new_length)
            next_old, next_new = next_old + old_length, next_new + new_length
            hunks.append(_make_hunk(part, span, number, len(parts), hunk, info, settings,
                                    file_lines, defs, is_python))
    return hunks


def _raw_hunk(unidiff_hunk: Any) -> _RawHunk:
    lines: list[DiffLine] = []
    crlf = False
    no_newline = False
    for line in unidiff_hunk:
        kind = line.line_type
        if kind == "\\":
            no_newline = no_newline or bool(lines and lines[-1].kind != "-")
            continue
        text = line.value
        if text.endswith("\n"):
            text = text[:-1]
        if text.endswith("\r"):
            text = text[:-1]
            crlf = True
        lines.append(DiffLine(
            kind=kind,
            text=text,
            new_lineno=line.target_line_no if kind != "-" else None,
            old_lineno=line.source_line_no if kind != "+" else None,
        ))
    return _RawHunk(
        lines, unidiff_hunk.section_header.rstrip("\r\n"), crlf, no_newline,
        next_old=unidiff_hunk.source_start + (0 if unidiff_hunk.source_length else 1),
        next_new=unidiff_hunk.target_start + (0 if unidiff_hunk.target_length else 1),
    )


def _matching_file_lines(data: bytes | None, raw: list[_RawHunk]) -> list[str] | None:
    """The new file's lines, if every new-side line of the diff is in it where it says."""
    if data is None:
        return None
    lines = decode_file_lines(data)
    for hunk in raw:
        for line in hunk.lines:
            number = line.new_lineno
            if number is not None and (number > len(lines) or lines[number - 1] != line.text):
                return None
    return lines


def split_lines(lines: list[DiffLine], max_lines: int) -> list[list[DiffLine]]:
    """Cut a long hunk into parts of at most ``max_lines`` lines, preferring to cut after a
    blank line or where an edit block ends, so that related lines stay together."""
    if len(lines) <= max_lines:
        return [lines]
    parts: list[list[DiffLine]] = []
    start = 0
    window = max(1, max_lines // 4)
    while len(lines) - start > max_lines:
        cut = _best_cut(lines, start + max_lines, start + max_lines - window)
        parts.append(lines[start:cut])
        start = cut
    parts.append(lines[start:])
    return parts


def _best_cut(lines: list[DiffLine], latest: int, earliest: int) -> int:
    for cut in range(latest, earliest - 1, -1):
        if lines[cut - 1].kind != "-" and not lines[cut - 1].text.strip():
            return cut  # after a blank line
    for cut in range(latest, earliest - 1, -1):
        if lines[cut - 1].kind != lines[cut].kind:
            return cut  # between an edit block and context
    return latest


def _make_hunk(
    lines: list[DiffLine],
    span: _Span,
    part: int,
    parts: int,
    raw: _RawHunk,
    info: FileInfo,
    settings: Settings,
    file_lines: list[str] | None,
    defs: _DefIndex | None,
    is_python: bool,
) -> Hunk:
    new_start = span.new_start
    before: tuple[tuple[int, str], ...] = ()
    after: tuple[tuple[int, str], ...] = ()
    new_numbers = [ln.new_lineno for ln in lines if ln.new_lineno is not None]
    if file_lines is not None and settings.context_lines > 0:
        before_end = new_numbers[0] - 1 if new_numbers else new_start
        after_start = new_numbers[-1] + 1 if new_numbers else new_start + 1
        before = _file_slice(file_lines, before_end - settings.context_lines + 1, before_end)
        after = _file_slice(file_lines, after_start, after_start + settings.context_lines - 1)
    extra: dict[str, str] = {}
    if raw.crlf:
        extra["line_endings"] = "crlf"
    if raw.no_newline_at_end and part in (0, parts):
        extra["no_newline_at_end"] = "true"
    if parts > 1:
        extra["parts"] = str(parts)
    return Hunk(
        path=info.path,
        lines=tuple(lines),
        new_start=span.new_start,
        new_length=span.new_length,
        old_start=span.old_start,
        old_length=span.old_length,
        old_path=info.old_path,
        is_new_file=info.status == "added" and info.old_path is None,
        section_header=raw.section_header,
        enclosing=_enclosing(lines, raw.section_header, defs) if is_python else None,
        context_before=before,
        context_after=after,
        part=part,
        extra=extra,
    )


def _file_slice(file_lines: list[str], first: int, last: int) -> tuple[tuple[int, str], ...]:
    first = max(first, 1)
    last = min(last, len(file_lines))
    return tuple((n, file_lines[n - 1]) for n in range(first, last + 1))


# --- enclosing def/class for Python -----------------------------------------------------

_DEF = re.compile(r"[ \t]*(?:async[ \t]+def|def|class)[ \t]+\w")
_PY_TOKEN = re.compile(r'"""|\'\'\'|"|\'|#|\\.|[()\[\]{}]')
_BRACKET = re.compile(r"[()\[\]{}]")


class _Scope(NamedTuple):
    indent: int
    text: str
    parent: _Scope | None


class _DefScanner:
    """Feeds Python lines in order and keeps the stack of open ``def``/``class`` blocks.

    Indentation-based, with just enough tokenizing (brackets, strings, comments, backslash
    continuations) to know which lines start a statement: a heuristic that survives code
    that does not parse, which staged code often does not.
    """

    def __init__(self, base: _Scope | None = None) -> None:
        self.scope = base
        self.depth = 0  # open brackets
        self.string: str | None = None  # the delimiter of an open multi-line string
        self.continued = False  # the previous line ended with a backslash

    def feed(self, line: str) -> None:
        if self.depth == 0 and self.string is None and not self.continued:
            stripped = line.lstrip(" \t")
            if stripped and not stripped.startswith("#"):
                indent = len(line) - len(stripped)
                if self.scope is not None and self.scope.indent >= indent:
                    self.scope = _pop_to(self.scope, indent)
                if stripped.startswith(("def", "class", "async")) and _DEF.match(line):
                    self.scope = _Scope(indent, stripped.rstrip(), self.scope)
        self._scan(line)

    def _scan(self, line: str) -> None:
        if (self.string is None and '"' not in line and "'" not in line and "#" not in line
                and "\\" not in line):
            # Most lines: no string, comment or continuation can start here, only brackets.
            for bracket in _BRACKET.findall(line):
                self.depth = self.depth + 1 if bracket in "([{" else max(self.depth - 1, 0)
            self.continued = False
            return
        for match in _PY_TOKEN.finditer(line):
            token = match.group()
            if self.string is not None:
                if token == self.string or (len(self.string) == 1 and token[0] == self.string):
                    self.string = None
                continue
            if token == "#":
                break
            if token[0] in "\"'":
                self.string = token
            elif token in "([{":
                self.depth += 1
            elif token in ")]}":
                self.depth = max(self.depth - 1, 0)
        if self.string is not None and len(self.string) == 1:
            self.string = None  # a one-line string ends with its line
        self.continued = line.rstrip().endswith("\\") and self.string is None


def _pop_to(scope: _Scope | None, indent: int) -> _Scope | None:
    """The innermost open block that encloses a statement at ``indent``."""
    while scope is not None and scope.indent >= indent:
        scope = scope.parent
    return scope


def _indent_of(text: str) -> int | None:
    stripped = text.lstrip(" \t")
    return len(text) - len(stripped) if stripped else None


class _DefIndex:
    """For each line of a Python file, the open blocks before it (shared, linked scopes)."""

    def __init__(self, file_lines: list[str]) -> None:
        self.lines = file_lines
        self.before: list[_Scope | None] = [None]  # index = line number
        self._scanner = _DefScanner()

    def scope_before(self, number: int) -> _Scope | None:
        """The open blocks after lines 1..number-1 (computed once, on demand, in order)."""
        number = max(1, min(number, len(self.lines) + 1))
        while len(self.before) <= number:
            line_number = len(self.before)
            if line_number >= 2:
                self._scanner.feed(self.lines[line_number - 2])
            self.before.append(self._scanner.scope)
        return self.before[number]


def _enclosing(lines: list[DiffLine], section_header: str, defs: _DefIndex | None) -> str | None:
    """The innermost ``def``/``class`` line around the first change of the hunk."""
    anchor, position = _first_change(lines)
    indent = _indent_of(lines[anchor].text)
    want = indent if indent is not None else 1 << 30
    if defs is not None and position is not None:
        scope = _pop_to(defs.scope_before(position), want)
        return scope.text if scope else None
    # No file: what the hunk's own leading context and git's section header show.
    base = None
    if _DEF.match(section_header):
        stripped = section_header.lstrip(" \t")
        base = _Scope(len(section_header) - len(stripped), stripped.rstrip(), None)
    scanner = _DefScanner(base)
    for line in lines[:anchor]:
        if line.kind != "-":
            scanner.feed(line.text)
    scope = _pop_to(scanner.scope, want)
    return scope.text if scope else None


def _first_change(lines: list[DiffLine]) -> tuple[int, int | None]:
    """Index of the first added/removed line, and its line number in the new file (for a
    removed line, the number of the new-file line that follows the removal)."""
    next_new: int | None = None
    for index, line in enumerate(lines):
        if line.kind != " ":
            if line.kind == "+":
                return index, line.new_lineno
            following = next((ln.new_lineno for ln in lines[index:] if ln.new_lineno), None)
            return index, following if following is not None else next_new
        if line.new_lineno is not None:
            next_new = line.new_lineno + 1
    return 0, lines[0].new_lineno if lines else None
