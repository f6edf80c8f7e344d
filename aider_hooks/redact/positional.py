"""Credentials passed positionally, with no secret-looking name beside the value.

- Calls that take a user and a password (``smtp.login(user, "x")``,
  ``NetworkCredential(user, "x")``, ``connect("scott", "x", dsn)``, ``auth=("api", "x")``),
  and SDK client constructors that take an id and a secret (``Client(sid, "x")``,
  ``new Twilio(sid, "x")``): every string literal after the first argument that reads as a
  password or key material. The first argument (a user, a host, an id) is kept.
- A name and its value as two string arguments (``define('DB_PASSWORD', 'x')``,
  ``setProperty("mail.smtp.password", "x")``, ``Header.Set("X-Api-Key", "x")``,
  ``os.environ.setdefault("API_TOKEN", "x")``, ``["--db-password", "x"]``): the value, when
  the name names a secret.
- ``ConvertTo-SecureString "x" -AsPlainText``.
"""
from __future__ import annotations

import re

from aider_hooks.redact.common import (
    SecretMatch,
    hits,
    occurrences,
    is_reference,
    key_material,
    looks_random,
    password_like,
)
from aider_hooks.redact.names import secret_name_kind

# Run on the lower-cased text: a callee whose name says it takes credentials, then "(".
_CALLEE = re.compile(
    r"(?:log_?[io]n|sign_?in|connect|auth|credential|passw|securestring|client|oauth|smtp"
    r"|new[ \t]+[a-z_][\w.]{0,60}|\.new)[\w$.:]{0,40}[ \t]*\(")
_CALLEE_LITERALS = ("log", "sign", "connect", "auth", "credential", "passw", "securestring",
                    "client", "oauth", "smtp", "new", ".new")
_STRONG = ("login", "logon", "log_in", "signin", "sign_in", "auth", "credential", "passw",
           "securestring")
_AUTH_TUPLE = re.compile(r"auth[\"']?[ \t]*[=:][ \t]*[(\[]")
_MAX_ARGS = 600
_STRING_PREFIXES = "@$bBrRuUfFL"
# A name and its value as two string arguments: found from each quote-comma, the name
# searched back from it, the value matched after it.
_PAIR_NAME = re.compile(r"""(["'])([A-Za-z_.$-][\w.$-]{1,80})\1[ \t]*$""")
_PAIR_VALUE = re.compile(r"""[ \t]*,[ \t]*[@$]?(["'`])((?:\\.|(?!\1)[^\\\n]){1,1024})\1""")
_SECURE_STRING = re.compile(
    r"convertto-securestring[ \t]+(?:-string[ \t]+)?([\"'])((?:(?!\1)[^\n]){1,256})\1")


def positional(text: str, lowered: str) -> list[SecretMatch]:
    found: list[SecretMatch] = []
    for hit in hits(lowered, _CALLEE_LITERALS, _CALLEE):
        callee = hit.group()
        if "hash" in callee:
            continue  # generate_password_hash("secret", "sha256"): a method name
        strong = any(word in callee for word in _STRONG)
        found += _arguments(text, hit.end() - 1, strong=strong, skip_first=True)
    if "auth" in lowered:
        for hit in _AUTH_TUPLE.finditer(lowered):
            found += _arguments(text, hit.end() - 1, strong=True, skip_first=True)
    for quote_comma in ('",', "',", '" ,', "' ,"):
        for at in occurrences(text, quote_comma):
            name = _PAIR_NAME.search(text, max(0, at - 84), at + 1)
            value_match = _PAIR_VALUE.match(text, at + 1)
            if name is None or value_match is None:
                continue
            if text[value_match.end():value_match.end() + 3].lstrip(" \t").startswith(":"):
                continue  # {"key": "apiKey", "value": ...}: the next key, not a value
            kind = secret_name_kind(name.group(2).lstrip("-$"))
            value = value_match.group(2)
            if kind is None or value.lower() == name.group(2).lower().lstrip("-$"):
                continue  # ('secret', 'secret'): a name given twice
            if "hash" in _callee_before(text, name.start()):
                continue  # generate_password_hash("secret", "sha256"): a password, then a method
            if kind == "strong" and not is_reference(value) or kind == "key" and key_material(value):
                found.append(SecretMatch("positional-credential", value_match.start(2),
                                         value_match.end(2)))
    if "securestring" in lowered:
        found += [SecretMatch("positional-credential", m.start(2), m.end(2))
                  for m in _SECURE_STRING.finditer(lowered) if not is_reference(m.group(2))]
    return found


def _arguments(text: str, open_paren: int, *, strong: bool, skip_first: bool) -> list[SecretMatch]:
    """String-literal arguments of the call whose "(" (or "[") is at ``open_paren``, after
    the first, that read as a password (any word in a strong call) or key material."""
    found = []
    for index, (start, end) in enumerate(string_arguments(text, open_paren)):
        if skip_first and index == 0:
            continue
        value = text[start:end]
        if start == end or is_reference(value):
            continue
        if (password_like(value) or key_material(value) or looks_random(value)
                or (strong and _plain_word(value))):
            found.append(SecretMatch("positional-credential", start, end))
    return found


_CALLEE_BEFORE = re.compile(r"([\w.]{1,80})[ \t]*\($")


def _callee_before(text: str, pos: int) -> str:
    """The lower-cased name of the call whose "(" is just before ``pos``, or ""."""
    callee = _CALLEE_BEFORE.search(text, max(0, pos - 82), pos)
    return callee.group(1).lower() if callee else ""


def _plain_word(value: str) -> bool:
    return (4 <= len(value) <= 128 and value.isalnum() and value.isascii()
            and value.lower() not in ("true", "false", "none", "null", "login", "plain"))


def string_arguments(text: str, open_paren: int) -> list[tuple[int, int]]:
    """For each top-level argument of the call at ``open_paren``: the (start, end) of its
    content when it is a string literal (maybe with a method call after it, such as
    ``.toCharArray()``), or (-1, -1) when it is anything else. At most ``_MAX_ARGS``
    characters are read."""
    close = {"(": ")", "[": "]"}[text[open_paren]]
    args: list[tuple[int, int]] = []
    pos, limit = open_paren + 1, min(len(text), open_paren + _MAX_ARGS)
    depth = 0
    literal: tuple[int, int] | None = None
    other = False
    while pos < limit:
        c = text[pos]
        if c in "\"'`":
            end = _string_end(text, pos, limit)
            if end == -1:
                break
            if depth == 0:
                if literal is None and not other:
                    literal = (pos + 1, end)
                else:
                    other = other or literal is None
            pos = end + 1
            continue
        if c in "([{":
            depth += 1
            other = other or (depth == 1 and literal is None)
        elif c in ")]}":
            if depth == 0:
                if c == close:
                    args.append(literal if literal and not other else (-1, -1))
                break
            depth -= 1
        elif c == "," and depth == 0:
            args.append(literal if literal and not other else (-1, -1))
            literal, other = None, False
        elif depth == 0 and not c.isspace() and literal is None and c not in _STRING_PREFIXES:
            other = True
        pos += 1
    return [a for a in args]


def _string_end(text: str, quote_at: int, limit: int) -> int:
    quote = text[quote_at]
    pos = quote_at + 1
    while pos < limit:
        c = text[pos]
        if c == "\\":
            pos += 2
            continue
        if c == quote:
            return pos
        if c == "\n" and quote != "`":
            return -1
        pos += 1
    return -1
