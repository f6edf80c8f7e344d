"""``conflict-marker`` (error): a line starting with ``<<<<<<< ``, ``>>>>>>> `` or
``||||||| ``, or a bare ``=======`` when the same file also has one of the others (alone it is
a Markdown/reStructuredText heading underline)."""
from __future__ import annotations

import re
from collections.abc import Iterator

from aider_hooks.checks.common import added_by_line
from aider_hooks.checks.context import CheckContext
from aider_hooks.checks.registry import Check
from aider_hooks.finding import Finding

_CONFLICT_MARKER = re.compile(r"(?:<{7}|>{7}|\|{7})(?: |$)")
_CONFLICT_SEPARATOR = re.compile(r"={7}[ \t]*$")
MESSAGE = "merge conflict marker left in the file: resolve the conflict and remove it"


def check_conflict_markers(ctx: CheckContext) -> Iterator[Finding]:
    for file in ctx.files:
        added = added_by_line(file.hunks)
        markers = [n for n, text in added.items() if _CONFLICT_MARKER.match(text)]
        if markers:
            markers += [n for n, text in added.items() if _CONFLICT_SEPARATOR.match(text)]
        for n in sorted(markers):
            yield ctx.finding(path=file.path, line=n, severity="error",
                              category="conflict-marker", message=MESSAGE, code=added[n])


CHECK = Check("conflict-marker", check_conflict_markers, per_file=True)
