"""Passwords after a keyword and a space, where no ``=`` or ``:`` separates name and value:
SQL clauses, command-line flags (``--password x``), ``.netrc`` and ``.pgpass``."""
from __future__ import annotations

import re

from aider_hooks.redact.common import SecretMatch, is_reference, mixed


# No "=" or ":" between name and value, so the assignment rule does not see these: SQL
# (``CREATE USER app WITH PASSWORD 'x'``, ``ALTER USER app IDENTIFIED BY 'x'``, Oracle's
# unquoted ``IDENTIFIED BY tiger``) in any file, and the two password files of Unix tools:
# ``.netrc`` (``machine host login me password x``) and ``.pgpass`` (``host:port:db:user:x``).

# A quoted value that does not start with a space: ``"Enter password " PW`` quotes prose.
_QUOTED = r"""(?P<quote>['"])(?P<quoted>(?![ \t])(?:\\.|(?!(?P=quote))[^\\\n]){1,1024})(?P=quote)"""
_SQL_PASSWORD = re.compile(rf"password[ \t]+{_QUOTED}")
_IDENTIFIED_BY = rf"identified(?:[ \t]+with[ \t]+['\"\w]{{1,40}})?[ \t]+by[ \t]+(?:password[ \t]+)?"
_SQL_IDENTIFIED_BY = re.compile(rf"{_IDENTIFIED_BY}{_QUOTED}")
# Unquoted (Oracle's ``IDENTIFIED BY tiger``) only in SQL files: in prose "identified by" is
# followed by ordinary words.
_SQL_IDENTIFIED_BY_BARE = re.compile(rf"{_IDENTIFIED_BY}(?P<bare>[^\s;'\"]{{1,256}})")
_SQL_SUFFIXES = (".sql", ".pls", ".pks", ".pkb", ".ddl")
# Command-line flags with the value after a space, in shell scripts, Dockerfiles, compose
# files and docs: ``mysql --password hunter2``, ``redis-server --requirepass x``,
# ``--api-key abc``. Not ``--no-password db`` (no value) nor ``--password-stdin``.
_FLAG_VALUE = re.compile(
    r"--(?!no-)(?:[a-z0-9]+-){0,4}(?:password|passwd|pass|pwd|requirepass|masterauth|token"
    rf"|secret|api-?key|access-key|secret-key)[ \t]+(?:{_QUOTED}|(?P<bare>[^\s;|&'\"\\$-][^\s;|&'\"\\]{{0,1023}}))")
_FLAG_MODES = ("config", "unknown")
_NETRC_PASSWORD = re.compile(r'password[ \t]+(?:"(?P<quoted>[^"\n]{1,1024})"|(?P<bare>[^\s"]{1,1024}))')
_NETRC_NAMES = (".netrc", "_netrc", "netrc")
PGPASS_NAMES = (".pgpass", "pgpass.conf")
_PGPASS_FIELD = re.compile(r"(?:\\.|[^:\\\n])*")  # one field; "\:" is an escaped colon


def spaced_passwords(text: str, lowered: str, name: str, mode: str) -> list[SecretMatch]:
    """``lowered``: ``common.lower_same_length(text)``; ``name``: the file's name, lower-cased;
    ``mode``: how the file reads unquoted values (``redact.file_mode``). Flag values are
    looked for where commands are written (config files, shell, docs), not in code."""
    if name.endswith(_NETRC_NAMES):
        patterns = [_NETRC_PASSWORD]
    else:
        patterns = [_SQL_PASSWORD, _SQL_IDENTIFIED_BY]
        if name.endswith(_SQL_SUFFIXES):
            patterns.append(_SQL_IDENTIFIED_BY_BARE)
        if mode in _FLAG_MODES:
            patterns.append(_FLAG_VALUE)
    found = []
    for pattern in patterns:
        for hit in pattern.finditer(lowered):
            group = "quoted" if "quoted" in hit.re.groupindex and hit.group("quoted") else "bare"
            value = text[hit.start(group):hit.end(group)]
            if pattern is _FLAG_VALUE and group == "bare" and mode != "config" and not mixed(value):
                continue  # in prose "--password to be prompted" is followed by a word
            if not is_reference(value):
                found.append(SecretMatch("secret-assignment", hit.start(group), hit.end(group)))
    if name in PGPASS_NAMES:
        found.extend(_pgpass_passwords(text))
    return found


def _pgpass_passwords(text: str) -> list[SecretMatch]:
    """The fifth field of each ``hostname:port:database:username:password`` line."""
    found = []
    pos = 0
    while pos <= len(text):
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        if not text[pos:end].lstrip().startswith("#"):
            field_start = pos
            for _ in range(4):
                field = _PGPASS_FIELD.match(text, field_start, end)
                if field is None or field.end() >= end or text[field.end()] != ":":
                    break
                field_start = field.end() + 1
            else:
                if text[field_start:end].strip() not in ("", "*"):
                    found.append(SecretMatch("secret-assignment", field_start, end))
        pos = end + 1
    return found
