"""Secrets known by where they are: whole files that are secrets by their path, and the
columns of tables whose header names a credential.

Whole files: Rails ``config/master.key`` and ``config/credentials/*.key``, Ansible vault
password files (``.vault_pass``, ``.vault_password``, ``vault_pass.txt``), key files
(``*.key``, ``*.pem``, ``*.p8``, ``*.ppk``, ``id_rsa``-like names but not ``.pub``),
``.htpasswd`` (the hash after the user), ``.git-credentials``, and files whose name says they
hold one secret (``secrets/db_password.txt``, ``api_token.txt``, ``*.password``). Every
non-blank line is replaced, except PEM markers, the bodies of certificates and public keys,
and PuTTY's header lines.

Tables: in a CSV or TSV file, the cells of every column whose header names a credential
(``Password``, ``Secret access key``, ``api token``, ``client_secret``); in any text, the
cells of a Markdown table column whose header does.
"""
from __future__ import annotations

import re
from bisect import bisect_right

from aider_hooks.redact.common import SecretMatch, is_reference

_WHOLE_FILE = re.compile(
    r"(?:^|/)(?:master\.key|credentials/[\w.-]+\.key|\.?vault[_-]?pass(?:word)?(?:\.txt)?"
    r"|[^/]+\.(?:key|pem|p8|ppk|keystore-password|password|passwd|secret)"
    r"|id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?(?:[._-][\w-]+)?|\.htpasswd|htpasswd|\.git-credentials"
    r"|[\w.-]*(?:password|passwd|secret|token|api[_-]?key)(?:\.txt)?)$")
_NOT_WHOLE_FILE = (".pub", ".py", ".js", ".ts", ".rb", ".go", ".java", ".md", ".json", ".yaml",
                   ".yml", ".toml", ".html", ".css", ".sh", ".cfg", ".ini", ".xml", ".cs",
                   ".php", ".tsx", ".jsx", ".rs", ".c", ".h", ".sql", ".lock", ".csv")
_PEM_MARKER = re.compile(r"[ \t]*-----(?:BEGIN|END) [^\n]{1,60}-----[ \t]*$")
_PPK_HEADER = re.compile(r"(?:Encryption|Comment|Public-Lines|Private-Lines"
                         r"|Private-MAC|Key-Derivation|Argon2-[\w-]+):")
_CREDENTIAL_COLUMN = re.compile(
    r"pass(?:word|wd|phrase)?|pwd|secret|token|api[ _-]?key|private[ _-]?key|access[ _-]?key"
    r"|secret[ _-]?key|credential|auth[ _-]?key|^key$")
_MAX_COLUMNS = 200


def secret_file(text: str, path: str | None, exempt: list[tuple[int, int]]) -> list[SecretMatch]:
    """Every line of a file that is a secret by its path (``text`` is the file or a part)."""
    if not path or text == path:
        return []  # the file's name alone is not its content
    lowered_path = path.lower()
    if not _WHOLE_FILE.search(lowered_path) or lowered_path.endswith(_NOT_WHOLE_FILE):
        return []
    htpasswd = lowered_path.endswith("htpasswd")
    exempt_starts = [a for a, _ in exempt]
    found = []
    pos = 0
    while pos <= len(text):
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        line = text[pos:end]
        body = line.strip()
        at = bisect_right(exempt_starts, pos) - 1
        inside_public = at >= 0 and pos < exempt[at][1]
        if body and not inside_public and not _PEM_MARKER.fullmatch(line) \
                and not _PPK_HEADER.match(body) and not body.startswith("#"):
            start = pos + (len(line) - len(line.lstrip()))
            if htpasswd and ":" in line:
                start = pos + line.index(":") + 1
            found.append(SecretMatch("secret-file", start, pos + len(line.rstrip())))
        pos = end + 1
    return found


def table_columns(text: str, path: str | None) -> list[SecretMatch]:
    found: list[SecretMatch] = []
    name = (path or "").lower()
    if name.endswith((".csv", ".tsv", ".psv")):
        found += _csv(text, "\t" if name.endswith(".tsv") else "|" if name.endswith(".psv") else ",")
    if "|" in text and "\n" in text:
        found += _markdown_tables(text)
    return found


def _lines(text: str) -> list[tuple[int, int]]:
    spans = []
    pos = 0
    while pos <= len(text):
        end = text.find("\n", pos)
        end = len(text) if end == -1 else end
        spans.append((pos, end))
        pos = end + 1
    return spans


def _fields(text: str, start: int, end: int, delimiter: str) -> list[tuple[int, int]]:
    """(start, end) of each field's content in one CSV line; quotes are left outside."""
    fields: list[tuple[int, int]] = []
    pos = start
    while pos <= end and len(fields) < _MAX_COLUMNS:
        if pos < end and text[pos] == '"':
            close = pos + 1
            while close < end:
                if text[close] == '"':
                    if close + 1 < end and text[close + 1] == '"':
                        close += 2
                        continue
                    break
                close += 1
            fields.append((pos + 1, close))
            next_delimiter = text.find(delimiter, close, end)
            pos = (next_delimiter if next_delimiter != -1 else end) + 1
        else:
            next_delimiter = text.find(delimiter, pos, end)
            stop = next_delimiter if next_delimiter != -1 else end
            fields.append((pos, stop))
            pos = stop + 1
        if next_delimiter == -1:
            break
    return fields


def _credential_columns(headers: list[str]) -> set[int]:
    columns = set()
    for index, header in enumerate(headers):
        lowered = header.strip().strip('"').lower()
        if _CREDENTIAL_COLUMN.search(lowered) and not lowered.endswith((" id", "_id", "-id", "id")):
            columns.add(index)
    return columns


def _csv(text: str, delimiter: str) -> list[SecretMatch]:
    lines = _lines(text)
    if not lines:
        return []
    header_start, header_end = lines[0]
    headers = [text[a:b] for a, b in _fields(text, header_start, header_end, delimiter)]
    columns = _credential_columns(headers)
    found = []
    for start, end in lines[1:] if columns else []:
        if text[start:end].rstrip("\r").strip():
            for index, (a, b) in enumerate(_fields(text, start, end, delimiter)):
                b = a + len(text[a:b].rstrip("\r"))
                if index in columns and text[a:b].strip() and not is_reference(text[a:b]):
                    found.append(SecretMatch("csv-credential", a, b))
    return found


def _markdown_tables(text: str) -> list[SecretMatch]:
    found = []
    columns: set[int] = set()
    previous_was_table = False
    for start, end in _lines(text):
        line = text[start:end].strip()
        if not (line.startswith("|") and line.count("|") >= 2):
            previous_was_table, columns = False, set()
            continue
        cells = _table_cells(text, start, end)
        if not previous_was_table:
            columns = _credential_columns([text[a:b] for a, b in cells])
        elif set(text[start:end].strip()) <= set("|-: \t"):
            pass  # the separator row
        else:
            for index, (a, b) in enumerate(cells):
                value = text[a:b].strip().strip("`")
                if index in columns and value and not is_reference(value):
                    inner = text.find(value, a, b)
                    found.append(SecretMatch("csv-credential", inner, inner + len(value)))
        previous_was_table = True
    return found


def _table_cells(text: str, start: int, end: int) -> list[tuple[int, int]]:
    first = text.find("|", start, end)
    cells = []
    pos = first + 1
    while pos < end:
        bar = text.find("|", pos, end)
        if bar == -1:
            break
        cells.append((pos, bar))
        pos = bar + 1
    return cells
