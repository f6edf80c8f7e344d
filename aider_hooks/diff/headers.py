"""Reading the file names in git's diff headers, before and after unidiff parses them.

Before: ``disambiguate_git_headers`` rewrites the rare ``diff --git`` headers that unidiff
would split in the wrong place (a path holding " b/"). After: ``diff_name``, ``move_lines``
and ``strip_prefixes`` turn the names unidiff found (and the ``rename``/``copy`` lines) into
repository-relative paths, undoing git's C-style quoting (``unquote_git_path``) and its
``a/``/``b/`` prefixes. ``only_unmerged_paths`` recognises the "* Unmerged path" lines that
``git diff --cached`` prints during a conflicted merge instead of a diff.

Pure text in, text out: unidiff and the Hunk objects stay in ``hunks.py``.
"""
from __future__ import annotations

import re
from collections.abc import Iterable

DEV_NULL = "/dev/null"

_AMBIGUOUS_HEADER = re.compile(r'^diff --git .*? "?b/.*? "?b/', re.MULTILINE)


def only_unmerged_paths(text: str) -> bool:
    """``git diff --cached`` during a conflicted merge lists "* Unmerged path X" lines: not a
    diff, but not an error either."""
    return all(line.startswith("* Unmerged path ") for line in text.splitlines() if line.strip())


def disambiguate_git_headers(text: str) -> str:
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


def move_lines(patch_info: Iterable[str]) -> dict[str, str]:
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


def diff_name(name: str | None) -> str | None:
    if not name or name == DEV_NULL:
        return None
    return unquote_git_path(name.rstrip("\r\n"))


_SOURCE_PREFIXES = ("a/", "c/", "i/", "o/", "1/")
_TARGET_PREFIXES = ("b/", "w/", "i/", "o/", "2/")


def strip_prefixes(source: str | None, target: str | None) -> tuple[str | None, str | None]:
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
_ESCAPED = {chr(code): "\\" + letter for letter, code in _C_ESCAPES.items()}


def quote_git_path(name: str) -> str:
    """``name`` as git writes it in a header: C-quoted when it holds a quote, a backslash or
    a control character (unquoted, a tab would end the name for ``git apply``); the inverse
    of ``unquote_git_path``. Non-ASCII stays as it is, which ``git apply`` reads fine."""
    if not any(c in _ESCAPED or ord(c) < 0x20 or ord(c) == 0x7F for c in name):
        return name
    return '"' + "".join(_ESCAPED.get(c) or (f"\\{ord(c):03o}" if ord(c) < 0x20 or ord(c) == 0x7F
                                            else c) for c in name) + '"'


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
