"""The fail-safe: a random-looking value of 16+ characters is replaced wherever it stands,
even when no rule knows its kind (a string literal, a flag or header value, an XML attribute
or element text, a CSV cell, a comment after a credential word...).

A random token is told from everyday text by ``common.looks_random``: letters and digits in
both cases, not words, not a path, a domain or a version, and high entropy for its length.
The high-entropy rule covers 32+ characters of base64 with a stricter threshold; this one
also takes shorter tokens (16-31 characters), which is where API keys without a known shape
(20-character ids and secrets) live. Its cost on real code is measured by
``benchmarks/redaction_false_alarms.py``.
"""
from __future__ import annotations

import re
from bisect import bisect_right

from aider_hooks.redact.common import SecretMatch, looks_random
from aider_hooks.redact.entropy import decodes_to_prose, is_alphabet

# A token: letters, digits and the few symbols tokens use. Runs inside long words only.
_TOKEN = re.compile(r"[A-Za-z0-9][A-Za-z0-9+/_.~-]{15,}={0,2}")
# Just before a token: a digest's algorithm, a data URI, an SSH public key's type, a colour
# or an anchor; such tokens are not secrets.
_NOT_SECRET_BEFORE = re.compile(
    r"(?:sha\d{0,3}|md5|h1|sha1-|sha256-|sha384-|sha512-)[-:]?$|base64,$|#$"
    r"|(?:ssh-(?:rsa|dss|ed25519)|ecdsa-sha2-nistp\d+) $")


_DIGEST_PREFIXES = ("sha1-", "sha256-", "sha384-", "sha512-", "sha1:", "sha256:", "sha512:",
                    "md5:", "md5-", "h1:")


def random_values(text: str, words: list[tuple[int, int]],
                  exempt: list[tuple[int, int]]) -> list[SecretMatch]:
    exempt_starts = [a for a, _ in exempt]
    found = []
    for start, end in words:
        for m in _TOKEN.finditer(text, start, end):
            value = m.group().rstrip("._-/")
            if value.lower().startswith(_DIGEST_PREFIXES):
                continue
            if not looks_random(value) or is_alphabet(value) or decodes_to_prose(value.rstrip("=")):
                continue
            at = bisect_right(exempt_starts, m.start()) - 1
            if at >= 0 and m.start() < exempt[at][1]:
                continue
            if _NOT_SECRET_BEFORE.search(text[max(0, m.start() - 24):m.start()].lower()):
                continue
            found.append(SecretMatch("random-value", m.start(), m.start() + len(value)))
    return found
