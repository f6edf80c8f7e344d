"""What a check sees of a review: the changed files, a reader for their new content, a way
to build findings, and the few settings values that check uses. Never ``Settings`` (and so
never the API key): a check is code from any installed distribution.

Public as ``aider_hooks.plugins.CheckContext``; docs/plugins.md is its reference.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any

from aider_hooks.finding import SEVERITIES, Finding
from aider_hooks.hunk import Hunk

if TYPE_CHECKING:
    from aider_hooks.diff.parse import ChangedFile

ReadNewFile = Callable[[str], "bytes | None"]
_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True, slots=True)
class CheckContext:
    """One check's view of one review.

    ``hunks``: the reviewed hunks (``.path``, ``.added_lines()``); ``files``: the changed files
    the checks look at (``.path .status .old_path .is_binary .hunks``; a binary file is listed
    with no hunks); ``read_new_file(path)``: the new version of a file as bytes, or None when
    it cannot be read (a pull request's diff from the API has no files); ``options``: the
    settings values this check declared, read-only.
    """

    files: tuple[ChangedFile, ...]
    read_new_file: ReadNewFile
    source: str = "builtin"  # what the findings' ``source`` says: "builtin" or "plugin:<name>"
    options: Mapping[str, Any] = field(default_factory=lambda: _NO_OPTIONS)
    hunks: tuple[Hunk, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "hunks", tuple(h for f in self.files for h in f.hunks))

    def finding(self, *, path: str, line: int, severity: str, category: str, message: str,
                suggestion: str | None = None, end_line: int | None = None,
                code: str | None = None) -> Finding:
        """A ``Finding`` on ``path:line`` (a line number in the new file), with this check's
        source. ``code`` (the line's text, which the fingerprint hashes) defaults to the added
        line at ``line``, secrets redacted."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, got {severity!r}")
        if not isinstance(line, int) or line < 1:
            raise ValueError(f"line must be a line number (1 or more), got {line!r}")
        if code is None:
            code = self._added_text(path, line)
        return Finding(path=path, line=line, end_line=max(end_line or line, line),
                       severity=severity, category=category, message=message,
                       suggestion=suggestion, source=self.source, code=code)

    def _added_text(self, path: str, line: int) -> str:
        for hunk in self.hunks:
            if hunk.path == path:
                for number, text in hunk.added_lines():
                    if number == line:
                        from aider_hooks.redact import redact_text

                        return redact_text(text, path=path)[0]
        return ""
