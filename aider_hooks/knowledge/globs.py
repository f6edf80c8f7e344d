"""Globs of instruction files (``applyTo: "**/*.py,src/**"``) and ``path-instructions`` keys.

The syntax editors use for these files: ``**`` crosses directories, ``*`` and ``?`` do not,
``{a,b}`` is either, ``[abc]`` a class. A glob without ``/`` matches the file name in any
directory (``*.py``); a leading ``/`` or ``./`` is ignored.
"""
from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=256)
def _compile(glob: str) -> re.Pattern[str] | None:
    glob = glob.strip()
    while glob.startswith(("./", "/")):
        glob = glob[1:] if glob.startswith("/") else glob[2:]
    if not glob:
        return None
    if "/" not in glob.rstrip("/"):
        glob = "**/" + glob
    if glob.endswith("/"):
        glob += "**"
    out: list[str] = []
    i = 0
    depth = 0  # inside {...}
    while i < len(glob):
        char = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("/**", i) and i + 3 == len(glob):
            out.append("(?:/.*)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if char == "*":
            out.append("[^/]*")
        elif char == "?":
            out.append("[^/]")
        elif char == "{":
            depth += 1
            out.append("(?:")
        elif char == "}" and depth:
            depth -= 1
            out.append(")")
        elif char == "," and depth:
            out.append("|")
        elif char == "[":
            end = glob.find("]", i + 1)
            if end == -1:
                out.append(re.escape(char))
            else:
                body = glob[i + 1:end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"[{body}]")
                i = end
        else:
            out.append(re.escape(char))
        i += 1
    if depth:
        return None  # an unclosed brace: the glob matches nothing
    try:
        return re.compile("".join(out))
    except re.error:
        return None


def glob_matches(path: str, glob: str) -> bool:
    """Whether the repository path ``path`` matches ``glob`` (see the module docstring)."""
    pattern = _compile(glob)
    return pattern is not None and pattern.fullmatch(path) is not None


def split_globs(value: str) -> tuple[str, ...]:
    """``"**/*.py, src/**"`` -> the globs; commas inside ``{...}`` do not split."""
    parts: list[str] = []
    current: list[str] = []
    depth = 0
    for char in value:
        if char == "{":
            depth += 1
        elif char == "}" and depth:
            depth -= 1
        if char == "," and not depth:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return tuple(p.strip() for p in parts if p.strip())
