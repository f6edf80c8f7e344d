"""Build ``Hunk`` objects by hand for unit tests of the pure stages (prompts, anchoring)."""
from __future__ import annotations

from aider_hooks.hunk import DiffLine, Hunk


def make_hunk(path: str, start: int, lines: list[str], **extra: object) -> Hunk:
    """A hunk from lines prefixed by "+", "-" or " ", numbered from ``start`` on both sides."""
    new = old = start
    diff: list[DiffLine] = []
    for raw in lines:
        kind, text = raw[0], raw[1:]
        if kind == "+":
            diff.append(DiffLine("+", text, new, None))
            new += 1
        elif kind == "-":
            diff.append(DiffLine("-", text, None, old))
            old += 1
        else:
            diff.append(DiffLine(" ", text, new, old))
            new += 1
            old += 1
    return Hunk(path=path, lines=tuple(diff), new_start=start, new_length=new - start,
                old_start=start, old_length=old - start, **extra)  # type: ignore[arg-type]
