"""A check: every added line that says TODO is an ``info`` finding."""
from __future__ import annotations

from collections.abc import Iterator

from aider_hooks.plugins import CheckContext, Finding


def todo_check(ctx: CheckContext) -> Iterator[Finding]:
    for hunk in ctx.hunks:
        for line, text in hunk.added_lines():
            if "TODO" in text:
                yield ctx.finding(path=hunk.path, line=line, severity="info", category="todo",
                                  message="TODO left in the change: do it, or open an issue")
