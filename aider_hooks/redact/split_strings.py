"""Secrets split across string literals: ``"sk_live_" + "abc..."``, Python's implicit
concatenation (``("abc" "def")`` across lines), Go's ``"abc" +\\n "def"``,
``["abc", "def"].join("")`` and ``"".join(["abc", "def"])``.

The pieces are joined and the whole is checked as one value: a known token shape, a
random-looking value, or a value assigned to a secret name. When it is a secret, every piece
is replaced.
"""
from __future__ import annotations

import re
from collections.abc import Callable

from aider_hooks.redact.common import SecretMatch, key_material, looks_random
from aider_hooks.redact.names import secret_name_kind

Shapes = Callable[[str], list[SecretMatch]]

# A literal without escapes (a piece of a secret has none): a quote that does not close on
# its line fails at once, so the scan stays linear on any input.
_LITERAL = r"""(?:"[^"\\\n]{1,512}"|'[^'\\\n]{1,512}')"""
# Two or more literals joined by "+" or by nothing but space (Python, C), across lines too.
_CONCATENATION = re.compile(rf"{_LITERAL}(?:[ \t]{{0,20}}(?:\+[ \t]{{0,20}})?\n?[ \t]{{0,40}}{_LITERAL})+")
_ARRAY = re.compile(rf"\[[ \t\n]{{0,40}}{_LITERAL}(?:[ \t\n]{{0,40}},[ \t\n]{{0,40}}{_LITERAL})+[ \t\n]{{0,40}},?[ \t\n]{{0,40}}\]")
_PIECE = re.compile(_LITERAL)
_NAME_BEFORE = re.compile(r"([A-Za-z_$][\w$.]{0,80})[\"'\]]?[ \t]*(?::[^=\n]{0,40})?(?::=|=|:)[ \t(]*$")


def split_strings(text: str, shapes: Shapes) -> list[SecretMatch]:
    """``shapes``: a function that returns the known-shape matches in a text
    (``shapes.shape_matches`` plus vendor shapes), passed in to keep the modules apart."""
    found: list[SecretMatch] = []
    for m in _CONCATENATION.finditer(text):
        found += _check(text, m, shapes)
    if "join" in text:
        for m in _ARRAY.finditer(text):
            after = text[m.end():m.end() + 12]
            before = text[max(0, m.start() - 12):m.start()]
            if after.startswith((".join(", ".join (")) or before.rstrip().endswith(".join("):
                found += _check(text, m, shapes)
    return found


def _check(text: str, m: re.Match[str], shapes: Shapes) -> list[SecretMatch]:
    pieces = [(p.start() + 1, p.end() - 1) for p in _PIECE.finditer(text, m.start(), m.end())]
    if len(pieces) < 2:
        return []
    joined = "".join(text[a:b] for a, b in pieces)
    if any(c.isspace() for c in joined) or len(joined) < 12:
        return []
    kind = ""
    known = shapes(joined)
    if known:
        kind = known[0].kind
    elif looks_random(joined) or key_material(joined):
        kind = "split-secret"
    else:
        line_start = text.rfind("\n", 0, m.start()) + 1
        name = _NAME_BEFORE.search(text, line_start, m.start())
        if name is not None:
            if secret_name_kind(name.group(1)) == "strong":
                kind = "split-secret"
    if not kind:
        return []
    return [SecretMatch(kind, a, b) for a, b in pieces if b > a]
