"""Helpers the built-in checks share: a file's added lines, and its new version when the
reader's copy agrees with the diff."""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from aider_hooks.hunk import Hunk

if TYPE_CHECKING:
    from aider_hooks.checks.context import ReadNewFile
    from aider_hooks.diff.parse import ChangedFile

PYTHON_SUFFIXES = (".py", ".pyi", ".pyw")


def added_by_line(hunks: Iterable[Hunk]) -> dict[int, str]:
    """{new line number: text} of every added line of ``hunks``."""
    return {number: text for hunk in hunks for number, text in hunk.added_lines()}


def staged_source(file: ChangedFile, read_new_file: ReadNewFile) -> bytes | None:
    """The new file, if what ``read_new_file`` gives agrees with the diff; else, for a new
    file, the file rebuilt from the diff (which then holds all of it)."""
    blob = read_new_file(file.path)
    if blob is not None and _agrees_with_diff(blob, file.hunks):
        return blob
    if file.status == "added" and file.old_path is None:
        lines = [text for hunk in file.hunks for _, text in hunk.new_side]
        return ("\n".join(lines) + "\n").encode("utf-8")
    return None


def _agrees_with_diff(blob: bytes, hunks: Sequence[Hunk]) -> bool:
    from aider_hooks.diff.source import decode_file_lines

    lines = decode_file_lines(blob)
    return all(number <= len(lines) and lines[number - 1] == text
               for hunk in hunks for number, text in hunk.new_side)
