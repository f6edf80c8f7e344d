"""Which names name a secret: ``DB_PASSWORD``, ``client_secret``, ``apiKey``, ``X-Api-Key``
(``strong``: any literal value is a secret), and names that end in a key, salt or the like,
``WEATHER_KEY``, ``PASSWORD_SALT`` (``key``: a secret only when the value looks like key
material; ``primary_key = "id"`` and ``TOKEN_STORAGE_KEY = "auth.token"`` name slots)."""
from __future__ import annotations

import re

# A format suffix after the keyword: "_b64", "2", "_value".
SUFFIX = r"(?:[_.-]?(?:value|string|str|b64|base64|hex|raw|plaintext|plain|encrypted|enc|hash|\d{1,3}))?"
# The (lower-cased) name must end with one of these keywords (and the suffix).
SECRET_NAME = re.compile(
    r"(?P<kw>password|passwd|passphrase|pwd|pass|secret|token|credentials?|apikey|auth|pat"
    r"|secret[_.-]?key[_.-]?base"  # Rails
    r"|(?:api|access|secret|private|auth|encryption|decryption|signing|master|client|account"
    # Not "storage", "session" or "cookie": their keys are mostly names of slots.
    r"|app|service|hmac|subscription|license|consumer|webhook|jwt|crypto"
    r"|shared|deploy|ssh|gpg|pgp|admin|root|bot|integration|signature|verification)"
    rf"[_.-]?key){SUFFIX}$")
KEYISH_NAME = re.compile(rf"(?:key|salt|pepper|seed|nonce|iv|sig|signature|secret){SUFFIX}$")


def keyword_starts_word(name: str, at: int, keyword: str) -> bool:
    """``bypass``/``compass`` do not end in the keyword ``pass``, nor ``oauth`` in ``auth``
    nor ``compat`` in ``pat``; ``db_pass``/``dbPass``/``basic_auth``/``npmAuth`` do."""
    if keyword not in ("pass", "auth", "pat") or at == 0 or not name[at - 1].isalpha():
        return True
    return keyword != "pat" and name[at].isupper() and name[at - 1].islower()  # camelCase: dbPass


def secret_name_kind(name: str) -> str | None:
    """``"strong"``, ``"key"`` or None for the name ``name`` (any case, any separators)."""
    lowered = name.lower()
    match = SECRET_NAME.search(lowered)
    if match is not None and keyword_starts_word(name, match.start("kw"), match.group("kw")):
        return "strong"
    keyish = KEYISH_NAME.search(lowered)
    if keyish is not None and (keyish.start() == 0 or not lowered[keyish.start() - 1].isalpha()
                               or name[keyish.start()].isupper()):
        return "key"
    return None
