"""HTTP headers that carry credentials, other than ``Authorization: Bearer/Basic`` (a known
shape): ``PRIVATE-TOKEN:``, ``Circle-Token:``, ``X-Api-Key:``, ``X-Vault-Token:``,
``DD-API-KEY:``, ``Ocp-Apim-Subscription-Key:``, a raw ``Authorization:`` value; written
inside a string (``curl -H "X-Api-Key: x"``), at the start of a line (``.http`` files, raw
requests) or as httpie's ``X-Api-Token:x``; and in server configs:
``proxy_set_header X-Api-Key "x";``, ``RequestHeader set X-Token "x"``.

A header name counts when it ends in token, key, secret, password, auth, signature or
credential(s) (``X-Auth-Token``, ``Api-Key``) or is ``Authorization``."""
from __future__ import annotations

import re

from aider_hooks.redact.common import SecretMatch, hits, is_reference

# Run on the lower-cased text. The header name's last word, then ":" and the value up to a
# quote or the end of the line.
_HEADER = re.compile(
    r"(?:token|key|secret|password|auth|signature|credentials?|authorization)[ \t]*:[ \t]*"
    r"([^\s\"'`\\][^\"'`\n\r\\]{0,2047})")
_HEADER_LITERALS = ("token", "key", "secret", "password", "auth", "signature", "credential")
_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789-_")
# What may stand just before a header name: a quote, the start of a line, a "{", or the
# "=" of --header=.
_OPENERS = ("\"", "'", "`", "", "=", "{", ",", " ")
_SERVER_HEADER = re.compile(
    r"(?:proxy_set_header|add_header|more_set_headers|requestheader[ \t]+(?:set|add|append)"
    r"|header[ \t]+(?:set|add|append))[ \t]+[\"']?([\w-]{2,80})[\"']?[ \t]+"
    r"(?:([\"'])((?:(?!\2)[^\n]){1,2048})\2|([^\s;\"']{1,2048}))")
_SECRET_HEADER = re.compile(
    r"(?:token|key|secret|password|auth|signature|credentials?|authorization|apikey)$")


def headers(text: str, lowered: str) -> list[SecretMatch]:
    found = []
    for m in hits(lowered, _HEADER_LITERALS, _HEADER):
        name_start = m.start()
        while name_start > 0 and lowered[name_start - 1] in _NAME_CHARS:
            name_start -= 1
        name = lowered[name_start:m.start()] + lowered[m.start():m.end()].split(":", 1)[0].strip()
        if not _header_name(name):
            continue
        before = text[name_start - 1] if name_start > 0 else ""
        if before == "\n":
            before = ""
        if before not in _OPENERS:
            continue
        if before == " " and not _after_flag_or_line_start(text, name_start):
            continue
        value = text[m.start(1):m.end(1)].rstrip(" \t;,")
        if _keep(value, name):
            continue
        found.append(SecretMatch("header-credential", m.start(1), m.start(1) + len(value)))
    if "header" in lowered:
        for m in _SERVER_HEADER.finditer(lowered):
            group = 3 if m.group(3) is not None else 4
            value = text[m.start(group):m.end(group)]
            if _header_name(m.group(1)) and not _keep(value, m.group(1)):
                found.append(SecretMatch("header-credential", m.start(group), m.end(group)))
    return found


def _header_name(name: str) -> bool:
    """``x-api-key``, ``private-token``, ``circle-token``, ``authorization``: a hyphenated
    name (or one of a few single words) ending in a credential word."""
    if not _SECRET_HEADER.search(name):
        return False
    return "-" in name or name in ("authorization", "apikey", "token", "auth")


def _after_flag_or_line_start(text: str, pos: int) -> bool:
    """httpie's ``http GET url X-API-Token:x``: a header after a space on a command line."""
    line_start = text.rfind("\n", 0, pos) + 1
    line = text[line_start:pos].lstrip()
    return line.startswith(("http ", "https ", "xh ", "curlie "))


def _keep(value: str, name: str) -> bool:
    if not value or is_reference(value) or value.startswith(("$", "%", "{", "<", "(")):
        return True
    first = value.split(None, 1)[0].lower()
    if name == "authorization" and first in ("bearer", "basic", "token", "digest", "apikey"):
        rest = value.split(None, 1)[1] if " " in value else ""
        return not rest or is_reference(rest) or rest.startswith(("$", "{", "<", "%"))
    return len(value) < 6
