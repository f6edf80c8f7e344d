"""Keep credentials out of every message, log and error we produce.

SDK and HTTP errors can echo request headers or keys; anything we print or log that may hold
text from outside goes through ``mask_secrets`` first.
"""
from __future__ import annotations

import os
import re
from collections.abc import Iterable

# Variables whose values are credentials of ours.
CREDENTIAL_VARIABLES = ("OPENAI_API_KEY", "GITHUB_TOKEN", "GH_TOKEN", "INPUT_API-KEY",
                        "INPUT_GITHUB-TOKEN", "AZURE_OPENAI_API_KEY")

# Token shapes that must never be printed even when we do not know their value. Compiled on
# first use: every review imports this module (to remember a key from a .env file), few print.
_TOKEN_SHAPES = (
    r"\b(?:sk-(?:proj-|ant-)?[A-Za-z0-9_\-]{16,}"
    r"|gh[pousr]_[A-Za-z0-9]{20,}"
    r"|github_pat_[A-Za-z0-9_]{20,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,})"
)
_BEARER = r"(?i)(bearer|token)\s+[A-Za-z0-9_\-\.=]{12,}"
# Credentials that did not come from the environment (a .env file, a --token flag), so that
# the last-resort handlers (crash log, error line) mask them without being told.
_REMEMBERED: set[str] = set()


def remember_secret(value: str | None) -> None:
    """Mask ``value`` in every later ``mask_secrets`` call of this process."""
    if value and len(value) >= 6:
        _REMEMBERED.add(value)


def mask_secrets(text: str, extra: Iterable[str | None] = ()) -> str:
    """``text`` with known credentials and token-shaped strings replaced by ``***``."""
    known = [os.environ.get(name) for name in CREDENTIAL_VARIABLES]
    values = {v for v in (*known, *_REMEMBERED, *extra) if v}
    for value in sorted(values, key=len, reverse=True):  # a key inside a longer one: longer first
        if value and len(value) >= 6:
            text = text.replace(value, "***")
    text = re.sub(_TOKEN_SHAPES, "***", text)  # re caches the compiled patterns
    return re.sub(_BEARER, lambda m: f"{m.group(1)} ***", text)
