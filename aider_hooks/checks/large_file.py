"""``large-file`` (warning): a new file whose new blob is larger than ``max-file-bytes`` (0
turns the rule off), binary files included; not a copy or a rename of a file already in the
repository (git stores that blob once). It is anchored on line 1 when line 1 is an added
line, else on the file's first added line; a binary file has no lines, so its finding is
path-level, on line 1 with empty ``code`` (reporters show it as ``path:1``; the PR bot cannot
attach it to a diff line)."""
from __future__ import annotations

from collections.abc import Iterator, Sequence

from aider_hooks.checks.common import added_by_line
from aider_hooks.checks.context import CheckContext
from aider_hooks.checks.registry import Check
from aider_hooks.finding import Finding
from aider_hooks.hunk import Hunk


def check_large_files(ctx: CheckContext) -> Iterator[Finding]:
    limit: int = ctx.options["max_file_bytes"]
    if limit <= 0:
        return
    for file in ctx.files:
        if file.status != "added" or file.old_path is not None:
            continue
        blob = ctx.read_new_file(file.path)
        size = len(blob) if blob is not None else _size_from_diff(file.hunks)
        if size is None or size <= limit:
            continue
        added = added_by_line(file.hunks)
        anchor = 1 if 1 in added or not added else min(added)
        kind = "binary file" if file.is_binary else "file"
        yield ctx.finding(
            path=file.path, line=anchor, severity="warning", category="large-file",
            message=f"new {kind} of {_human_size(size)} (limit {_human_size(limit)}): large "
                    "files bloat every clone; store it elsewhere or with Git LFS, or raise "
                    "max-file-bytes",
            code=added.get(anchor, ""))


def _size_from_diff(hunks: Sequence[Hunk]) -> int | None:
    """A new text file's size, from its lines in the diff (no blob to measure)."""
    if not hunks:
        return None
    return sum(len(text.encode("utf-8")) + 1 for hunk in hunks for _, text in hunk.new_side)


def _human_size(size: int) -> str:
    if size < 1000:
        return f"{size} bytes"
    if size < 1_000_000:
        return f"{size / 1000:.1f} kB"
    return f"{size / 1_000_000:.1f} MB"


# needs_file: a pull request's diff from the API cannot tell a file's size.
CHECK = Check("large-file", check_large_files, needs_file=True, options=("max_file_bytes",),
              per_file=True)
