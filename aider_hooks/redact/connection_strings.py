"""Passwords in connection strings of the dialects that are not URLs (those are in
``shapes.url_passwords``) nor ``;``-separated (those are in ``assignments``):

- libpq key=value DSNs: ``"host=db user=app password=x sslmode=require"``, also with a
  quoted ``password='x y'``;
- Oracle's ``user/password@`` in JDBC thin URLs (``jdbc:oracle:thin:scott/x@//host:1521/svc``)
  and on the command lines of its tools (``sqlplus system/x@db``, ``expdp userid=app/x@db``);
- Go's MySQL DSN ``user:password@tcp(host:3306)/db``.
"""
from __future__ import annotations

import re

from aider_hooks.redact.common import SecretMatch, hits, is_reference

# Run on the lower-cased text.
_LIBPQ_PASSWORD = re.compile(r"password[ \t]*=[ \t]*(?:'((?:\\.|[^'\\\n]){1,512})'|([^\s'\"`;]{1,512}))")
_LIBPQ_KEYS = re.compile(r"(?:^|[\s\"'`])(?:host|hostaddr|port|dbname|user|sslmode|connect_timeout)[ \t]*=")
_ORACLE = re.compile(
    r"(?:thin:|userid=|sqlplus(?:[ \t]+-[a-z]+)*[ \t]+|(?:expdp|impdp|exp|imp|sqlldr|dgmgrl)[ \t]+"
    r"|rman[ \t]+target[ \t]+)[\"']?[\w$#]{1,64}/([^\s@/\"']{1,256})@")
_ORACLE_LITERALS = ("thin:", "userid=", "sqlplus", "expdp", "impdp", "exp", "imp", "sqlldr",
                    "dgmgrl", "rman")
_GO_MYSQL = re.compile(r":([^\s@/:\"'`]{1,256})@(?:tcp|unix|udp)\(")


def connection_strings(text: str, lowered: str) -> list[SecretMatch]:
    found = []
    if "password" in lowered and "=" in text:
        for m in _LIBPQ_PASSWORD.finditer(lowered):
            before = lowered[m.start() - 1] if m.start() else " "
            if before not in " \t\"'`":
                continue
            line_start = lowered.rfind("\n", 0, m.start()) + 1
            line_end = lowered.find("\n", m.end())
            line_end = len(lowered) if line_end == -1 else line_end
            if _LIBPQ_KEYS.search(lowered, line_start, line_end) is None:
                continue
            group = 1 if m.group(1) is not None else 2
            if not is_reference(text[m.start(group):m.end(group)]):
                found.append(SecretMatch("connection-string-password", m.start(group), m.end(group)))
    if "/" in text and "@" in text:
        found += [SecretMatch("connection-string-password", m.start(1), m.end(1))
                  for m in hits(lowered, _ORACLE_LITERALS, _ORACLE) if not is_reference(m.group(1))]
    if "@tcp(" in lowered or "@unix(" in lowered or "@udp(" in lowered:
        found += [SecretMatch("connection-string-password", m.start(1), m.end(1))
                  for m in _GO_MYSQL.finditer(lowered) if not is_reference(m.group(1))]
    return found
