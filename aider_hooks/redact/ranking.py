"""The rules of every kind, run on one text, most specific first (``find_secrets`` resolves
the overlaps). A module of its own so that importing ``aider_hooks.redact`` compiles none of
the rules' regexes until a text is scanned."""
from __future__ import annotations

from aider_hooks.redact import file_mode
from aider_hooks.redact.assignments import assignments
from aider_hooks.redact.common import SecretMatch, long_words, lower_same_length
from aider_hooks.redact.connection_strings import connection_strings
from aider_hooks.redact.entropy import high_entropy
from aider_hooks.redact.failsafe import random_values
from aider_hooks.redact.flags import flags
from aider_hooks.redact.headers import headers
from aider_hooks.redact.markup import markup
from aider_hooks.redact.pem import pem_blocks
from aider_hooks.redact.positional import positional
from aider_hooks.redact.prose import prose
from aider_hooks.redact.secret_paths import secret_file, table_columns
from aider_hooks.redact.shapes import shape_matches, signed_urls, url_passwords, vendor_tokens
from aider_hooks.redact.spaced_passwords import PGPASS_NAMES, spaced_passwords
from aider_hooks.redact.split_strings import split_strings


def ranked(text: str, path: str | None) -> list[SecretMatch]:
    """Every match of every rule, most specific first (overlaps not yet resolved)."""
    found: list[SecretMatch] = []  # most specific first
    exempt: list[tuple[int, int]] = []
    if "-----" in text:
        found, exempt = pem_blocks(text)
    words = long_words(text)
    found.extend(shape_matches(text))
    found.extend(vendor_tokens(text, words))
    found.extend(signed_urls(text))
    if "://" in text:
        found.extend(url_passwords(text))
    mode, lowered = file_mode(path), lower_same_length(text)
    found.extend(secret_file(text, path, exempt))
    found.extend(assignments(text, lowered, mode))
    name = path.rsplit("/", 1)[-1].lower() if path else ""
    if ("password" in lowered or "identified" in lowered or "--" in text
            or name in PGPASS_NAMES):
        found.extend(spaced_passwords(text, lowered, name, mode))
    found.extend(connection_strings(text, lowered))
    found.extend(positional(text, lowered))
    found.extend(flags(text, lowered))
    found.extend(headers(text, lowered))
    found.extend(markup(text, lowered))
    found.extend(table_columns(text, path))
    found.extend(prose(text, lowered, path, mode))
    found.extend(split_strings(text, _known_shapes))
    found.extend(high_entropy(text, exempt, words))
    found.extend(random_values(text, words, exempt))
    return found


def _known_shapes(text: str) -> list[SecretMatch]:
    return shape_matches(text) + vendor_tokens(text, [(0, len(text))])
