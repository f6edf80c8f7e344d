"""Long random-looking strings that no other rule names."""
from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterator

from aider_hooks.redact.common import B64, SecretMatch, mixed


_MIN_RUN = 32
_CANDIDATE = re.compile(rf"(?<![{B64}_\-=])[{B64}_\-]{{{_MIN_RUN},}}={{0,2}}")
_WORDS = re.compile(r"[A-Z]?[a-z]{3,}")
_HEX_CHARS = frozenset("0123456789abcdefABCDEF-")
_SRI_PREFIXES = ("sha1-", "sha256-", "sha384-", "sha512-")
_SEPARATORS = re.compile(r"[/_-]")
_WORD_WITH_VERSION = re.compile(r"[A-Za-z]+[0-9]{0,8}")
_READABLE_RUNS = re.compile(r"[A-Z]?[a-z]{2,}|[A-Z]{2,}|[0-9]+")
_ALPHABET_RUNS = ("abcdefg", "ABCDEFG", "0123456", "nopqrst", "NOPQRST")
# Just before a candidate: a digest's algorithm, a data URI, an SSH public key's type.
_NOT_SECRET_BEFORE = re.compile(
    r"(?:sha\d{0,3}|md5|h1)[-:]$|base64,$|(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+) $")
# Entropy that a random base62/base64 string of this length reaches 999 times in 1000.
_ENTROPY_POINTS = ((32, 4.0), (40, 4.3), (64, 4.75))


def shannon_entropy(value: str) -> float:
    total = len(value)
    return -sum(n / total * math.log2(n / total) for n in Counter(value).values())


def _entropy_threshold(length: int) -> float:
    (x0, y0), *rest = _ENTROPY_POINTS
    for x1, y1 in rest:
        if length <= x1:
            return y0 + (y1 - y0) * max(0, length - x0) / (x1 - x0)
        x0, y0 = x1, y1
    return y0


def high_entropy(text: str, exempt: list[tuple[int, int]],
                 words: list[tuple[int, int]] | None = None) -> list[SecretMatch]:
    """``words``: (start, end) of the text's whitespace-separated words of 32+ characters, or
    more (``common.long_words``), when the caller has them already."""
    exempt_starts = [a for a, _ in exempt]  # sorted and disjoint
    found = []
    for m in _long_runs(text, words):
        at = bisect_right(exempt_starts, m.start()) - 1
        if at >= 0 and m.start() < exempt[at][1]:
            continue
        if (not _NOT_SECRET_BEFORE.search(text[max(0, m.start() - 24):m.start()].lower())
                and _looks_random(m.group())):
            found.append(SecretMatch("high-entropy", m.start(), m.end()))
    return found


def _long_runs(text: str, words: list[tuple[int, int]] | None) -> Iterator[re.Match[str]]:
    """Candidates, searched only inside words of 32+ characters (``str.split`` is cheap)."""
    if words is not None:
        for start, end in words:
            if end - start >= _MIN_RUN:
                yield from _CANDIDATE.finditer(text, start, end)
        return
    cursor = 0
    for word in [w for w in text.split() if len(w) >= _MIN_RUN]:
        start = text.find(word, cursor)
        cursor = start + len(word)
        yield from _CANDIDATE.finditer(text, start, cursor)


def _looks_random(value: str) -> bool:
    core = value.rstrip("=")
    if not mixed(core) or set(core) <= _HEX_CHARS or core.lower().startswith(_SRI_PREFIXES):
        return False  # words; hex digests, git SHAs, UUIDs; subresource-integrity hashes
    if sum(len(w) for w in _WORDS.findall(core)) >= 0.6 * len(core) or _reads_as_slug(core):
        return False  # camelCase or snake_case words; URL paths, kebab-case names
    if shannon_entropy(core) < _entropy_threshold(len(core)):
        return False
    if is_alphabet(core):
        return False  # "ABCDEFGHIJ...0123456789": an alphabet, not a key
    return not decodes_to_prose(core)


def is_alphabet(core: str) -> bool:
    return any(run in core for run in _ALPHABET_RUNS)


def _reads_as_slug(core: str) -> bool:
    """``org/wiki/List_of_ISO_639-1_codes``, ``gpt-4o-mini-2024-07-18``: every part between
    separators is short, a number, a hex id or a word (with maybe a version number). Random
    tokens split into such parts about 1 time in 400 at 32 characters, never at 64."""
    segments = _SEPARATORS.split(core)
    return len(segments) > 1 and all(_readable_segment(s) for s in segments)


def _readable_segment(segment: str) -> bool:
    if len(segment) <= 3 or segment.isdigit() or (len(segment) >= 7 and set(segment) <= _HEX_CHARS):
        return True
    if _WORD_WITH_VERSION.fullmatch(segment) is None:
        return False
    return sum(len(run) for run in _READABLE_RUNS.findall(segment)) >= 0.75 * len(segment)


def decodes_to_prose(value: str) -> bool:
    import base64  # rarely needed: only for strings that already look random
    import binascii

    altchars = b"-_" if ("-" in value or "_" in value) else None
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), altchars=altchars,
                                   validate=True).decode("ascii")
    except (binascii.Error, ValueError):
        return False
    return " " in decoded and decoded.isprintable()
