"""What the rules share: a match, the tests for random-looking text, and the test for a
value that names a secret instead of holding one."""
from __future__ import annotations

import math
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


# --- What a value looks like -------------------------------------------------------------------
# Shared by the rules that find a value by where it stands (a positional argument, a flag, a
# header, an XML attribute, a comment...): is it a password, random key material, or neither?

_WORD_RUNS = re.compile(r"[A-Z]?[a-z]{3,}|[A-Z]{4,}")
_EMAIL = re.compile(r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+")
_DOMAIN = re.compile(r"(?:[a-z0-9-]{1,63}\.)+[a-z]{2,24}(?::\d{1,5})?")
_VERSION = re.compile(r"v?\d+(?:[.-]\d+)+(?:[-.+]?[A-Za-z0-9]+)*")
_DATE_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2})?)?.*")
_IDENTIFIER_CHAIN = re.compile(r"[A-Za-z_$][\w$]*(?:(?:\.|::|->)[A-Za-z_$][\w$]*)*(?:\(.*|\[.*)?")
_SNAKE_OR_KEBAB = re.compile(r"[a-z]+(?:[_-][a-z0-9]+)+")
_SYMBOLS = frozenset("!#$%&*+-./:;<=>?@^_~|,()[]{}")
_HEX = frozenset("0123456789abcdefABCDEF")


def entropy_bits(value: str) -> float:
    total = len(value)
    counts: dict[str, int] = {}
    for c in value:
        counts[c] = counts.get(c, 0) + 1
    return -sum(n / total * math.log2(n / total) for n in counts.values())


def word_share(value: str) -> float:
    """How much of ``value`` is made of word-like runs (``get``, ``User``, ``HTTP``)."""
    return sum(len(w) for w in _WORD_RUNS.findall(value)) / max(1, len(value))


def is_hex(value: str) -> bool:
    return bool(value) and set(value) <= _HEX


def looks_random(value: str, *, min_length: int = 16) -> bool:
    """A random token of ``min_length``+ characters: letters and digits in both cases (or a
    long run of lower-case letters and digits that is not hex), not words, not a path, a
    domain, a version or a date, with the entropy a random string of its length reaches 999
    times in 1000 (3.15 bits at 16 characters, 4.07 at 32; measured on random base62)."""
    core = value.strip("._-/=")
    n = len(core)
    if n < min_length or n > 4096 or any(c.isspace() for c in core):
        return False
    if not mixed(core) or is_hex(core.replace("-", "")):
        return False
    if not random_case(core) and not (n >= 24 and core.isalnum() and core.islower()
                                      and sum(c.isdigit() for c in core) >= 4):
        return False
    if (_EMAIL.fullmatch(core) or _DOMAIN.fullmatch(core.lower()) or _VERSION.fullmatch(core)
            or _DATE_TIME.fullmatch(core) or "://" in core):
        return False
    if word_share(core) >= 0.5:
        return False
    if any(sep in core for sep in "./_-") and all(
            _readable_part(part) for part in _SEPARATORS.split(core)):
        return False  # a.b.c module path, file name, URL path, de_DE.utf-8
    if _SNAKE_OR_KEBAB.fullmatch(core):
        return False
    return entropy_bits(core) >= min(4.3, math.log2(n) - 0.9)


_SEPARATORS = re.compile(r"[./_-]")
_FILE_NAME = re.compile(r"[\w-]{1,64}\.[A-Za-z]{1,6}")


def _readable_part(part: str) -> bool:
    """A part of a path or dotted name that a person wrote: short, a number, words, or a
    file name."""
    return (len(part) <= 5 or part.isdigit() or word_share(part) >= 0.5
            or (not _DIGIT.search(part) and (part.isupper() or part.islower()))
            or (_FILE_NAME.fullmatch(part) is not None and word_share(part) >= 0.3))


def key_material(value: str) -> bool:
    """What a key, salt or signing secret holds: 16+ hex digits, or a random-looking token,
    or 32+ characters of printable noise (WordPress salts)."""
    core = value.strip()
    if len(core) >= 16 and is_hex(core):
        return len(set(core)) >= 8  # not 0000... or abab...
    if core.startswith("base64:"):
        core = core[7:]
    if looks_random(core, min_length=16):
        return True
    return (len(core) >= 32 and not any(c.isspace() for c in core) and mixed(core)
            and sum(c in _SYMBOLS for c in core) >= 4 and entropy_bits(core) >= 4.5)


def password_like(value: str) -> bool:
    """A value that reads as a password: no spaces, a letter and a digit or symbol, and not
    a reference, a number, an e-mail address, a domain, a path, a URL, a version, a date or
    an expression (``self.password``, ``get_password()``)."""
    if not 4 <= len(value) <= 256 or any(c.isspace() for c in value):
        return False
    if not _LETTER.search(value) or is_reference(value):
        return False
    if not (_DIGIT.search(value) or any(c in _SYMBOLS for c in value)):
        return False
    if (_EMAIL.fullmatch(value) or _DOMAIN.fullmatch(value) or "://" in value
            or value.startswith(("/", "./", "../", "~/", "\\\\")) or value.count("/") >= 2
            or _VERSION.fullmatch(value) or _DATE_TIME.fullmatch(value)):
        return False
    if _IDENTIFIER_CHAIN.fullmatch(value) and not _DIGIT.search(value):
        return False  # self.password, get_password(), config["x"]
    if "(" in value or value.endswith(("]", ")")):
        return False
    if _SNAKE_OR_KEBAB.fullmatch(value) and not _DIGIT.search(value):
        return False  # read-only, api_key, some-name
    return True


def long_words(text: str, min_length: int = 16) -> list[tuple[int, int]]:
    """(start, end) of each whitespace-separated word of ``min_length``+ characters: the rules
    that look for tokens look only there (``str.split`` is cheap)."""
    spans = []
    cursor = 0
    for word in text.split():
        if len(word) >= min_length:
            start = text.find(word, cursor)
            cursor = start + len(word)
            spans.append((start, cursor))
    return spans


def occurrences(text: str, literal: str, start: int = 0, end: int | None = None) -> list[int]:
    """Every position of ``literal`` in ``text[start:end]`` (``str.find``: C speed)."""
    stop = len(text) if end is None else end
    found = []
    at = text.find(literal, start, stop)
    while at != -1:
        found.append(at)
        at = text.find(literal, at + 1, stop)
    return found


def hits(text: str, literals: tuple[str, ...], pattern: re.Pattern[str]) -> list[re.Match[str]]:
    """Like ``pattern.finditer(text)`` for a pattern that starts with one of ``literals``,
    but tried only where one of them occurs: an alternation (or a look-behind) at the start
    of a pattern is tried at every position of the text, many times slower than ``find``."""
    starts = sorted({at for literal in literals for at in occurrences(text, literal)})
    found = []
    done = 0
    for at in starts:
        if at < done:
            continue
        m = pattern.match(text, at)
        if m is not None:
            found.append(m)
            done = max(m.end(), at + 1)
    return found
