"""Credentials given to commands: short flags and the other forms a command line takes.

- Short flags of the commands that take a password or token that way: ``mysql -pX``
  (attached only: ``-p X`` makes mysql prompt), ``sshpass -p X``, ``redis-cli -a X``,
  ``zip -P X``, ``7z -pX``, ``ldapsearch -w X``, ``sqlcmd -P X``, ``mongosh -p X``,
  ``az login -p X``, ``docker login -p X``, ``openssl ... pass:X`` / ``-k X``,
  ``htpasswd -b file user X``, ``smbclient -U user%X``, ``net use \\\\srv\\share X``;
  ``curl -u user:X`` (and ``-u X:`` where the token is the user name).
  The command's words may be quoted and separated by commas (``["sshpass", "-p", "X"]``,
  a compose ``healthcheck`` test).
- A long flag whose name names a secret, with its value as the next list item:
  ``["--db-password", "X"]`` is a positional name/value pair (``positional``); a YAML list
  ``- --secret-key`` then ``- X`` is here; PowerShell's ``-ApiKey X``.
- ``echo X | docker login --password-stdin``, ``vault login X``,
  ``npm config set //host/:_authToken X``, ``aws configure set aws_secret_access_key X``.
"""
from __future__ import annotations

import re

from aider_hooks.redact.common import SecretMatch, is_reference, mixed, occurrences
from aider_hooks.redact.names import secret_name_kind

# command -> {flag: "space" (value is the next word) | "attached" (-pVALUE) | "both"}
_COMMAND_FLAGS: dict[str, dict[str, str]] = {
    **{cmd: {"-p": "attached"} for cmd in ("mysql", "mysqldump", "mysqladmin", "mysqlimport",
                                           "mysqlcheck", "mariadb", "mariadb-dump", "mysqlsh")},
    "sshpass": {"-p": "both"},
    "redis-cli": {"-a": "both"},
    "zip": {"-P": "space"}, "unzip": {"-P": "space"},
    "7z": {"-p": "attached"}, "7za": {"-p": "attached"}, "7zz": {"-p": "attached"},
    **{cmd: {"-w": "space"} for cmd in ("ldapsearch", "ldapadd", "ldapmodify", "ldapdelete",
                                        "ldappasswd", "ldapwhoami")},
    **{cmd: {"-P": "space"} for cmd in ("sqlcmd", "bcp", "osql", "isql")},
    **{cmd: {"-p": "space"} for cmd in ("mongo", "mongosh", "mongodump", "mongorestore",
                                        "mongoexport", "mongoimport")},
    "az": {"-p": "space"}, "docker": {"-p": "space"}, "podman": {"-p": "space"},
    "buildah": {"-p": "space"}, "helm": {"-p": "space"}, "nerdctl": {"-p": "space"},
    "openssl": {"-k": "space"},
    "curl": {"-u": "both", "--user": "space", "--proxy-user": "space", "-U": "space"},
}
# For these, -p is a password only after "login" (docker run -p 8080:80 is a port).
_LOGIN_ONLY = frozenset(("az", "docker", "podman", "buildah", "helm", "nerdctl"))
_COMMAND_NAMES = (*_COMMAND_FLAGS, "htpasswd", "smbclient", "net")
# A command line holds one of these, or there is nothing to read (most texts).
_FLAG_GATES = tuple(f"{before}{flag}" for flag in ("-p", "-a", "-P", "-w", "-k", "-u", "-U", "-b")
                    for before in " \"'\t") + (" use ", "--user", "--proxy-user")
# One word of a command line: quoted, or up to a space, a quote, a comma or a bracket.
_WORD = re.compile(r"\"((?:\\.|[^\"\\\n]){0,1024}+)\"|'([^'\n]{0,1024})'"
                   r"|((?:[^\s,\[\]()\"';|&\\]|\\[^\n]){1,1024}+)|([;|&\n])|\\\n")
_OPENSSL_PASS = re.compile(r"(?<![\w-])pass:([^\s\"']{1,256})")
_YAML_FLAG_ITEM = re.compile(
    r"-[ \t]+[\"']?--?[\w-]{0,40}(?:password|passwd|secret|token|api-?key|secret-key|access-key"
    r"|credentials?)[\"']?[ \t]*\r?\n[ \t]*-[ \t]+[\"']?([^\s\"'#]{1,1024})")
_PS_PARAMETER = re.compile(
    r"-[a-z]{0,30}(?:password|passwd|secret|token|apikey|accesskey|credential)"
    r"[ \t]+(?:([\"'])((?:(?!\1)[^\n]){1,512})\1|([^\s\"'$(@-][^\s\"'`;|)]{0,511}))")
_PS_WORDS = ("password", "passwd", "secret", "token", "apikey", "accesskey", "credential")
_PASSWORD_STDIN = re.compile(
    r"echo[ \t]+(?:-n[ \t]+)?(?:([\"'])((?:(?!\1)[^\n]){1,512})\1|([^\s|\"'$]{1,512}))[ \t]*\|"
    r"[^\n|]{0,200}?--password-stdin")
_VAULT_LOGIN = re.compile(r"vault[ \t]+login[ \t]+(?:-[\w=-]+[ \t]+)*([^\s\"'$-][^\s\"']{7,511})")
_CONFIG_SET = re.compile(
    r"(?:config|configure)[ \t]+set[ \t]+(?:--[\w-]+[ \t]+)*([^\s=]{2,200})[ \t]+"
    r"(?:([\"'])((?:(?!\2)[^\n]){1,512})\2|([^\s\"'$][^\s\"']{0,511}))")


def flags(text: str, lowered: str) -> list[SecretMatch]:
    found: list[SecretMatch] = []
    done = 0
    for at, command in _commands(text) if any(flag in text for flag in _FLAG_GATES) else []:
        if at < done:
            continue  # a word of the command line already read
        secrets, done = _command_line(text, command, at + len(command))
        found += secrets
    if "pass:" in text:
        found += [_match(m, 1) for m in _OPENSSL_PASS.finditer(text) if not is_reference(m.group(1))]
    if "- -" in text or "- \"-" in text or "- '-" in text:
        found += [_match(m, 1) for m in _YAML_FLAG_ITEM.finditer(lowered)
                  if not is_reference(text[m.start(1):m.end(1)])]
    if " -" in text and any(word in lowered for word in _PS_WORDS):
        for m in _PS_PARAMETER.finditer(lowered):
            if m.start() == 0 or lowered[m.start() - 1] not in " \t":
                continue
            group = 2 if m.group(2) is not None else 3
            value = text[m.start(group):m.end(group)]
            if not is_reference(value) and (group == 2 or mixed(value) or len(value) >= 12):
                found.append(_match(m, group))
    if "--password-stdin" in lowered:
        for m in _PASSWORD_STDIN.finditer(lowered):
            group = 2 if m.group(2) is not None else 3
            if not is_reference(text[m.start(group):m.end(group)]):
                found.append(_match(m, group))
    if "vault" in lowered:
        found += [_match(m, 1) for m in _VAULT_LOGIN.finditer(lowered)
                  if not is_reference(text[m.start(1):m.end(1)])]
    if " set " in lowered:
        for m in _CONFIG_SET.finditer(lowered):
            group = 3 if m.group(3) is not None else 4
            name = m.group(1).rstrip(":=")
            if secret_name_kind(name.rsplit(":", 1)[-1].rsplit("/", 1)[-1]) == "strong" and \
                    not is_reference(text[m.start(group):m.end(group)]):
                found.append(_match(m, group))
    return found


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-")


def _commands(text: str) -> list[tuple[int, str]]:
    """(position, name) of each command name that stands as a word (str.find, C speed)."""
    found = []
    for command in _COMMAND_NAMES:
        for at in occurrences(text, command):
            end = at + len(command)
            if (at == 0 or text[at - 1] not in _NAME_CHARS) and \
                    (end == len(text) or (text[end] not in _NAME_CHARS or text[end] in "/")):
                found.append((at, command))
    return sorted(found)


def _match(m: re.Match[str], group: int) -> SecretMatch:
    return SecretMatch("flag-credential", m.start(group), m.end(group))


def _command_line(text: str, command: str, pos: int) -> tuple[list[SecretMatch], int]:
    """The secrets among the words after ``command`` up to the end of its command line, and
    where reading stopped."""
    if pos < len(text) and text[pos] in "\"'" and text[pos - len(command) - 1] == text[pos]:
        pos += 1  # the quote that closes "sshpass" in ["sshpass", "-p", "x"]
    stop = min(len(text), pos + 2000)
    words: list[tuple[str, int, int]] = []  # (word, start of its value, end)
    for m in _WORD.finditer(text, pos, stop):
        if m.group(4) is not None:  # ";", "|", "&" or an unescaped line end
            stop = m.start()
            break
        group = 1 if m.group(1) is not None else 2 if m.group(2) is not None else 3
        if m.group(group) is None:
            continue  # an escaped line end
        words.append((m.group(group), m.start(group), m.end(group)))
        if len(words) >= 40:
            stop = m.end()
            break
    return _secrets_in(text, command, words), stop


def _secrets_in(text: str, command: str, words: list[tuple[str, int, int]]) -> list[SecretMatch]:
    found = []
    if command == "htpasswd":
        if any(w == "-b" or (w.startswith("-") and "b" in w[1:] and len(w) <= 4) for w, _, _ in words):
            plain = [w for w in words if not w[0].startswith("-")]
            if len(plain) >= 3:
                found.append(SecretMatch("flag-credential", plain[-1][1], plain[-1][2]))
        return [m for m in found if not is_reference(text[m.start:m.end])]
    if command == "smbclient":
        for index, (word, start, end) in enumerate(words[:-1]):
            if word in ("-U", "--user") and "%" in words[index + 1][0]:
                value_start = words[index + 1][1] + words[index + 1][0].index("%") + 1
                found.append(SecretMatch("flag-credential", value_start, words[index + 1][2]))
        return [m for m in found if not is_reference(text[m.start:m.end])]
    if command == "net":
        if len(words) >= 3 and words[0][0].lower() == "use":
            for word, start, end in words[1:]:
                if word.startswith("\\\\"):
                    continue
                if word.startswith("/") or word.endswith(":"):
                    continue
                found.append(SecretMatch("flag-credential", start, end))
                break
        return [m for m in found if not is_reference(text[m.start:m.end])]
    table = _COMMAND_FLAGS[command]
    if command in _LOGIN_ONLY and not any(w == "login" for w, _, _ in words[:4]):
        return []  # docker run -p 8080:80 publishes a port
    for index, (word, start, end) in enumerate(words):
        for flag, style in table.items():
            if (word == flag and style == "attached" and index + 1 < len(words)
                    and words[index + 1][1] == end + 1 and text[end] in "'\""):
                found += _flag_value(command, *words[index + 1])  # -p'x'
            elif word == flag and style in ("space", "both") and index + 1 < len(words):
                value, value_start, value_end = words[index + 1]
                if value.startswith("-") and command != "curl":
                    continue
                found += _flag_value(command, value, value_start, value_end)
            elif (word.startswith(flag) and len(word) > len(flag) and style in ("attached", "both")
                  and not flag.startswith("--")):
                found += _flag_value(command, word[len(flag):].strip("'\""),
                                     start + len(flag) + (1 if word[len(flag)] in "'\"" else 0), end
                                     - (1 if word[-1] in "'\"" and word[len(flag)] in "'\"" else 0))
    return [m for m in found if m.end > m.start and not is_reference(text[m.start:m.end])]


def _flag_value(command: str, value: str, start: int, end: int) -> list[SecretMatch]:
    if command == "curl":
        if ":" not in value:
            return []
        user, _, password = value.partition(":")
        if password:
            return [SecretMatch("flag-credential", start + len(user) + 1, end)]
        return [SecretMatch("flag-credential", start, start + len(user))] if user else []
    return [SecretMatch("flag-credential", start, end)]
