"""Credentials written in comments and prose, where no assignment syntax frames them.

- A credential word, maybe ``is``/``was``/``:``, then a value: ``// the staging password is
  X``, ``# old password: X``, ``Guest wifi password: X``, ``password `X` ``, ``the API key is
  `X` ``, ``Credentials: admin:X``. A bare value must read as a password (a letter and a digit
  or symbol, not an expression); a quoted or back-quoted one may be a plain word.
- ``user / password`` in a comment or in prose: ``# admin / X``, ``-- login: sa / X``,
  ``Demo credentials: `demo` / `X` ``.
- A ``.netrc`` line anywhere (``RUN echo "machine h login u password X" > ~/.netrc``) and a
  ``.pgpass`` line written by ``echo``.
"""
from __future__ import annotations

import re

from aider_hooks.redact.common import SecretMatch, hits, is_reference, occurrences, password_like

_WORD = (r"(?:password|passwd|passphrase|pwd|pass|pw|token|secret|api[ _-]?key|access[ _-]?key"
         r"|secret[ _-]?key|private[ _-]?key|license[ _-]?key|credentials?|creds)")
_VALUE = r"""(?:"([^"\n]{1,128})"|'([^'\n]{1,128})'|`([^`\n]{1,128})`|([^\s"'`]{4,128}))"""
_WORD_LITERALS = ("pass", "pw", "token", "secret", "api", "access", "private", "license", "cred")
_CREDENTIAL_WORD_VALUE = re.compile(
    rf"{_WORD}(?:[ \t]+(?:is|was|for[ \t]+[\w@.-]{{1,40}}[ \t]+is)[ \t]*:?|[ \t]*:)?"
    rf"[ \t]+{_VALUE}")
_CODE_CONNECTORS = (" is", " was", ":")
# "user / password": the user just before " / " (searched back from it), the value after.
_PAIR_USER = re.compile(r"(?:[\w.@+-]{1,64}|`[^`\n]{1,64}`)[ \t]*$")
_PAIR_VALUE = re.compile(r"[ \t]*(?:`([^`\n]{1,128})`|([^\s`'\"]{4,128}))")
_COMMENT = re.compile(r"(?:^|[ \t])(?:#|//|--|<!--|/\*|\*|;|rem[ \t])", re.M)
_NETRC_LINE = re.compile(
    r"machine[ \t]+[^\s\"']+[ \t]+(?:login[ \t]+[^\s\"']+[ \t]+)?password[ \t]+([^\s\"']{1,512})")
_ECHO_PGPASS = re.compile(
    r"echo[ \t]+[\"']?(?:[^:\s\"']*:){4}([^\s\"']{1,512})[\"']?[ \t]*>{1,2}[ \t]*[^\s]*pgpass")
_PROSE_SUFFIXES = (".md", ".markdown", ".txt", ".rst", ".adoc", ".html", ".htm", ".org", ".wiki")
_TRAILING = ".,;:)!?"


def prose(text: str, lowered: str, path: str | None, mode: str) -> list[SecretMatch]:
    name = (path or "").rsplit("/", 1)[-1].lower()
    is_prose = name.endswith(_PROSE_SUFFIXES) or ("." not in name and mode == "unknown")
    found = []
    comments: list[int] = []
    for m in hits(lowered, _WORD_LITERALS, _CREDENTIAL_WORD_VALUE):
        if m.start() > 0 and (lowered[m.start() - 1].isalnum() or lowered[m.start() - 1] in "_-"):
            continue  # db_password, mypass: a name, not the word
        connector = lowered[m.start():m.start(next(g for g in (1, 2, 3, 4) if m.group(g) is not None))]
        if mode in ("code", "python") and not any(c in connector for c in _CODE_CONNECTORS) \
                and not _in_comment(lowered, m.start(), comments):
            if "=" in connector:
                continue
        group = next(g for g in (1, 2, 3, 4) if m.group(g) is not None)
        if connector.split(None, 1)[0] in ("pass", "pw") \
                and not any(c in connector for c in _CODE_CONNECTORS):
            continue  # "pass the flag", "pass --password": a verb
        start, end = m.start(group), m.end(group)
        value = text[start:end]
        if value.startswith("-"):
            continue  # a command-line flag
        if group == 4:
            stripped = value.rstrip(_TRAILING)
            if stripped != value and stripped[-1:].isalnum():
                value = stripped
                end = start + len(value)
            if not password_like(value):
                continue
        elif not _quoted_value_ok(value):
            continue
        found.append(SecretMatch("prose-credential", start, end))
    if " / " in text:
        found += _pairs(text, lowered, is_prose, comments)
    if "machine" in lowered:
        found += [SecretMatch("prose-credential", m.start(1), m.end(1))
                  for m in _NETRC_LINE.finditer(lowered) if not is_reference(m.group(1))]
    if "pgpass" in lowered:
        found += [SecretMatch("prose-credential", m.start(1), m.end(1))
                  for m in _ECHO_PGPASS.finditer(lowered) if not is_reference(m.group(1))]
    return found


def _quoted_value_ok(value: str) -> bool:
    if len(value) < 4 or is_reference(value) or any(c.isspace() for c in value):
        return False
    return password_like(value) or (value.isalpha() and len(value) >= 6)


def _in_comment(lowered: str, pos: int, cache: list[int]) -> bool:
    """Is ``pos`` after a comment marker on its line? ``cache`` holds the last line looked
    at (start, end, where its first comment marker is or -1), so that a long line is searched
    once for all the positions on it (they come in order)."""
    if not cache or not cache[0] <= pos <= cache[1]:
        line_start = lowered.rfind("\n", 0, pos) + 1
        line_end = lowered.find("\n", pos)
        line_end = len(lowered) if line_end == -1 else line_end
        marker = _COMMENT.search(lowered, line_start, line_end)
        cache[:] = [line_start, line_end, -1 if marker is None else marker.start()]
    return -1 < cache[2] < pos


def _pairs(text: str, lowered: str, is_prose: bool, comments: list[int]) -> list[SecretMatch]:
    found = []
    for at in occurrences(text, " / "):
        user = _PAIR_USER.search(text, max(0, at - 70), at)
        m = _PAIR_VALUE.match(text, at + 3)
        if user is None or m is None:
            continue
        if not is_prose and not _in_comment(lowered, user.start(), comments):
            continue
        if user.group().strip("` \t").replace(".", "").isdigit():
            continue  # 1 / 2
        group = 1 if m.group(1) is not None else 2
        value = m.group(group)
        if group == 2:
            stripped = value.rstrip(_TRAILING)
            value = stripped if stripped[-1:].isalnum() else value
        if password_like(value) or (group == 1 and _quoted_value_ok(value)):
            found.append(SecretMatch("prose-credential", m.start(group), m.start(group) + len(value)))
    return found
