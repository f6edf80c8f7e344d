"""What the rules share: a match, the tests for random-looking text, and the test for a
value that names a secret instead of holding one."""
from __future__ import annotations

import re
from typing import NamedTuple


def lower_same_length(text: str) -> str:
    """``text`` lower-cased with every position kept, so a match in it is a match in ``text``
    (a few non-ASCII letters grow when lower-cased: those stay as they are)."""
    lowered = text.lower()
    if len(lowered) != len(text):
        lowered = "".join(c.lower() if c.isascii() else c for c in text)
    return lowered


class SecretMatch(NamedTuple):
    kind: str
    start: int
    end: int


_DIGIT = re.compile(r"[0-9]")
_LETTER = re.compile(r"[A-Za-z]")


def mixed(value: str) -> bool:
    """Random tokens mix digits and letters; words and identifiers mostly do not."""
    return _DIGIT.search(value) is not None and _LETTER.search(value) is not None


def random_case(value: str) -> bool:
    return mixed(value) and any(c.isupper() for c in value) and any(c.islower() for c in value)


def has_case(value: str) -> bool:
    return mixed(value) or (any(c.isupper() for c in value) and any(c.islower() for c in value))



B64 = r"A-Za-z0-9+/"
B64URL = r"A-Za-z0-9_\-"

_PLACEHOLDER = re.compile(r"<[^<>]+>|\{[^{}]*\}|\$\w+|%\w+%|%[sdr]|:\w+")
_MASK_CHARS = frozenset("*•xX.?#_-:")
_TEMPLATE_PIECES = re.compile(r"%[-+ #0-9.]*[sdrfx]|\{[^{}]*\}")
_NON_LITERALS = frozenset(
    "none null nil true false yes no on off undefined ~ new required optional".split())
_INTERPOLATIONS = ("${", "{{", "%(", "#{", "$(", "...", "…")  # "..." elides: "sk-..."


def is_reference(value: str) -> bool:
    """True for values that name a secret rather than hold one."""
    value = value.strip()
    return (not value or set(value) <= _MASK_CHARS or bool(_PLACEHOLDER.fullmatch(value))
            or any(mark in value for mark in _INTERPOLATIONS) or value.lower() in _NON_LITERALS
            or _only_templates(value))


def _only_templates(value: str) -> bool:
    """``"%s:%s"``, ``"{}@{}"``: format placeholders and punctuation."""
    rest, count = _TEMPLATE_PIECES.subn("", value)
    return count > 0 and not any(c.isalnum() for c in rest)
