"""From diff text to the list of hunks to review.

``parse_diff`` parses with ``unidiff`` (headers and layout; the hunk lines are read straight
into ``DiffLine``s, one ``diff --git`` section at a time, so a huge diff costs little more
than its lines' text), decides per file whether it is reviewed (deleted,
binary, symlink and submodule changes are not, nor what ``paths.py`` excludes: lock,
generated and vendored files, the ``include``/``exclude`` settings and the PATH arguments),
splits very long hunks into parts and adds context: a few lines around each hunk from the new
file, and for Python the enclosing ``def``/``class`` (``enclosing.py``). File names come out
of git's headers through ``diff_headers.py``.

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

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from aider_hooks.diff.headers import (
    diff_name,
    disambiguate_git_headers,
    move_lines,
    only_unmerged_paths,
    strip_prefixes,
)
from aider_hooks.diff.source import decode_file_lines, iter_file_lines
from aider_hooks.diff.enclosing import DefIndex, enclosing, with_called_defs
from aider_hooks.errors import InputError
from aider_hooks.hunk import DiffLine, Hunk
from aider_hooks.diff.paths import (
    SKIP_BINARY,
    SKIP_DELETED,
    SKIP_NO_CHANGE,
    SKIP_SUBMODULE,
    SKIP_SYMLINK,
    PathFilter,
    exclusion,
)
from aider_hooks.settings import Settings

if TYPE_CHECKING:
    from unidiff.patch import PatchedFile, PatchSet

FileStatus = Literal["added", "modified", "deleted", "renamed"]
ReadNewFile = Callable[[str], bytes | None]
# One int object per line number for a whole parse (``numbers.setdefault(n, n)``): Python
# shares only the ints up to 256, and every line of every hunk holds one or two numbers, which
# in a huge diff cost more as separate objects than the lines' own text.
LineNumbers = dict[int, int]

PYTHON_SUFFIXES = (".py", ".pyi", ".pyw")
_LINE_BREAK = re.compile(r"[\r\n]{1,2}")  # unidiff's value of a line that starts with one
_NO_NEWLINE_MARKER = "\\ No newline at end of file"


@dataclass(frozen=True)
class ChangedFile:
    """One file of a diff: its names, status, and the hunks to review (none when skipped)."""
    path: str  # path in the new version (for a deleted file, the old path)
    old_path: str | None  # set for renames and copies
    status: FileStatus  # a copy is "added" with old_path set
    is_binary: bool = False
    skipped_reason: str | None = None  # why it is not reviewed; None when it is
    hunks: list[Hunk] = field(default_factory=list)  # empty for skipped files


@dataclass(frozen=True)
class HunkSet:
    """A parsed diff: every changed file, and the hunks to review in diff order."""
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
    return DiffParse(text, settings=settings, read_new_file=read_new_file, paths=paths).finish()


class DiffParse:
    """``parse_diff`` one file at a time, for a caller that starts on the first hunks while
    the rest of the diff is still unparsed (the engine sends the first requests of a huge
    change this way). ``files`` and ``hunks`` grow as parsing goes; ``finish()`` parses the
    rest and gives the ``HunkSet``. One thread only: it is a generator underneath."""

    def __init__(self, text: str, *, settings: Settings, read_new_file: ReadNewFile | None = None,
                 paths: Sequence[str] = ()) -> None:
        self.files: list[ChangedFile] = []
        self.hunks: list[Hunk] = []
        self.skipped_hunks = 0
        self._pending: Iterator[tuple[ChangedFile, int]] | None = (
            _parsed_files(text, settings, read_new_file, paths) if text.strip() else None)
        self._result: HunkSet | None = None
        self._error: BaseException | None = None  # raised again by every later call

    @property
    def done(self) -> bool:
        return self._pending is None

    def iter_hunks(self) -> Iterator[Hunk]:
        """Every hunk to review in diff order: those parsed already, then the rest as they
        are parsed."""
        index = 0
        while True:
            while index < len(self.hunks):
                yield self.hunks[index]
                index += 1
            if not self._parse_one():
                return

    def has_files(self) -> bool:
        """Whether the diff changes any file (parsing only as far as the first)."""
        while not self.files and self._parse_one():
            pass
        return bool(self.files)

    def has_hunks(self) -> bool:
        """Whether there is any hunk to review (parsing only as far as the first)."""
        while not self.hunks and self._parse_one():
            pass
        return bool(self.hunks)

    def finish(self) -> HunkSet:
        while self._parse_one():
            pass
        if self._result is None:
            self._result = HunkSet(files=self.files, hunks=self.hunks,
                                   skipped_hunks=self.skipped_hunks)
        return self._result

    def _parse_one(self) -> bool:
        """Parse one more file; False when there was none left."""
        if self._error is not None:
            raise self._error  # a diff that failed to parse never passes for a shorter one
        if self._pending is None:
            return False
        try:
            file, skipped = next(self._pending)
        except StopIteration:
            self._pending = None
            return False
        except BaseException as err:
            self._pending = None
            self._error = err
            raise
        self.files.append(file)
        self.hunks.extend(file.hunks)
        self.skipped_hunks += skipped
        return True


def _parsed_files(text: str, settings: Settings, read_new_file: ReadNewFile | None,
                  paths: Sequence[str]) -> Iterator[tuple[ChangedFile, int]]:
    """Each changed file of ``text`` that ``paths`` keeps, with its count of hunks that are
    not reviewed (deleted, excluded, ...)."""
    wanted = PathFilter(paths)
    numbers: LineNumbers = {}
    for patched, raw in _patched_files(text, numbers):
        info = _file_info(patched)
        if not wanted(info.path) and not (info.old_path and wanted(info.old_path)):
            continue
        reason = _skip_reason(info, patched, settings)
        if reason is not None:
            # A binary file has no hunks in the diff, yet it is a change left unreviewed:
            # it counts as one skipped hunk, so `-v` does not say "0 skipped" about it.
            yield (ChangedFile(info.path, info.old_path, info.status, info.is_binary, reason),
                   len(patched) or int(info.is_binary))
            continue
        file_hunks = _file_hunks(raw, info, settings, read_new_file, numbers)
        yield ChangedFile(info.path, info.old_path, info.status, False, None, file_hunks), 0


def _patched_files(text: str,
                   numbers: LineNumbers) -> Iterator[tuple[PatchedFile, list[_RawHunk]]]:
    """unidiff's files of ``text``, each with its hunks' lines, one ``diff --git`` section at a
    time.

    unidiff keeps an object per diff line, several times the size of the text. So it reads
    only the headers and checks the layout (``metadata_only``), and ``_read_hunks`` reads
    the lines straight into ``DiffLine``s; and it reads one section at a time (a git header
    resets its parser, so a section parses alone exactly as inside the whole text), so that
    the transient objects of a huge diff are never alive together. A diff that fails to parse
    is parsed again whole, for the message it always had.
    """
    text = disambiguate_git_headers(text)
    found = False
    for section in _git_file_sections(text):
        try:
            patch = _parse_patch(section, whole=False)
        except InputError:
            _parse_patch(text)  # raises the error the whole diff gives
            raise
        found = found or bool(patch)
        raw = iter(_read_hunks(section, [hunk for patched in patch for hunk in patched],
                               numbers))
        for patched in patch:
            yield patched, [next(raw) for _ in patched]
    if not found and not only_unmerged_paths(text):
        raise _not_a_diff()


def _not_a_diff() -> InputError:
    return InputError("input is not a unified diff: expected lines such as 'diff --git', "
                      "'---', '+++' and '@@'; make one with `git diff > FILE`")


def _git_file_sections(text: str) -> Iterator[str]:
    """``text`` cut before every line that unidiff reads as a ``diff --git`` file header."""
    from unidiff.constants import (
        RE_DIFF_GIT_HEADER,
        RE_DIFF_GIT_HEADER_NO_PREFIX,
        RE_DIFF_GIT_HEADER_URI_LIKE,
    )

    headers = (RE_DIFF_GIT_HEADER, RE_DIFF_GIT_HEADER_URI_LIKE, RE_DIFF_GIT_HEADER_NO_PREFIX)
    start = 0
    found = text.find("\ndiff --git ")
    while found >= 0:
        cut = found + 1
        end = text.find("\n", cut)
        line = text[cut:] if end < 0 else text[cut:end + 1]  # as unidiff reads it: with "\n"
        if any(header.match(line) for header in headers):
            yield text[start:cut]
            start = cut
        found = text.find("\ndiff --git ", cut)
    yield text[start:]


def _parse_patch(text: str, *, whole: bool = True) -> PatchSet:
    from unidiff.patch import PatchSet  # ~10 ms; only when there is something to parse
    from unidiff.errors import UnidiffParseError

    try:
        # A section's lines one at a time: io.StringIO (unidiff's own way in) would copy the
        # text into a buffer of 4 bytes per character.
        patch = PatchSet(text if whole else _lines_of(text), metadata_only=not whole)
    except (UnidiffParseError, ValueError, IndexError, AssertionError) as err:
        # unidiff's messages quote the offending line, which may hold a secret: keep only
        # the kind of problem ("Hunk is shorter than expected").
        problem = str(err).split(":", 1)[0].strip() or type(err).__name__
        raise InputError(
            f"the diff is truncated or corrupt ({problem}): regenerate it with `git diff`"
        ) from None
    if whole and not patch and not only_unmerged_paths(text):
        raise _not_a_diff()
    return patch


# --- which file, and whether to review it -----------------------------------------------


class FileInfo(NamedTuple):
    path: str
    old_path: str | None
    status: FileStatus
    is_binary: bool


def _file_info(patched: PatchedFile) -> FileInfo:
    moves = move_lines(patched.patch_info or ())
    source = diff_name(patched.source_file)
    target = diff_name(patched.target_file)
    source, target = strip_prefixes(source, target)
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


# --- building hunks ---------------------------------------------------------------------


@dataclass
class _RawHunk:
    """One hunk's lines as read from the diff, before it is split and given context."""
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
    raw: list[_RawHunk], info: FileInfo, settings: Settings, read_new_file: ReadNewFile | None,
    numbers: LineNumbers,
) -> list[Hunk]:
    is_python = info.path.endswith(PYTHON_SUFFIXES)
    file_lines = None
    if read_new_file is not None and (settings.context_lines > 0 or is_python):
        file_lines = _matching_file_lines(read_new_file(info.path), raw)
    defs = DefIndex(file_lines) if is_python and file_lines is not None else None
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
                                    file_lines, defs, is_python, numbers))
    return hunks


def _lines_of(text: str) -> Iterator[str]:
    """The lines of ``text`` with their "\\n", split on "\\n" only (as unidiff splits)."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start) + 1 or size
        yield text[start:end]
        start = end


def _read_hunks(section: str, headers: list[Any], numbers: LineNumbers) -> list[_RawHunk]:
    """The lines of every hunk of ``section``, read as unidiff reads them: ``headers`` are the
    hunks unidiff found there, in order (it has checked the layout, counts included). Read
    by position, so that only the strings the hunks keep are made."""
    from unidiff.constants import RE_HUNK_HEADER

    found: list[_RawHunk] = []
    pending = iter(headers)
    last: _RawHunk | None = None  # the hunk a marker or blank line right after it belongs to
    position, size = 0, len(section)
    while position < size:
        end = section.find("\n", position) + 1 or size
        if section.startswith("@@ -", position) and RE_HUNK_HEADER.match(
                section[position:end]):
            last, end = _read_body(next(pending), section, end, numbers)
            found.append(last)
        elif last is not None and section.startswith(_NO_NEWLINE_MARKER, position):
            _add_line(last, "\\", "", None, None, numbers)
        elif last is not None and end == position + 1 and section[position] == "\n":
            _add_line(last, "", "\n", None, None, numbers)  # unidiff keeps it, typeless
        else:
            last = None  # anything else ends what unidiff adds to the last hunk
        position = end
    return found


def _read_body(header: Any, section: str, position: int,
               numbers: LineNumbers) -> tuple[_RawHunk, int]:
    """One hunk's lines from ``position`` up to its counts (unidiff reads at least one line,
    as here), and where the hunk ends."""
    raw = _RawHunk(
        [], header.section_header.rstrip("\r\n"), False, False,
        next_old=header.source_start + (0 if header.source_length else 1),
        next_new=header.target_start + (0 if header.target_length else 1),
    )
    old, new = header.source_start, header.target_start
    old_end, new_end = old + header.source_length, new + header.target_length
    size = len(section)
    while position < size:
        end = section.find("\n", position) + 1 or size
        kind = section[position]
        if kind in "+- ":
            # The text between the marker and the line ending, sliced once.
            stop = end - 1 if end > position + 1 and section[end - 1] == "\n" else end
            if stop > position + 1 and section[stop - 1] == "\r":
                stop -= 1
                raw.crlf = True
            text = section[position + 1:stop]
            raw.lines.append(DiffLine(
                kind, text,
                numbers.setdefault(new, new) if kind != "-" else None,
                numbers.setdefault(old, old) if kind != "+" else None))
            if kind != "-":
                new += 1
            if kind != "+":
                old += 1
        elif kind == "\\":
            _add_line(raw, kind, "", None, None, numbers)
        else:  # an empty context line; unidiff keeps only its line break
            value = _LINE_BREAK.match(section, position)
            _add_line(raw, " ", value.group() if value else "\n", new, old, numbers)
            new, old = new + 1, old + 1
        position = end
        if old == old_end and new == new_end:
            break
    return raw, position


def _add_line(raw: _RawHunk, kind: str, value: str, new: int | None, old: int | None,
              numbers: LineNumbers) -> None:
    if kind == "\\":
        raw.no_newline_at_end = raw.no_newline_at_end or bool(
            raw.lines and raw.lines[-1].kind != "-")
        return
    text = value
    if text.endswith("\n"):
        text = text[:-1]
    if text.endswith("\r"):
        text = text[:-1]
        raw.crlf = True
    raw.lines.append(DiffLine(
        kind=kind,
        text=text,
        new_lineno=numbers.setdefault(new, new) if new is not None else None,
        old_lineno=numbers.setdefault(old, old) if old is not None else None,
    ))


def _matching_file_lines(data: bytes | None, raw: list[_RawHunk]) -> list[str] | None:
    """The new file's lines, if every new-side line of the diff is in it where it says.

    A line that is also a diff line is the diff line's own string (context lines come from
    here): a huge file is never held twice, nor decoded into a second set of lines at once.
    """
    if data is None:
        return None
    line_numbers = (number for number, _ in _new_side(raw))
    if any(a >= b for a, b in pairwise(line_numbers)):
        return _matching_unordered(data, _new_side(raw))  # a hand-made diff, out of order
    lines: list[str] = []
    pending = _new_side(raw)
    expected = next(pending, None)
    for number, line in enumerate(iter_file_lines(data), start=1):
        if expected is not None and expected[0] == number:
            if line != expected[1]:
                return None
            line = expected[1]
            expected = next(pending, None)
        lines.append(line)
    return lines if expected is None else None  # None: the diff goes past the file's end


def _new_side(raw: list[_RawHunk]) -> Iterator[tuple[int, str]]:
    return ((ln.new_lineno, ln.text) for hunk in raw for ln in hunk.lines
            if ln.new_lineno is not None)


def _matching_unordered(data: bytes, shown: Iterator[tuple[int, str]]) -> list[str] | None:
    lines = decode_file_lines(data)
    for number, text in shown:
        if number > len(lines) or lines[number - 1] != text:
            return None
        lines[number - 1] = text
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
    defs: DefIndex | None,
    is_python: bool,
    numbers: LineNumbers,
) -> Hunk:
    new_start = span.new_start
    before: tuple[tuple[int, str], ...] = ()
    after: tuple[tuple[int, str], ...] = ()
    new_numbers = [ln.new_lineno for ln in lines if ln.new_lineno is not None]
    if file_lines is not None and settings.context_lines > 0:
        before_end = new_numbers[0] - 1 if new_numbers else new_start
        after_start = new_numbers[-1] + 1 if new_numbers else new_start + 1
        before = _file_slice(file_lines, before_end - settings.context_lines + 1, before_end,
                             numbers)
        after = _file_slice(file_lines, after_start, after_start + settings.context_lines - 1,
                            numbers)
    extra: dict[str, str] = {}
    if raw.crlf:
        extra["line_endings"] = "crlf"
    if raw.no_newline_at_end and part in (0, parts):
        extra["no_newline_at_end"] = "true"
    if parts > 1:
        extra["parts"] = str(parts)
    if defs is not None:  # the def lines of same-file functions the added lines call
        before, after = with_called_defs(lines, defs, before, after)
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
        enclosing=enclosing(lines, raw.section_header, defs) if is_python else None,
        context_before=before,
        context_after=after,
        part=part,
        extra=extra,
    )


def _file_slice(file_lines: list[str], first: int, last: int,
                numbers: LineNumbers) -> tuple[tuple[int, str], ...]:
    first = max(first, 1)
    last = min(last, len(file_lines))
    return tuple((numbers.setdefault(n, n), file_lines[n - 1]) for n in range(first, last + 1))
