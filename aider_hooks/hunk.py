"""The unit of review: one hunk of a diff, with the line numbers a finding can be anchored to."""
from __future__ import annotations

from dataclasses import dataclass, field


# slots: a huge diff has a DiffLine per line; without them each carries a dict as well.
@dataclass(frozen=True, slots=True)
class DiffLine:
    """One line of a hunk. ``kind`` is ``"+"`` (added), ``" "`` (context) or ``"-"`` (removed)."""

    kind: str
    text: str  # without the diff prefix and without the line ending
    new_lineno: int | None  # line number in the new file; None for removed lines
    old_lineno: int | None  # line number in the old file; None for added lines


@dataclass(frozen=True)
class Hunk:
    """A hunk of one file's diff, ready to be reviewed.

    Only ``lines`` are part of the diff (and so may carry an inline PR comment). The
    ``context_before``/``context_after`` lines come from the staged file to help the model
    understand the change; findings are never anchored to them.
    """

    path: str  # path in the new version ("b/" side)
    lines: tuple[DiffLine, ...]
    new_start: int
    new_length: int
    old_start: int = 0
    old_length: int = 0
    old_path: str | None = None  # set when the file was renamed or copied
    is_new_file: bool = False
    section_header: str = ""  # the text git prints after the second "@@"
    enclosing: str | None = None  # e.g. "def total(price, qty):" for Python
    context_before: tuple[tuple[int, str], ...] = ()  # (new line number, text)
    context_after: tuple[tuple[int, str], ...] = ()
    part: int = 0  # index when a very large hunk was split into parts
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def added(self) -> list[tuple[int, str]]:
        """(new line number, text) of every added line."""
        return [(ln.new_lineno, ln.text) for ln in self.lines if ln.kind == "+" and ln.new_lineno]

    def added_lines(self) -> list[tuple[int, str]]:
        """(new line number, text) of every added line: what checks, plugins included, read."""
        return self.added

    @property
    def new_side(self) -> list[tuple[int, str]]:
        """(new line number, text) of every line on the new side of the diff: added and context.

        These are the only lines a finding may be anchored to.
        """
        return [(ln.new_lineno, ln.text) for ln in self.lines if ln.kind != "-" and ln.new_lineno]

    @property
    def first_line(self) -> int:
        side = self.new_side
        return side[0][0] if side else self.new_start

    @property
    def last_line(self) -> int:
        side = self.new_side
        return side[-1][0] if side else self.new_start

    def diff_text(self) -> str:
        """The hunk as unified-diff text (header and prefixed lines), for display and hashing."""
        header = f"@@ -{self.old_start},{self.old_length} +{self.new_start},{self.new_length} @@"
        if self.section_header:
            header += f" {self.section_header}"
        return "\n".join([header, *(f"{ln.kind}{ln.text}" for ln in self.lines)]) + "\n"
